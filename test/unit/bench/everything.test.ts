import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  batches,
  boxIou,
  boxNms,
  everythingOnGrid,
  filterEverythingMasks,
  gridPoints,
  stabilityScore,
} from '../../../gateway/src/core/everything.ts';
import type { BinaryMask } from '../../../gateway/src/core/mask.ts';
import { maskBounds, pixelBounds } from '../../../gateway/src/core/mask.ts';

function rect(w: number, h: number, x0: number, y0: number, x1: number, y1: number): BinaryMask {
  const data = new Uint8Array(w * h);
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) data[y * w + x] = 1;
  return { width: w, height: h, data };
}

test('gridPoints: SAM build_point_grid scaled to the image, x fastest', () => {
  const g = gridPoints(2, 100, 50);
  assert.deepEqual(g, [
    [25, 12.5],
    [75, 12.5],
    [25, 37.5],
    [75, 37.5],
  ]);
  const g32 = gridPoints(32, 1024, 1024);
  assert.equal(g32.length, 1024);
  assert.deepEqual(g32[0], [16, 16]);
  assert.deepEqual(g32[1023], [1008, 1008]);
  assert.throws(() => gridPoints(0, 10, 10), RangeError);
});

test('stabilityScore: IoU of masks thresholded at +/- offset', () => {
  // Above +1: 2 values; above -1: 4 values.
  assert.equal(stabilityScore([2, 1.5, 0.5, -0.5, -3]), 2 / 4);
  assert.equal(stabilityScore([-5, -6]), 0);
  assert.equal(stabilityScore([3, 3], 0, 2), 1);
});

test('maskBounds and boxIou with torchvision area convention', () => {
  assert.deepEqual(maskBounds(rect(10, 10, 2, 3, 5, 7)), [2, 3, 5, 7]);
  assert.equal(maskBounds({ width: 2, height: 2, data: new Uint8Array(4) }), null);
  assert.equal(boxIou([0, 0, 10, 10], [0, 0, 10, 10]), 1);
  assert.equal(boxIou([0, 0, 10, 10], [5, 0, 15, 10]), 50 / 150);
  assert.equal(boxIou([0, 0, 1, 1], [2, 2, 3, 3]), 0);
});

test('boxNms keeps the best-scored box of an overlapping pair', () => {
  const boxes = [
    [0, 0, 10, 10],
    [1, 1, 10, 10],
    [20, 20, 30, 30],
  ];
  assert.deepEqual(boxNms(boxes, [0.5, 0.9, 0.7], 0.7), [1, 2]);
  assert.deepEqual(boxNms(boxes, [0.5, 0.9, 0.7], 0.9), [1, 2, 0]);
  assert.throws(() => boxNms(boxes, [1], 0.5), RangeError);
});

test('filterEverythingMasks: thresholds (pred IoU strict, stability inclusive), empty masks dropped, NMS', () => {
  const a = rect(20, 20, 0, 0, 9, 9);
  const a2 = rect(20, 20, 0, 0, 9, 8);
  const b = rect(20, 20, 12, 12, 18, 18);
  const empty: BinaryMask = { width: 20, height: 20, data: new Uint8Array(400) };
  const kept = filterEverythingMasks([
    { mask: a, predictedIou: 0.9, stabilityScore: 0.95 },
    { mask: a2, predictedIou: 0.95, stabilityScore: 0.99 },
    { mask: b, predictedIou: 0.88, stabilityScore: 0.99 },
    { mask: b, predictedIou: 0.89, stabilityScore: 0.949 },
    { mask: empty, predictedIou: 0.99, stabilityScore: 1 },
  ]);
  assert.deepEqual(
    kept.map((k) => k.predictedIou),
    [0.95],
  );
});

test('batches splits like points_per_batch', () => {
  assert.deepEqual(batches([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.throws(() => batches([1], 0), RangeError);
});

test('pixelBounds: box and count of a mask, or of where two masks disagree, aligned or not', () => {
  const a = rect(13, 7, 2, 1, 6, 4);
  const b = rect(13, 7, 4, 1, 11, 5);
  assert.deepEqual(pixelBounds(a), { box: [2, 1, 6, 4], count: 20 });
  assert.deepEqual(maskBounds(a), [2, 1, 6, 4]);
  // a only: x 2..3 on rows 1..4; b only: x 7..11 on rows 1..4 and x 4..11 on row 5.
  assert.deepEqual(pixelBounds(a, b), { box: [2, 1, 11, 5], count: 8 + 20 + 8 });
  assert.equal(pixelBounds(a, a), null);
  assert.equal(pixelBounds({ width: 13, height: 7, data: new Uint8Array(91) }), null);
  // The same masks at an odd byte offset (no 32-bit word view) and with values other than 1.
  const shifted = (m: BinaryMask, value: number): BinaryMask => {
    const buf = new Uint8Array(m.data.length + 1);
    for (let i = 0; i < m.data.length; i++) buf[i + 1] = m.data[i] * value;
    return { width: m.width, height: m.height, data: buf.subarray(1) };
  };
  assert.deepEqual(pixelBounds(shifted(a, 255)), pixelBounds(a));
  assert.deepEqual(pixelBounds(shifted(a, 7), shifted(b, 1)), pixelBounds(a, b));
});

test('everythingOnGrid: batches the grid, filters per batch, NMS over survivors, grid positions kept', async () => {
  const w = 20;
  const h = 20;
  const calls: number[] = [];
  // Two candidates per point: the left square (good scores) and the right one (low predicted IoU on the
  // left half of the grid, so only points on the right keep it).
  const left = rect(w, h, 0, 0, 9, 9);
  const right = rect(w, h, 12, 12, 18, 18);
  const result = await everythingOnGrid(
    async (points) => {
      calls.push(points.length);
      return points.map(([x]) => [
        { mask: left, predictedIou: 0.9, stabilityScore: 0.99, tag: `L${x}` },
        { mask: right, predictedIou: x < 10 ? 0.5 : 0.95, stabilityScore: 0.99, tag: `R${x}` },
      ]);
    },
    w,
    h,
    { pointsPerSide: 4, pointsPerBatch: 5 },
  );
  assert.deepEqual(calls, [5, 5, 5, 1]);
  assert.equal(result.pointsEvaluated, 16);
  assert.equal(result.candidatesConsidered, 32);
  // Best first: the right square (0.95, first kept at the grid's third point, x = 12.5), then the left one.
  assert.deepEqual(
    result.kept.map((k) => [k.candidate.tag, k.gridIndex, k.candidate.predictedIou]),
    [
      ['R12.5', 5, 0.95],
      ['L2.5', 0, 0.9],
    ],
  );
  assert.deepEqual(result.kept[0].candidate.mask, right);
  const stop = new AbortController();
  stop.abort(new Error('client gone'));
  await assert.rejects(
    everythingOnGrid(async () => [], w, h, { signal: stop.signal }),
    /client gone/,
  );
});
