import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  diceCurveAuc,
  nextClick,
  numberOfClicks,
  runBoxThenClicks,
  runInteractive,
  type InteractivePredict,
} from '../../../gateway/src/core/interactive.ts';
import type { BinaryMask } from '../../../gateway/src/core/mask.ts';
import type { ObjectPrompt } from '../../../gateway/src/core/prompts.ts';
import { ascii } from './ascii-mask.ts';

test('the click goes to the deepest point of the largest missed region', () => {
  const gt = ascii(`
    .......
    .#####.
    .#####.
    .#####.
    .......`);
  const pred = ascii(`
    .......
    .......
    .......
    .......
    .......`);
  // The 5x3 FN region: (2,2), (3,2) and (4,2) are all 2 from the outside; the first in row-major order wins.
  const c = nextClick(pred, gt);
  assert.deepEqual(c, { x: 2, y: 2, label: 1, regionSize: 15, depth: 2 });
});

test('a larger false positive region gets a negative click; the image boundary counts as border', () => {
  const gt = ascii(`
    #.....
    ......
    ......`);
  const pred = ascii(`
    ....##
    ....##
    ....##`);
  // FN is 1 pixel, FP is 6 pixels touching the image edge: every FP pixel is 1 from the boundary or the
  // outside; the first in row-major order wins.
  const c = nextClick(pred, gt);
  assert.deepEqual(c, { x: 4, y: 0, label: 0, regionSize: 6, depth: 1 });
  assert.equal(nextClick(gt, gt), null);
});

test('regions are 4-connected: a diagonal pair is two regions', () => {
  const gt = ascii(`
    #.#
    .#.
    ...`);
  const pred = ascii('...\n...\n...');
  const c = nextClick(pred, gt);
  assert.ok(c);
  assert.equal(c.regionSize, 1);
  assert.deepEqual([c.x, c.y], [0, 0]);
});

test('NoC and the normalized AUC', () => {
  const curve = [0.5, 0.8, 0.86, 0.91, 0.95];
  assert.equal(numberOfClicks(curve, 0.85), 3);
  assert.equal(numberOfClicks(curve, 0.9), 4);
  assert.equal(numberOfClicks(curve, 0.99), 5);
  assert.equal(numberOfClicks([0.1, 0.2], 0.9, 20), 20);
  assert.equal(diceCurveAuc([0.7, 0.7, 0.7]), 0.7);
  // Trapezoids (0 + 1) / 2 over one step.
  assert.equal(diceCurveAuc([0, 1]), 0.5);
  assert.equal(diceCurveAuc([0.4]), 0.4);
});

/** A fake model that paints a 3x3 square around every positive point and clears one around negatives. */
function paintingModel(w: number, h: number): InteractivePredict<number> {
  return async (prompt: ObjectPrompt, previous: number | null) => {
    const data = new Uint8Array(w * h);
    if (prompt.box) {
      const [x0, y0, x1, y1] = prompt.box;
      for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) data[y * w + x] = 1;
    }
    for (const p of prompt.points) {
      for (let y = p.y - 1; y <= p.y + 1; y++) {
        for (let x = p.x - 1; x <= p.x + 1; x++) {
          if (x >= 0 && y >= 0 && x < w && y < h) data[y * w + x] = p.label;
        }
      }
    }
    const mask: BinaryMask = { width: w, height: h, data };
    return { mask, lowRes: (previous ?? 0) + 1 };
  };
}

test('a session adds clicks, feeds logits back and pads after a perfect prediction', async () => {
  const gt = ascii(`
    ..........
    .######...
    .######...
    .######...
    ..........`);
  const seen: Array<number | null> = [];
  const model = paintingModel(10, 5);
  const predict: InteractivePredict<number> = async (p, prev) => {
    seen.push(prev);
    return model(p, prev);
  };
  const r = await runInteractive(gt, { points: [{ x: 2, y: 2, label: 1 }] }, predict, { maxInteractions: 6 });
  assert.deepEqual(seen, [null, 1]);
  assert.equal(r.dice.length, 6);
  assert.equal(r.dice[0], (2 * 9) / (9 + 18));
  // One more 3x3 square at the centre of the remaining 3x3 FN block makes it exact.
  assert.deepEqual(r.clicks[0], { x: 5, y: 2, label: 1, regionSize: 9, depth: 2 });
  assert.equal(r.dice[1], 1);
  assert.ok(r.perfectEarly);
  assert.deepEqual(r.dice.slice(1), [1, 1, 1, 1, 1]);
  assert.equal(r.noc85, 2);
  assert.equal(r.noc90, 2);
  assert.equal(r.finalDice, 1);
  assert.equal(r.finalPrompt.points.length, 2);
});

test('box then 5 clicks: a too-large box gets negative clicks', async () => {
  const gt = ascii(`
    ........
    ..###...
    ..###...
    ..###...
    ........`);
  const r = await runBoxThenClicks(gt, [1, 0, 5, 4], paintingModel(8, 5));
  assert.ok(r.dice.length === 6);
  assert.equal(r.clicks[0].label, 0);
  assert.ok(r.finalPrompt.box);
  assert.deepEqual(r.finalPrompt.box, [1, 0, 5, 4]);
  assert.equal(r.auc, diceCurveAuc(r.dice));
});

test('bad inputs are rejected', async () => {
  const gt = ascii('##\n..');
  await assert.rejects(
    runInteractive(gt, { points: [] }, paintingModel(2, 2), { maxInteractions: 0 }),
    RangeError,
  );
  await assert.rejects(runInteractive(gt, { points: [] }, paintingModel(3, 2)), /returned a 3x2 mask/);
  assert.throws(() => nextClick(ascii('#'), gt), RangeError);
});
