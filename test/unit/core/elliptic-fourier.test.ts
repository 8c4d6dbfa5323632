import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addHarmonic,
  ellipticFourier,
  rasterizePolygon,
  reconstructContour,
  traceOuterContour,
} from '../../../gateway/src/core/elliptic-fourier.ts';
import { ascii } from './ascii-mask.ts';

test('a single pixel traces to its four corners, clockwise on screen', () => {
  const c = traceOuterContour(ascii('...\n.#.\n...'));
  assert.deepEqual(Array.from(c ?? []), [1, 1, 2, 1, 2, 2, 1, 2]);
  assert.equal(traceOuterContour(ascii('...\n...')), null);
});

test('an L tromino keeps only its corner vertices', () => {
  const c = traceOuterContour(
    ascii(`
    #..
    ##.
    ...`),
  );
  assert.deepEqual(Array.from(c ?? []), [0, 0, 1, 0, 1, 1, 2, 1, 2, 2, 0, 2]);
});

test('diagonal neighbours are not followed (4-connectivity)', () => {
  const c = traceOuterContour(
    ascii(`
    #.
    .#`),
  );
  assert.deepEqual(Array.from(c ?? []), [0, 0, 1, 0, 1, 1, 0, 1]);
});

test('rasterizing the traced polygon gives back the component with its hole filled', () => {
  const m = ascii(`
    ..........
    .####.....
    .#..###...
    .#....##..
    .########.
    ..........`);
  const filled = ascii(`
    ..........
    .####.....
    .######...
    .#######..
    .########.
    ..........`);
  const c = traceOuterContour(m);
  assert.ok(c);
  assert.deepEqual(rasterizePolygon(c, m.width, m.height), filled.data);
  // With an offset the same polygon lands shifted in a smaller raster.
  const shifted = rasterizePolygon(c, 8, 4, 1, 1);
  assert.equal(shifted[0], 1);
  assert.equal(shifted[7], 0);
});

test('Fourier series of a square: DC at the centre, perimeter 4s, order 1 is a circle-like ellipse', () => {
  // A 4x4 square from (0,0) to (4,4).
  const square = Float64Array.from([0, 0, 4, 0, 4, 4, 0, 4]);
  const s = ellipticFourier(square, 9);
  assert.equal(s.perimeter, 16);
  assert.ok(Math.abs(s.a0 - 2) < 1e-12 && Math.abs(s.c0 - 2) < 1e-12);
  // Central symmetry: even harmonics vanish.
  for (const v of s.coefficients.slice(4, 8)) assert.ok(Math.abs(v) < 1e-12);
  // Order 1 of a square is a circle: every sample is equally far from the centre.
  const ring = reconstructContour(s, 1, 8);
  const radii = [];
  for (let i = 0; i < ring.length; i += 2) radii.push(Math.hypot(ring[i] - 2, ring[i + 1] - 2));
  const spread = Math.max(...radii) - Math.min(...radii);
  assert.ok(spread < 1e-9, `order 1 of a square is a circle, spread ${spread}`);
  // A high order reproduces the corners closely.
  const fine = reconstructContour(s, 9, 400);
  let maxX = -Infinity;
  for (let i = 0; i < fine.length; i += 2) maxX = Math.max(maxX, fine[i]);
  assert.ok(Math.abs(maxX - 4) < 0.25);
  assert.throws(() => ellipticFourier(square, 0), RangeError);
  assert.throws(() => reconstructContour(s, 10, 8), RangeError);
});

test('adding harmonics one by one equals the direct reconstruction', () => {
  const c = traceOuterContour(
    ascii(`
    .######...
    .#....##..
    .#.....##.
    .########.`),
  );
  assert.ok(c);
  const s = ellipticFourier(c, 15);
  const poly = reconstructContour(s, 0, 300);
  for (let n = 1; n <= 15; n++) {
    addHarmonic(s, n, poly);
    const direct = reconstructContour(s, n, 300);
    for (let i = 0; i < poly.length; i++) assert.ok(Math.abs(poly[i] - direct[i]) < 1e-9);
  }
  assert.throws(() => addHarmonic(s, 16, poly), RangeError);
});
