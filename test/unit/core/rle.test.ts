import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RleError,
  compressRle,
  countsToString,
  decodeRle,
  encodeRle,
  encodeRleUncompressed,
  maskToCounts,
  rleArea,
  rleIou,
  rleMerge,
  rleToBbox,
  stringToCounts,
  uncompressRle,
} from '../../../gateway/src/core/rle.ts';
import { ascii, randomMask } from './ascii-mask.ts';

test('2x2 mask: column-major runs start with background, string "13"', () => {
  // Column-major order reads (0,0)=0, (1,0)=1, (0,1)=1, (1,1)=1 -> runs [1 background, 3 foreground].
  // Each count is below 16 and fits one 5-bit group with no continuation: chr(48 + 1) chr(48 + 3).
  const m = ascii(`
    .#
    ##`);
  assert.deepEqual(Array.from(maskToCounts(m)), [1, 3]);
  assert.deepEqual(encodeRle(m), { size: [2, 2], counts: '13' });
});

test('first pixel inside gives a leading zero-length background run', () => {
  // Rows: y0 "##", y1 "#.", y2 "##", y3 "##" (h=4, w=2). Column 0 is 1,1,1,1 and column 1 is 1,0,1,1,
  // so runs are [0, 5, 1, 2]. Index 3 is delta-coded: 2 - counts[1] = 2 - 5 = -3. -3 & 31 = 29 (0b11101),
  // -3 >> 5 = -1; bit 4 of 29 is set and the rest is -1, so no continuation: chr(48 + 29) = 'M'.
  const m = ascii(`
    ##
    #.
    ##
    ##`);
  assert.deepEqual(Array.from(maskToCounts(m)), [0, 5, 1, 2]);
  assert.equal(encodeRle(m).counts, '051M');
  assert.deepEqual(Array.from(stringToCounts('051M')), [0, 5, 1, 2]);
});

test('counts of 16 or more use continuation characters', () => {
  // 100 = 0b11_00100: low group 4, more bits left (3), so 4 | 0x20 = 36 -> chr(84) 'T'; then 3 -> '3'.
  // 20 = 0b10100: the group alone has bit 4 set, which would read as negative, so a continuation is needed:
  // 20 | 0x20 = 52 -> chr(100) 'd', then a 0 group -> '0'.
  assert.equal(countsToString([100]), 'T3');
  assert.equal(countsToString([20]), 'd0');
  assert.equal(countsToString([0, 100]), '0T3');
  const empty = { width: 10, height: 10, data: new Uint8Array(100) };
  assert.deepEqual(encodeRle(empty), { size: [10, 10], counts: 'T3' });
  const full = { width: 10, height: 10, data: new Uint8Array(100).fill(1) };
  assert.deepEqual(encodeRle(full), { size: [10, 10], counts: '0T3' });
  assert.deepEqual(Array.from(stringToCounts('d0')), [20]);
});

test('size is [height, width]; non-square masks decode to the same pixels', () => {
  const m = ascii(`
    ..#.
    .##.
    ....`);
  const rle = encodeRle(m);
  assert.deepEqual(rle.size, [3, 4]);
  // Column-major: col0 0,0,0 col1 0,1,0 col2 1,1,0 col3 0,0,0 -> [4,1,1,2,4].
  assert.deepEqual(encodeRleUncompressed(m).counts, [4, 1, 1, 2, 4]);
  assert.deepEqual(decodeRle(rle), m);
  assert.equal(rleArea(rle), 3);
  // pycocotools toBbox: x from 1 to 2, y from 0 to 1 -> [1, 0, 2, 2].
  assert.deepEqual(rleToBbox(rle), [1, 0, 2, 2]);
});

test('toBbox of a run that wraps over a column spans all rows, like pycocotools', () => {
  const m = ascii(`
    .#
    .#
    #.`);
  // Column-major: 0,0,1 | 1,1,0 -> runs [2, 3, 1]: one foreground run wrapping from (2,0) to (1,1).
  assert.deepEqual(encodeRleUncompressed(m).counts, [2, 3, 1]);
  assert.deepEqual(rleToBbox(encodeRle(m)), [0, 0, 2, 3]);
  assert.deepEqual(rleToBbox(encodeRle({ width: 3, height: 3, data: new Uint8Array(9) })), [0, 0, 0, 0]);
});

test('round trips on random masks of odd sizes, empty and full', () => {
  const sizes: Array<[number, number]> = [
    [1, 1],
    [1, 17],
    [23, 1],
    [0, 5],
    [5, 0],
    [0, 0],
    [7, 13],
    [64, 33],
  ];
  let seed = 1;
  for (const [w, h] of sizes) {
    for (const p of [0, 0.1, 0.5, 0.9, 1]) {
      const m = randomMask(w, h, p, seed++);
      const rle = encodeRle(m);
      assert.deepEqual(decodeRle(rle), m, `${w}x${h} p=${p}`);
      const plain = uncompressRle(rle);
      assert.deepEqual(decodeRle(plain), m);
      assert.deepEqual(compressRle(plain), rle);
      let area = 0;
      for (const v of m.data) area += v;
      assert.equal(rleArea(rle), area);
    }
  }
  assert.deepEqual(encodeRle({ width: 0, height: 0, data: new Uint8Array(0) }), {
    size: [0, 0],
    counts: '0',
  });
});

