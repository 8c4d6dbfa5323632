import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePhantom } from '../../../gateway/src/core/phantoms.ts';
import { postprocessLowRes, postprocessToMask } from '../../../gateway/src/core/sam-postprocess.ts';
import { stabilityScore } from '../../../gateway/src/core/everything.ts';
import { createRng } from '../../../gateway/src/core/random.ts';
import { longestSideSize } from '../../../gateway/src/core/sam-transform.ts';
import { ReferenceRunner } from '../models/reference-runner.ts';

/** A direct 2-D align_corners=False bilinear resize, written independently as the oracle. */
function bilinear2d(src: Float32Array, h: number, w: number, oh: number, ow: number): Float32Array {
  const out = new Float32Array(oh * ow);
  const at = (o: number, n: number, on: number): [number, number, number] => {
    const s = Math.max(((o + 0.5) * n) / on - 0.5, 0);
    const a = Math.min(Math.floor(s), n - 1);
    return [a, Math.min(a + 1, n - 1), s - a];
  };
  for (let y = 0; y < oh; y++) {
    const [y0, y1, fy] = at(y, h, oh);
    for (let x = 0; x < ow; x++) {
      const [x0, x1, fx] = at(x, w, ow);
      const top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx;
      const bottom = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx;
      out[y * ow + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

test('a constant plane stays constant; a 2x2 step upscales as torch bilinear does', () => {
  const flat = postprocessLowRes(new Float32Array(16).fill(3.5), 4, 7, 5, 8);
  assert.ok(flat.every((v) => v === 3.5));
  // [[0, 4], [0, 4]] to a 4-wide frame: columns at s = -0.25 (clamped 0), 0.25, 0.75, 1.25 -> 0, 1, 3, 4.
  const step = postprocessLowRes(Float32Array.from([0, 4, 0, 4]), 2, 4, 4, 4);
  assert.deepEqual(Array.from(step.subarray(0, 4)), [0, 1, 3, 4]);
});

test('equals upscale, crop and resize done in full 2-D on random logits of odd sizes', () => {
  const rng = createRng(3);
  for (const [h, w] of [
    [37, 61],
    [61, 37],
    [100, 100],
    [5, 203],
  ] as const) {
    const low = Float32Array.from({ length: 64 * 64 }, () => rng.uniform(-10, 10));
    const [nh, nw] = longestSideSize(h, w, 256);
    const up = bilinear2d(low, 64, 64, 256, 256);
    const crop = new Float32Array(nh * nw);
    for (let y = 0; y < nh; y++) crop.set(up.subarray(y * 256, y * 256 + nw), y * nw);
    const expected = bilinear2d(crop, nh, nw, h, w);
    const got = postprocessLowRes(low, 64, h, w, 256);
    let max = 0;
    for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(expected[i] - got[i]));
    assert.ok(max < 1e-4, `${h}x${w}: max difference ${max}`);
  }
});

test("matches the reference decoder's own masks output", async () => {
  const runner = await ReferenceRunner.create();
  const phantom = generatePhantom({ seed: 9, width: 150, height: 97, shapes: ['disc', 'ring'] });
  const emb = await runner.embed(phantom.image);
  const [r] = await runner.decode(emb, [{ box: [20, 10, 90, 80] }], 97, 150);
  for (let c = 0; c < 4; c++) {
    const got = postprocessLowRes(r.lowRes.subarray(c * 65536, (c + 1) * 65536), 256, 97, 150);
    let max = 0;
    for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i] - r.logits[c * 97 * 150 + i]));
    assert.ok(max < 1e-3, `candidate ${c}: max difference ${max}`);
  }
  assert.throws(() => postprocessLowRes(new Float32Array(10), 256, 10, 10), /expected 256x256/);
});

test('postprocessToMask thresholds and scores exactly what postprocessLowRes computes', () => {
  const rng = createRng(8);
  for (const [h, w, resize] of [
    [37, 61, 'longest_side'],
    [256, 256, 'longest_side'],
    [40, 90, 'stretch'],
  ] as const) {
    const low = Float32Array.from({ length: 64 * 64 }, () => rng.uniform(-3, 3));
    const logits = postprocessLowRes(low, 64, h, w, 256, resize);
    const { mask, stabilityScore: s } = postprocessToMask(low, 64, h, w, {
      inputSize: 256,
      resize,
      threshold: 0.5,
    });
    assert.deepEqual(
      Array.from(mask),
      Array.from(logits, (v) => (v > 0.5 ? 1 : 0)),
    );
    assert.equal(s, stabilityScore(logits, 0.5, 1));
  }
});
