import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Raster } from '../../../gateway/src/core/raster.ts';
import {
  longestSideSize,
  mapBoxToModel,
  mapPointStretched,
  mapPointToModel,
  preprocessMedSam,
  preprocessSam,
  resizeBilinear,
  SAM_PIXEL_MEAN,
  SAM_PIXEL_STD,
  SamTransformError,
} from '../../../gateway/src/core/sam-transform.ts';

const grey = (width: number, height: number, values: number[]): Raster => ({
  width,
  height,
  channels: 1,
  data: Uint8Array.from(values),
});

describe('longestSideSize', () => {
  it('scales the longest side to the target and rounds half up as int(x + 0.5)', () => {
    assert.deepEqual(longestSideSize(480, 640), [768, 1024]);
    assert.deepEqual(longestSideSize(100, 50), [1024, 512]);
    // 333 * 2.048 = 681.98 -> 682
    assert.deepEqual(longestSideSize(333, 500), [682, 1024]);
    assert.deepEqual(longestSideSize(1, 1), [1024, 1024]);
    assert.deepEqual(longestSideSize(3, 2, 4), [4, 3]); // 2 * 4/3 = 2.67 -> 3
  });

  it('rejects sizes that are not positive integers', () => {
    assert.throws(() => longestSideSize(0, 10), SamTransformError);
    assert.throws(() => longestSideSize(10, 2.5), /positive integer/);
  });
});

describe('resizeBilinear (PIL bilinear)', () => {
  it('upsamples 2 -> 4 with edge clamping: [0, 100] -> [0, 25, 75, 100]', () => {
    const out = resizeBilinear(grey(2, 1, [0, 100]), 1, 4);
    assert.deepEqual(Array.from(out.data), [0, 25, 75, 100]);
    assert.ok(out.data instanceof Uint8Array);
  });

  it('downsamples 4 -> 2 with the widened (antialiased) triangle: [0, 40, 80, 120] -> [29, 91]', () => {
    // i = 0: centre 1, weights (0.75, 0.75, 0.25) / 1.75 -> 28.57; i = 1: (0.25, 0.75, 0.75) on 40, 80, 120 -> 91.43
    const out = resizeBilinear(grey(4, 1, [0, 40, 80, 120]), 1, 2);
    assert.deepEqual(Array.from(out.data), [29, 91]);
  });

  it('resizes vertically the same way and keeps RGB channels apart', () => {
    const rgb: Raster = {
      width: 1,
      height: 2,
      channels: 3,
      data: Uint8Array.from([0, 10, 20, 100, 110, 120]),
    };
    const out = resizeBilinear(rgb, 4, 1);
    assert.deepEqual(Array.from(out.data), [0, 10, 20, 25, 35, 45, 75, 85, 95, 100, 110, 120]);
  });

  it('keeps 16-bit and float samples unrounded in their own type', () => {
    const u16: Raster = { width: 2, height: 1, channels: 1, data: Uint16Array.from([0, 1000]) };
    assert.deepEqual(Array.from(resizeBilinear(u16, 1, 4).data), [0, 250, 750, 1000]);
    const f32: Raster = { width: 2, height: 1, channels: 1, data: Float32Array.from([0, 1]) };
    const out = resizeBilinear(f32, 1, 4);
    assert.ok(out.data instanceof Float32Array);
    assert.deepEqual(Array.from(out.data), [0, 0.25, 0.75, 1]);
  });

  it('returns a copy when the size does not change', () => {
    const r = grey(2, 1, [1, 2]);
    const out = resizeBilinear(r, 1, 2);
    assert.notEqual(out.data, r.data);
    assert.deepEqual(Array.from(out.data), [1, 2]);
  });
});

describe('preprocessSam', () => {
  it('resizes, normalizes with the ImageNet mean/std, replicates grey and zero-pads bottom/right', () => {
    // 1 x 2 grey [0, 255], target 4: resized to 2 x 4 = rows [0, 64, 191, 255] (63.75 and 191.25 rounded).
    const t = preprocessSam(grey(2, 1, [0, 255]), 4);
    assert.deepEqual(t.dims, [3, 4, 4]);
    assert.deepEqual(t.resizedSize, [2, 4]);
    const at = (c: number, y: number, x: number) => t.data[(c * 4 + y) * 4 + x];
    const norm = (v: number, c: number) => Math.fround((v - SAM_PIXEL_MEAN[c]) / SAM_PIXEL_STD[c]);
    for (let c = 0; c < 3; c++) {
      assert.equal(at(c, 0, 0), norm(0, c));
      assert.equal(at(c, 0, 1), norm(64, c));
      assert.equal(at(c, 1, 2), norm(191, c));
      assert.equal(at(c, 1, 3), norm(255, c));
      for (let x = 0; x < 4; x++) {
        assert.equal(at(c, 2, x), 0);
        assert.equal(at(c, 3, x), 0);
      }
    }
    assert.ok(Math.abs(at(0, 0, 0) - -2.1179) < 1e-4);
  });

  it('keeps the RGB channel order', () => {
    const rgb: Raster = { width: 1, height: 1, channels: 3, data: Uint8Array.from([10, 20, 30]) };
    const t = preprocessSam(rgb, 2);
    assert.equal(t.data[0], Math.fround((10 - 123.675) / 58.395));
    assert.equal(t.data[4], Math.fround((20 - 116.28) / 57.12));
    assert.equal(t.data[8], Math.fround((30 - 103.53) / 57.375));
  });

  it('rejects malformed rasters with what was expected and what arrived', () => {
    assert.throws(() => preprocessSam(grey(2, 2, [1, 2, 3])), /data length \(3\) does not match 2x2x1 \(4\)/);
    const bad = { width: 1, height: 1, channels: 2, data: new Uint8Array(2) } as unknown as Raster;
    assert.throws(() => preprocessSam(bad), /expected 1 or 3 channels, got 2/);
  });
});

describe('preprocessMedSam', () => {
  it('stretches to target x target and min-max scales to [0, 1] without ImageNet normalization', () => {
    const t = preprocessMedSam(grey(2, 2, [0, 50, 100, 200]), 2);
    assert.deepEqual(t.dims, [3, 2, 2]);
    assert.deepEqual(t.resizedSize, [2, 2]);
    for (let c = 0; c < 3; c++)
      assert.deepEqual(Array.from(t.data.subarray(c * 4, c * 4 + 4)), [0, 0.25, 0.5, 1]);
  });

  it('maps a constant image to zeros', () => {
    const t = preprocessMedSam(grey(1, 1, [7]), 2);
    assert.deepEqual(Array.from(t.data), new Array(12).fill(0));
  });
});

describe('coordinate mapping', () => {
  it('maps points as ResizeLongestSide.apply_coords', () => {
    assert.deepEqual(mapPointToModel(100, 50, 480, 640), [160, 80]);
    // 333 x 500 -> 682 x 1024: y * 682 / 333
    const [x, y] = mapPointToModel(250, 100, 333, 500);
    assert.equal(x, 512);
    assert.ok(Math.abs(y - (100 * 682) / 333) < 1e-9);
  });

  it('maps boxes corner by corner', () => {
    assert.deepEqual(mapBoxToModel([10, 20, 30, 40], 480, 640), [16, 32, 48, 64]);
  });

  it('maps points for the stretched MedSAM frame', () => {
    assert.deepEqual(mapPointStretched(50, 60, 120, 100), [512, 512]);
  });
});
