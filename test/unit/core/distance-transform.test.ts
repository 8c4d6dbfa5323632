import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  distanceTransform,
  squaredDistanceTransform,
  squaredDistancesAt,
} from '../../../gateway/src/core/distance-transform.ts';
import { randomMask } from './ascii-mask.ts';

function brute(feature: Uint8Array, w: number, h: number, sy: number, sx: number): Float64Array {
  const out = new Float64Array(w * h).fill(Infinity);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let v = 0; v < h; v++) {
        for (let u = 0; u < w; u++) {
          if (feature[v * w + u] === 0) continue;
          const d = (sy * (y - v)) ** 2 + (sx * (x - u)) ** 2;
          if (d < out[y * w + x]) out[y * w + x] = d;
        }
      }
    }
  }
  return out;
}

test('one feature pixel: squared distances by hand', () => {
  // 3x3 image, feature at the centre: corners are at squared distance 2, edges at 1.
  const f = new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(squaredDistanceTransform(f, 3, 3)), [2, 1, 2, 1, 0, 1, 2, 1, 2]);
  // Rows 2 units apart, columns 3: corner = 2^2 + 3^2 = 13.
  assert.deepEqual(Array.from(squaredDistanceTransform(f, 3, 3, [2, 3])), [13, 4, 13, 9, 0, 9, 13, 4, 13]);
  assert.deepEqual(Array.from(distanceTransform(f, 3, 3, [2, 3])).slice(0, 2), [Math.sqrt(13), 2]);
});

test('no feature at all gives Infinity everywhere', () => {
  const d = squaredDistanceTransform(new Uint8Array(6), 3, 2);
  assert.ok(d.every((v) => v === Infinity));
});

test('matches brute force on random masks, isotropic and anisotropic', () => {
  const spacings: Array<[number, number]> = [
    [1, 1],
    [0.7, 1.3],
    [2.5, 0.4],
  ];
  let seed = 7;
  for (const [w, h] of [
    [1, 1],
    [1, 9],
    [11, 1],
    [13, 17],
    [24, 9],
  ]) {
    for (const p of [0.02, 0.1, 0.5]) {
      for (const [sy, sx] of spacings) {
        const f = randomMask(w, h, p, seed++).data;
        const got = squaredDistanceTransform(f, w, h, [sy, sx]);
        const want = brute(f, w, h, sy, sx);
        for (let i = 0; i < w * h; i++) {
          if (want[i] === Infinity) assert.equal(got[i], Infinity);
          else assert.ok(Math.abs(got[i] - want[i]) <= 1e-9 * Math.max(1, want[i]), `${w}x${h} at ${i}`);
        }
      }
    }
  }
});

test('rejects a feature array of the wrong length', () => {
  assert.throws(() => squaredDistanceTransform(new Uint8Array(5), 2, 3), RangeError);
});

test('distances at query pixels match brute force on both row strategies', () => {
  let seed = 50;
  for (const [w, h, pf, pq] of [
    [30, 20, 0.05, 0.05],
    [40, 12, 0.01, 0.6],
    [25, 25, 0.3, 0.3],
    [60, 5, 0.002, 0.9],
  ]) {
    for (const [sy, sx] of [
      [1, 1],
      [1.5, 0.6],
    ]) {
      const f = randomMask(w, h, pf, seed++).data;
      const q = randomMask(w, h, pq, seed++).data;
      const got = squaredDistancesAt(f, q, w, h, [sy, sx]);
      const want = brute(f, w, h, sy, sx);
      for (let i = 0; i < w * h; i++) {
        if (q[i] === 0) continue;
        if (want[i] === Infinity) assert.equal(got[i], Infinity);
        else assert.ok(Math.abs(got[i] - want[i]) <= 1e-9 * Math.max(1, want[i]), `${w}x${h} at ${i}`);
      }
    }
  }
  assert.throws(() => squaredDistancesAt(new Uint8Array(6), new Uint8Array(5), 2, 3), RangeError);
});