test('large counts and negative deltas survive the string round trip', () => {
  const counts = [0, 1, 70000, 3, 1, 2 ** 31 + 5, 0, 17, 16, 15, 1000000];
  assert.deepEqual(Array.from(stringToCounts(countsToString(counts))), counts);
});

test('iou, crowd iou and merge', () => {
  const a = ascii(`
    ##..
    ##..
    ....`);
  const b = ascii(`
    .##.
    .##.
    ....`);
  // Intersection 2, union 6; as crowd the denominator is area(a) = 4.
  assert.equal(rleIou(encodeRle(a), encodeRle(b)), 2 / 6);
  assert.equal(rleIou(encodeRle(a), encodeRle(b), true), 2 / 4);
  const union = decodeRle(rleMerge([encodeRle(a), encodeRle(b)]));
  assert.deepEqual(
    union,
    ascii(`
    ###.
    ###.
    ....`),
  );
  const inter = decodeRle(rleMerge([encodeRle(a), uncompressRle(encodeRle(b))], true));
  assert.deepEqual(
    inter,
    ascii(`
    .#..
    .#..
    ....`),
  );
  const empty = encodeRle({ width: 4, height: 3, data: new Uint8Array(12) });
  assert.equal(rleIou(empty, empty), 0);
});

test('merge and iou agree with pixel-wise computation on random masks', () => {
  for (let s = 0; s < 20; s++) {
    const a = randomMask(9, 11, 0.4, 100 + s);
    const b = randomMask(9, 11, 0.6, 200 + s);
    let inter = 0;
    let uni = 0;
    const u = new Uint8Array(99);
    const i = new Uint8Array(99);
    for (let k = 0; k < 99; k++) {
      u[k] = a.data[k] | b.data[k];
      i[k] = a.data[k] & b.data[k];
      inter += i[k];
      uni += u[k];
    }
    assert.equal(rleIou(encodeRle(a), encodeRle(b)), inter / uni);
    assert.deepEqual(decodeRle(rleMerge([encodeRle(a), encodeRle(b)])).data, u);
    assert.deepEqual(decodeRle(rleMerge([encodeRle(a), encodeRle(b)], true)).data, i);
  }
});

test('malformed input raises RleError with a message', () => {
  assert.throws(
    () => stringToCounts('1 2'),
    (e: unknown) => e instanceof RleError && /character ' '/.test(e.message),
  );
  assert.throws(
    () => stringToCounts('T'),
    (e: unknown) => e instanceof RleError && /ends inside a count/.test(e.message),
  );
  assert.throws(() => stringToCounts('~'), RleError);
  assert.throws(() => decodeRle({ size: [2, 2], counts: '12' }), /add up to 3 pixels but size 2x2 has 4/);
  assert.throws(() => decodeRle({ size: [2, 2], counts: [1, 2, 3] }), RleError);
  assert.throws(() => decodeRle({ size: [2, 2], counts: [1, -1, 4] }), /counts\[1\]/);
  assert.throws(() => decodeRle({ size: [2, 2], counts: [1.5, 2.5] }), RleError);
  assert.throws(() => decodeRle({ size: [2] as unknown as [number, number], counts: '4' }), /size must be/);
  // Index 2 is 1, index 3 decodes to delta -3 from counts[1] = 1 -> negative run.
  assert.throws(() => stringToCounts('011M'), /negative run length/);
  const a = encodeRle({ width: 2, height: 2, data: new Uint8Array(4) });
  const b = encodeRle({ width: 4, height: 1, data: new Uint8Array(4) });
  assert.throws(() => rleIou(a, b), /sizes differ/);
  assert.throws(() => rleMerge([]), RleError);
  assert.throws(() => encodeRle({ width: 3, height: 3, data: new Uint8Array(4) }), /data length 4/);
});

test('any nonzero value counts as inside, on aligned and unaligned widths', () => {
  for (const [w, h] of [
    [8, 6],
    [9, 5],
    [4, 1],
    [1, 4],
  ]) {
    const base = randomMask(w, h, 0.5, w * 31 + h);
    const noisy = { ...base, data: base.data.map((v, i) => (v === 0 ? 0 : [1, 7, 255][i % 3])) };
    assert.deepEqual(encodeRle(noisy), encodeRle(base));
    // A subarray view at an odd byte offset takes the unaligned path.
    const buf = new Uint8Array(w * h + 1);
    buf.set(noisy.data, 1);
    assert.deepEqual(encodeRle({ width: w, height: h, data: buf.subarray(1) }), encodeRle(base));
  }
});
