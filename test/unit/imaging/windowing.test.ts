/** Windowing and display mappings on hand-computed values (DICOM PS3.3 C.11.2.1.2.1 linear function). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';
import {
  WINDOW_PRESETS,
  applyRange,
  applyWindow,
  minMax,
  percentileRange,
  toDisplay8,
  toGrey8,
} from '../../../gateway/src/imaging/windowing.ts';

test('linear window W400/L40: edges at -160 and 239, centre at 128', () => {
  // c - 0.5 = 39.5, w - 1 = 399: x <= -160 is 0, x > 239 is 255, ((x - 39.5)/399 + 0.5) * 255 between
  const out = applyWindow([-1000, -160, -159.99, 39.5, 40, 100, 238.9, 239, 239.01, 3000], {
    center: 40,
    width: 400,
  });
  assert.deepEqual(Array.from(out), [0, 0, 0, 128, 128, 166, 255, 255, 255, 255]);
});

test('a window of width 1 is a threshold at the centre; narrower windows are refused', () => {
  assert.deepEqual(
    Array.from(applyWindow([-1, -0.5, -0.49, 0, 5], { center: 0, width: 1 })),
    [0, 0, 255, 255, 255],
  );
  assert.throws(
    () => applyWindow([1], { center: 0, width: 0.5 }),
    (e: unknown) => e instanceof ImageError && /width >= 1/.test(e.message),
  );
  assert.throws(() => applyWindow([1], { center: Number.NaN, width: 10 }), ImageError);
});

test('presets carry the usual CT windows', () => {
  assert.deepEqual(WINDOW_PRESETS['ct-soft-tissue'], { center: 40, width: 400 });
  assert.deepEqual(WINDOW_PRESETS['ct-lung'], { center: -600, width: 1500 });
  assert.deepEqual(WINDOW_PRESETS['ct-bone'], { center: 400, width: 1800 });
  assert.deepEqual(WINDOW_PRESETS['ct-brain'], { center: 40, width: 80 });
  assert.deepEqual(
    toDisplay8([0, 40, 80], { kind: 'preset', preset: 'ct-brain' }),
    applyWindow([0, 40, 80], { center: 40, width: 80 }),
  );
});

test('percentiles interpolate between order statistics like numpy', () => {
  const values = Array.from({ length: 101 }, (_, i) => i + 1); // 1..101
  assert.deepEqual(percentileRange(values, 0.5, 99.5), [1.5, 100.5]);
  assert.deepEqual(percentileRange([5, 1, 3], 0, 100), [1, 5]);
  assert.deepEqual(percentileRange([5, 1, 3], 50, 50), [3, 3]);
  assert.deepEqual(percentileRange([Number.NaN, 2], 0, 100), [2, 2]);
  assert.throws(() => percentileRange(values, 60, 40), ImageError);
  const mapped = toDisplay8(values, { kind: 'percentiles', low: 0.5, high: 99.5 });
  assert.deepEqual([mapped[0], mapped[50], mapped[100]], [0, 128, 255]);
});

test('range and min-max mapping clip and round; a constant image maps to zeros', () => {
  assert.deepEqual(Array.from(applyRange([-1, 0, 5, 10, 11], 0, 10)), [0, 0, 128, 255, 255]);
  assert.deepEqual(Array.from(toDisplay8([100, 200, 150])), [0, 255, 128]);
  assert.deepEqual(Array.from(toDisplay8([7, 7])), [0, 0]);
  assert.deepEqual(minMax([3, -2, 9]), [-2, 9]);
  assert.deepEqual(minMax([]), [0, 0]);
});

test('toGrey8: RGB becomes BT.601 luma, 8-bit grey is copied, other data is min-max scaled', () => {
  const rgb = toGrey8({
    width: 3,
    height: 1,
    channels: 3,
    data: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255]),
  });
  assert.deepEqual([rgb.channels, ...rgb.data], [1, 76, 150, 29]);
  const grey = {
    width: 2,
    height: 1,
    channels: 1 as const,
    data: Uint8Array.from([3, 4]),
    spacing: [0.5, 0.7] as [number, number],
  };
  const copy = toGrey8(grey);
  assert.deepEqual(copy.data, grey.data);
  assert.notEqual(copy.data, grey.data);
  assert.deepEqual(copy.spacing, [0.5, 0.7]);
  const hu = toGrey8(
    { width: 3, height: 1, channels: 1, data: Float32Array.from([-1000, 40, 1000]) },
    { kind: 'preset', preset: 'ct-soft-tissue' },
  );
  assert.deepEqual(Array.from(hu.data), [0, 128, 255]);
  const u16 = toGrey8({ width: 2, height: 1, channels: 1, data: Uint16Array.from([1000, 3000]) });
  assert.deepEqual(Array.from(u16.data), [0, 255]);
});
