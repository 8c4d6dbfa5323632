/** Seeded fuzzing of the COCO RLE parser (core/rle.ts): random and mutated strings end in a mask or an RleError. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../../gateway/src/core/random.ts';
import {
  countsToString,
  decodeRle,
  encodeRle,
  RleError,
  stringToCounts,
} from '../../gateway/src/core/rle.ts';

function randomMask(rng: ReturnType<typeof createRng>, width: number, height: number) {
  const data = new Uint8Array(width * height);
  // Runs rather than noise, so the strings look like real masks before they are mutated.
  let v = rng.int(2);
  for (let i = 0; i < data.length;) {
    const run = 1 + rng.int(Math.max(1, Math.floor(data.length / 6)));
    data.fill(v, i, Math.min(data.length, i + run));
    i += run;
    v ^= 1;
  }
  return { width, height, data };
}

test('2000 seeded mutations of real RLE strings: a mask of the stated size or an RleError, none hangs', () => {
  const rng = createRng(2024);
  let decoded = 0;
  let refused = 0;
  let slowest = 0;
  for (let k = 0; k < 2000; k++) {
    const w = 1 + rng.int(40);
    const h = 1 + rng.int(40);
    const mask = randomMask(rng, w, h);
    const rle = encodeRle(mask);
    if (k < 50) assert.deepEqual(decodeRle(rle).data, mask.data, 'round trip before mutation');
    const chars = [...rle.counts];
    for (let j = 0; j < 1 + rng.int(3); j++) {
      const at = rng.int(chars.length + 1);
      const c = String.fromCharCode(rng.int(4) === 0 ? rng.int(256) : 48 + rng.int(64));
      switch (rng.int(3)) {
        case 0:
          chars.splice(at, 1);
          break;
        case 1:
          chars.splice(at, 0, c);
          break;
        default:
          chars[Math.min(at, chars.length - 1)] = c;
      }
    }
    const size: [number, number] = rng.int(10) === 0 ? [h + rng.int(3) - 1, w] : [h, w];
    const started = performance.now();
    try {
      const out = decodeRle({ size, counts: chars.join('') });
      assert.equal(out.data.length, size[0] * size[1]);
      assert.ok(out.data.every((v) => v === 0 || v === 1));
      decoded++;
    } catch (err: unknown) {
      assert.ok(err instanceof RleError, `variant ${k}: ${(err as Error).name}: ${(err as Error).message}`);
      refused++;
    }
    slowest = Math.max(slowest, performance.now() - started);
  }
  assert.ok(decoded > 0 && refused > 0, `${decoded} decoded, ${refused} refused`);
  // A hang guard, not a speed figure: every output is bounded by `size`, so only a looping parser exceeds it.
  assert.ok(slowest < 60_000, `slowest parse took ${slowest.toFixed(1)} ms`);
});

test('hostile counts: random bytes, overlong counts and bad arrays are RleErrors; counts never go negative', () => {
  const rng = createRng(7);
  for (let k = 0; k < 500; k++) {
    const s = String.fromCharCode(...Array.from({ length: rng.int(64) }, () => rng.int(0x110)));
    try {
      const counts = stringToCounts(s);
      assert.ok(counts.every((c) => c >= 0));
    } catch (err: unknown) {
      assert.ok(err instanceof RleError, `string ${k}: ${(err as Error).message}`);
    }
  }
  assert.throws(() => stringToCounts('~~~~~~~~~~'), RleError);
  assert.throws(() => decodeRle({ size: [2, 2], counts: [1, -1, 4] }), RleError);
  assert.throws(() => decodeRle({ size: [2, 2], counts: [1.5, 2.5] }), RleError);
  assert.throws(() => decodeRle({ size: [2, 2], counts: countsToString([5]) }), RleError);
  assert.throws(() => decodeRle({ size: [2, 2], counts: 42 as unknown as string }), RleError);
});
