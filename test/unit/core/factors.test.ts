import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FactorError,
  aspectRatio,
  boundaryComplexity,
  computeFactors,
  intensityDifference,
  objectSize,
} from '../../../gateway/src/core/factors.ts';
import type { BinaryMask } from '../../../gateway/src/core/mask.ts';
import type { Raster } from '../../../gateway/src/core/raster.ts';
import { ascii } from './ascii-mask.ts';

const square = ascii(`
  ......
  ......
  ..##..
  ..##..
  ......
  ......`);

function disk(n: number, r: number): BinaryMask {
  const data = new Uint8Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++)
      if ((x - n / 2 + 0.5) ** 2 + (y - n / 2 + 0.5) ** 2 <= r * r) data[y * n + x] = 1;
  }
  return { width: n, height: n, data };
}

test('size and aspect ratio', () => {
  assert.equal(objectSize(square), 4);
  assert.equal(aspectRatio(square), 1);
  // Box 5 wide (x 0..4) and 2 tall: 2 / 5.
  assert.equal(
    aspectRatio(
      ascii(`
      #...#
      .###.`),
    ),
    2 / 5,
  );
});

test('intensity difference uses the box enlarged by 0.1 of its size, rounded outward', () => {
  // Box x, y 2..3 (2 pixels): enlarged by 0.2 -> floor(1.8) = 1 .. ceil(3.2) = 4, 16 pixels, 12 outside.
  const grey = new Uint8Array(36).fill(100);
  for (const i of [14, 15, 20, 21]) grey[i] = 200;
  grey[0] = 0; // outside the enlarged box: must not count
  grey[5 * 6 + 5] = 0;
  const image: Raster = { width: 6, height: 6, channels: 1, data: grey };
  assert.deepEqual(intensityDifference(image, square), { inside: 200, outside: 100, difference: 100 });
  // RGB samples are averaged per pixel.
  const rgb = new Uint8Array(36 * 3);
  for (let i = 0; i < 36; i++) rgb.set(grey[i] === 200 ? [150, 250, 200] : [90, 110, 100], 3 * i);
  const c = intensityDifference({ width: 6, height: 6, channels: 3, data: rgb }, square);
  assert.deepEqual(c, { inside: 200, outside: 100, difference: 100 });
  // An object filling its enlarged box has no outside: NaN.
  const full = ascii('##\n##');
  const r = intensityDifference({ width: 2, height: 2, channels: 1, data: new Uint8Array(4) }, full);
  assert.ok(Number.isNaN(r.difference));
});

test('boundary complexity: a pixel and a disk stop at order 1 with Dice 1', () => {
  const pixel = boundaryComplexity(ascii('...\n.#.\n...'));
  assert.deepEqual(pixel, { complexity: 1, order: 1, dice: 1, diceByOrder: [1] });
  const d = boundaryComplexity(disk(60, 20));
  assert.equal(d.order, 1);
  assert.ok(d.dice > 0.97);
  assert.equal(d.complexity, d.order + 200 * (1 - d.dice));
});

test('boundary complexity grows with the shape and follows order + 200 (1 - Dice)', () => {
  // A long thin bar: order 1 is an ellipse (Dice well under 0.97); order 2 adds nothing for a centrally
  // symmetric shape, so the gain rule stops there.
  const bar = { width: 40, height: 10, data: new Uint8Array(400) };
  for (let y = 3; y < 6; y++) for (let x = 2; x < 38; x++) bar.data[y * 40 + x] = 1;
  const b = boundaryComplexity(bar);
  assert.equal(b.order, 2);
  assert.ok(b.dice < 0.97);
  assert.ok(Math.abs(b.complexity - (2 + 200 * (1 - b.dice))) < 1e-12);
  assert.ok(b.complexity > boundaryComplexity(disk(60, 20)).complexity);
  // Relaxing the rules reaches a higher order and a better Dice.
  const fine = boundaryComplexity(bar, { minGain: -1, targetDice: 0.99, maxOrder: 60 });
  assert.ok(fine.order > 2 && fine.dice > 0.99);
  assert.equal(fine.diceByOrder.length, fine.order);
});

test('computeFactors gathers everything; misuse raises FactorError', () => {
  const image: Raster = { width: 6, height: 6, channels: 1, data: new Uint8Array(36) };
  const f = computeFactors(square, image);
  assert.equal(f.size, 4);
  assert.equal(f.aspectRatio, 1);
  assert.equal(f.intensity?.difference, 0);
  assert.equal(computeFactors(square).intensity, undefined);
  assert.throws(
    () => objectSize(ascii('..\n..')),
    (e: unknown) => e instanceof FactorError && /empty/.test(e.message),
  );
  assert.throws(
    () => intensityDifference({ width: 5, height: 6, channels: 1, data: new Uint8Array(30) }, square),
    /image is 5x6 but the mask is 6x6/,
  );
  assert.throws(() => boundaryComplexity(square, { maxOrder: 0 }), FactorError);
});
