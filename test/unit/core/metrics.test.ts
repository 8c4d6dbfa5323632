import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskBorder } from '../../../gateway/src/core/border.ts';
import {
  computeMetrics,
  hausdorff95,
  overlapMetrics,
  surfaceDistances,
} from '../../../gateway/src/core/metrics.ts';
import type { BinaryMask } from '../../../gateway/src/core/mask.ts';
import { ascii, randomMask } from './ascii-mask.ts';

const close = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('border uses the 4-connected cross: the centre of a plus is interior', () => {
  const plus = ascii(`
    .....
    ..#..
    .###.
    ..#..
    .....`);
  assert.deepEqual(
    maskBorder(plus),
    ascii(`
    .....
    ..#..
    .#.#.
    ..#..
    .....`),
  );
});

test('pixels on the image edge are border (outside counts as background)', () => {
  const full = ascii(`
    ###
    ###
    ###`);
  assert.deepEqual(
    maskBorder(full),
    ascii(`
    ###
    #.#
    ###`),
  );
});

test('two shifted 2x2 squares: values by hand', () => {
  const pred = ascii(`
    .....
    .##..
    .##..
    .....`);
  const gt = ascii(`
    .....
    ..##.
    ..##.
    .....`);
  // Every pixel of a 2x2 square is a border pixel. pred->gt: [1, 0, 1, 0]; gt->pred: [0, 1, 0, 1].
  const m = computeMetrics(pred, gt, { nsdTolerance: 0 });
  assert.equal(m.dice, 0.5); // 2 * 2 / (4 + 4)
  assert.equal(m.iou, 2 / 6);
  assert.equal(m.hausdorff, 1);
  assert.equal(m.hd95, 1); // pooled sorted [0,0,0,0,1,1,1,1], position 7 * 0.95 = 6.65 -> 1
  assert.equal(m.asd, 0.5);
  assert.equal(m.assd, 0.5);
  assert.equal(m.nsd, 0.5); // tau 0: the four shared pixels of eight
  assert.equal(computeMetrics(pred, gt, { nsdTolerance: 1 }).nsd, 1);
  // Spacing [sy, sx] = [2, 3]: the shift is one column, so every non-zero distance becomes 3.
  const s = computeMetrics(pred, gt, { spacing: [2, 3], nsdTolerance: 2.9 });
  assert.equal(s.hausdorff, 3);
  assert.equal(s.asd, 1.5);
  assert.equal(s.nsd, 0.5);
  assert.equal(computeMetrics(pred, gt, { spacing: [2, 3], nsdTolerance: 3 }).nsd, 1);
});

test('HD95 interpolates linearly, ASD is directed and ASSD pooled', () => {
  const pred = ascii('#..');
  const gt = ascii('###');
  // pred->gt [0]; gt->pred [0, 1, 2]; pooled sorted [0, 0, 1, 2]; position 3 * 0.95 = 2.85 -> 1 + 0.85.
  const m = computeMetrics(pred, gt, { nsdTolerance: 1 });
  assert.equal(m.dice, 0.5);
  assert.equal(m.iou, 1 / 3);
  assert.equal(m.hausdorff, 2);
  close(m.hd95, 1.85);
  assert.equal(m.asd, 0);
  assert.equal(m.assd, 0.75);
  assert.equal(m.nsd, 0.75); // 1 + 2 of 4 border pixels within 1
  // Swapping the roles changes the directed ASD only.
  const r = computeMetrics(gt, pred, { nsdTolerance: 1 });
  assert.equal(r.asd, 1);
  assert.equal(r.assd, 0.75);
  close(r.hd95, 1.85);
});

test('diagonal offset distance is Euclidean with spacing', () => {
  const pred = ascii(`
    #...
    ....
    ....`);
  const gt = ascii(`
    ....
    ....
    ...#`);
  const m = computeMetrics(pred, gt, { spacing: [0.5, 2] });
  close(m.hausdorff, Math.sqrt((2 * 0.5) ** 2 + (3 * 2) ** 2));
  assert.equal(m.dice, 0);
});

test('identical masks: Dice 1, distances 0, NSD 1', () => {
  const a = ascii(`
    .###.
    #####
    .###.`);
  const m = computeMetrics(a, a);
  assert.deepEqual([m.dice, m.iou, m.hausdorff, m.hd95, m.asd, m.assd, m.nsd], [1, 1, 0, 0, 0, 0, 1]);
  assert.equal(m.predBorderPixels, 8); // 11 pixels less the 3 interior ones of the middle row
});

test('empty masks under both conventions', () => {
  const empty = ascii('....\n....');
  const some = ascii('.##.\n....');
  const paperBoth = computeMetrics(empty, empty);
  assert.deepEqual(
    [
      paperBoth.dice,
      paperBoth.iou,
      paperBoth.hausdorff,
      paperBoth.hd95,
      paperBoth.asd,
      paperBoth.assd,
      paperBoth.nsd,
    ],
    [0, 0, 0, 0, 0, 0, 0],
  );
  const paperOne = computeMetrics(some, empty);
  assert.deepEqual([paperOne.dice, paperOne.iou, paperOne.hausdorff, paperOne.nsd], [0, 0, 0, 0]);
  assert.equal(paperOne.predBorderPixels, 2);
  const nanBoth = computeMetrics(empty, empty, { convention: 'nan' });
  for (const v of [
    nanBoth.dice,
    nanBoth.iou,
    nanBoth.hausdorff,
    nanBoth.hd95,
    nanBoth.asd,
    nanBoth.assd,
    nanBoth.nsd,
  ]) {
    assert.ok(Number.isNaN(v));
  }
  const nanOne = computeMetrics(empty, some, { convention: 'nan' });
  assert.deepEqual([nanOne.dice, nanOne.iou, nanOne.nsd], [0, 0, 0]);
  for (const v of [nanOne.hausdorff, nanOne.hd95, nanOne.asd, nanOne.assd]) assert.ok(Number.isNaN(v));
  assert.equal(surfaceDistances(empty, some), null);
});

/** Reference implementation straight from the definitions, O(border^2). */
function reference(pred: BinaryMask, gt: BinaryMask, sy: number, sx: number, tau: number) {
  const border = (m: BinaryMask): Array<[number, number]> => {
    const pts: Array<[number, number]> = [];
    const at = (x: number, y: number): number =>
      x < 0 || y < 0 || x >= m.width || y >= m.height ? 0 : m.data[y * m.width + x];
    for (let y = 0; y < m.height; y++) {
      for (let x = 0; x < m.width; x++) {
        if (at(x, y) && !(at(x - 1, y) && at(x + 1, y) && at(x, y - 1) && at(x, y + 1))) pts.push([x, y]);
      }
    }
    return pts;
  };
  const bp = border(pred);
  const bg = border(gt);
  const directed = (a: Array<[number, number]>, b: Array<[number, number]>): number[] =>
    a.map(([x, y]) => Math.min(...b.map(([u, v]) => Math.hypot(sx * (x - u), sy * (y - v)))));
  const pg = directed(bp, bg);
  const gp = directed(bg, bp);
  const pooled = [...pg, ...gp].sort((a, b) => a - b);
  const h = (pooled.length - 1) * 0.95;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, pooled.length - 1);
  const sum = (xs: number[]): number => xs.reduce((s, v) => s + v, 0);
  return {
    hausdorff: Math.max(...pooled),
    hd95: pooled[lo] + (h - lo) * (pooled[hi] - pooled[lo]),
    asd: sum(pg) / pg.length,
    assd: sum(pooled) / pooled.length,
    nsd: pooled.filter((d) => d <= tau).length / pooled.length,
  };
}

test('surface metrics match a brute-force reference on random masks', () => {
  let seed = 3;
  for (let t = 0; t < 30; t++) {
    const w = 5 + (t % 7) * 3;
    const h = 4 + (t % 5) * 4;
    const pred = randomMask(w, h, 0.3 + (t % 3) * 0.2, seed++);
    const gt = randomMask(w, h, 0.25 + (t % 4) * 0.15, seed++);
    const [sy, sx] = t % 2 === 0 ? [1, 1] : [0.8, 1.7];
    const tau = 1 + (t % 3);
    const want = reference(pred, gt, sy, sx, tau);
    if (!Number.isFinite(want.hausdorff)) continue;
    const got = computeMetrics(pred, gt, { spacing: [sy, sx], nsdTolerance: tau });
    close(got.hausdorff, want.hausdorff, 1e-9);
    close(got.hd95, want.hd95, 1e-9);
    close(got.asd, want.asd, 1e-9);
    close(got.assd, want.assd, 1e-9);
    close(got.nsd, want.nsd, 1e-12);
  }
});

test('overlap metrics count nonzero values as inside', () => {
  const a: BinaryMask = { width: 2, height: 1, data: new Uint8Array([255, 0]) };
  const b: BinaryMask = { width: 2, height: 1, data: new Uint8Array([1, 7]) };
  const o = overlapMetrics(a, b);
  assert.deepEqual(o, { dice: 2 / 3, iou: 0.5, predArea: 1, gtArea: 2, intersection: 1 });
});

test('hausdorff95 alone agrees with computeMetrics', () => {
  const pred = ascii('#..');
  const gt = ascii('###');
  assert.ok(Math.abs((hausdorff95(pred, gt) ?? NaN) - 1.85) < 1e-12);
  assert.equal(hausdorff95(ascii('...'), gt), null);
});
