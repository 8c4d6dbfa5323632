import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EVERYTHING_MODE,
  PromptError,
  promptGeometry,
  simulatePrompt,
} from '../../../gateway/src/core/prompts.ts';
import { ascii } from './ascii-mask.ts';

// 10 x 8 image, a 4 x 3 rectangle at x 2..5, y 2..4 (12 pixels).
const rect = ascii(`
  ..........
  ..........
  ..####....
  ..####....
  ..####....
  ..........
  ..........
  ..........`);

test('faithful geometry of a rectangle, worked by hand', () => {
  const g = promptGeometry(rect, 'faithful');
  assert.ok(g);
  // m10 = 3 * (2+3+4+5) = 42, m01 = 4 * (2+3+4) = 36, n = 12 -> int(3.5) = 3, int(3) = 3.
  assert.deepEqual(g.centroid, { x: 3, y: 3 });
  assert.deepEqual(g.box, [2, 2, 5, 4]);
  // step = int(12/5) = 2: fg[::2] is indices 0,2,4,6,8,10 -> 6 points, the first replaced by the centroid.
  assert.equal(g.step, 2);
  assert.deepEqual(g.positives, [
    { x: 3, y: 3 },
    { x: 4, y: 2 },
    { x: 2, y: 3 },
    { x: 4, y: 3 },
    { x: 2, y: 4 },
    { x: 4, y: 4 },
  ]);
  // w = 3, h = 2: X1 = 0.5, Y1 = 1, X2 = 6.5, Y2 = 5 -> x 0, y 1, ww int(6.0) = 6, hh 4.
  assert.deepEqual(g.window, { x: 0, y: 1, width: 6, height: 4 });
  // 24 window pixels, 12 of them object: nb = 12, step_bg = 2; bg in row-major order is
  // row 1: (0..5,1) [0-5], then (0,r),(1,r) for r = 2,3,4 [6-11]; indices 0,2,4,6,8,10 are taken.
  assert.equal(g.windowBackground, 12);
  assert.deepEqual(g.negatives, [
    { x: 0, y: 1 },
    { x: 2, y: 1 },
    { x: 4, y: 1 },
    { x: 0, y: 2 },
    { x: 0, y: 3 },
    { x: 0, y: 4 },
  ]);
});

test('faithful S2-S6 keep the released slicing quirks', () => {
  const s4 = simulatePrompt(rect, 'S4', 'faithful');
  assert.ok(s4.ok);
  // Six positives then four negatives; labels [1]*5 + [0]*5 give the 6th positive label 0, and the
  // 5th negative is dropped.
  assert.deepEqual(
    s4.prompt.points.map((p) => [p.x, p.y, p.label]),
    [
      [3, 3, 1],
      [4, 2, 1],
      [2, 3, 1],
      [4, 3, 1],
      [2, 4, 1],
      [4, 4, 0],
      [0, 1, 0],
      [2, 1, 0],
      [4, 1, 0],
      [0, 2, 0],
    ],
  );
  const s2 = simulatePrompt(rect, 'S2', 'faithful');
  assert.ok(s2.ok);
  assert.deepEqual(s2.prompt, { points: [{ x: 3, y: 3, label: 1 }] });
  const s3 = simulatePrompt(rect, 'S3', 'faithful');
  assert.ok(s3.ok);
  assert.equal(s3.prompt.points.length, 5);
  assert.ok(s3.prompt.points.every((p) => p.label === 1));
  const s5 = simulatePrompt(rect, 'S5', 'faithful');
  assert.ok(s5.ok);
  assert.deepEqual(s5.prompt, { points: [], box: [2, 2, 5, 4] });
  const s6 = simulatePrompt(rect, 'S6', 'faithful');
  assert.ok(s6.ok);
  assert.deepEqual(s6.prompt, { points: [{ x: 3, y: 3, label: 1 }], box: [2, 2, 5, 4] });
});

test('corrected mode: exactly 5 positives and 5 negatives with matching labels', () => {
  const g = promptGeometry(rect, 'corrected');
  assert.ok(g);
  // fg[k*2] for k = 1..4 -> indices 2,4,6,8; bg[k*2] for k = 0..4 -> indices 0,2,4,6,8.
  assert.deepEqual(g.positives, [
    { x: 3, y: 3 },
    { x: 4, y: 2 },
    { x: 2, y: 3 },
    { x: 4, y: 3 },
    { x: 2, y: 4 },
  ]);
  const s4 = simulatePrompt(rect, 'S4', 'corrected');
  assert.ok(s4.ok);
  assert.deepEqual(
    s4.prompt.points.map((p) => p.label),
    [1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
  );
  assert.deepEqual(s4.prompt.points[9], { x: 0, y: 3, label: 0 });
});

test('window truncations are separate: int(X2 - X1), not int(X2) - int(X1)', () => {
  // Same rectangle in a 6-wide image: X2 = 6.5 >= 6 becomes 6, so ww = int(6 - 0.5) = 5 (columns 0..4).
  const narrow = ascii(`
    ......
    ......
    ..####
    ..####
    ..####
    ......`);
  // Shift: the object is now at x 2..5 in a 6-wide image, w = 3, X1 = 0.5, X2 = 6.5 -> 6.
  const g = promptGeometry(narrow, 'faithful');
  assert.ok(g);
  assert.deepEqual(g.window, { x: 0, y: 1, width: 5, height: 4 });
});

test('a centroid outside an L shape: faithful keeps it, corrected moves it inside', () => {
  const l = ascii(`
    #....
    #....
    #....
    #....
    #####`);
  // m10 = 1+2+3+4 = 10, m01 = 0+1+2+3+4*5 = 26, n = 9: centroid (int 1.11, int 2.89) = (1, 2), outside.
  const f = promptGeometry(l, 'faithful');
  assert.ok(f);
  assert.deepEqual(f.centroid, { x: 1, y: 2 });
  assert.equal(f.centroidInside, false);
  // step = 1: fg[::1] has 9 points, so S4's first ten are 9 positives (labels 1,1,1,1,1,0,0,0,0) and one
  // negative. Window: X1 = -2 -> 0, X2 = 6 -> 5: the whole image, nb = 16, step_bg = 3.
  assert.equal(f.positives.length, 9);
  assert.deepEqual(f.negatives, [
    { x: 1, y: 0 },
    { x: 4, y: 0 },
    { x: 3, y: 1 },
    { x: 2, y: 2 },
    { x: 1, y: 3 },
    { x: 4, y: 3 },
  ]);
  const s4 = simulatePrompt(l, 'S4', 'faithful');
  assert.ok(s4.ok);
  assert.deepEqual(
    s4.prompt.points.map((p) => p.label),
    [1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
  );
  assert.deepEqual(s4.prompt.points[9], { x: 1, y: 0, label: 0 });
  const c = promptGeometry(l, 'corrected');
  assert.ok(c);
  // Nearest object pixel to (1, 2): (0, 2) at squared distance 1.
  assert.deepEqual(c.centroid, { x: 0, y: 2 });
  assert.equal(c.positives.length, 5);
  assert.equal(c.negatives.length, 5);
});

test('faithful failures are reported; corrected never fails on a non-empty object', () => {
  const tiny = ascii(`
    .....
    .##..
    .##..
    .....`);
  const f = simulatePrompt(tiny, 'S2', 'faithful');
  assert.equal(f.ok, false);
  assert.ok(!f.ok && f.failure === 'object-under-5-pixels' && /4 pixels/.test(f.reason));
  const c = simulatePrompt(tiny, 'S4', 'corrected');
  assert.ok(c.ok);
  // 4 pixels: step max(1, 0) = 1, positives centroid + fg[1..3]; labels match.
  assert.equal(c.prompt.points.filter((p) => p.label === 1).length, 4);

  const crowded = ascii(`
    ###
    ##.
    ###`);
  const fw = simulatePrompt(crowded, 'S5', 'faithful');
  assert.ok(!fw.ok && fw.failure === 'window-under-5-background-pixels');
  const cw = simulatePrompt(crowded, 'S4', 'corrected');
  assert.ok(cw.ok);
  assert.deepEqual(cw.prompt.points.at(-1), { x: 2, y: 1, label: 0 });

  const single = ascii('...\n.#.\n...');
  const cs = simulatePrompt(single, 'S4', 'corrected');
  assert.ok(cs.ok);
  assert.deepEqual(cs.prompt.points[0], { x: 1, y: 1, label: 1 });

  const empty = ascii('...\n...');
  for (const mode of ['faithful', 'corrected'] as const) {
    const e = simulatePrompt(empty, 'S6', mode);
    assert.ok(!e.ok && e.failure === 'empty-object');
  }
});

test('S1 returns the everything-mode parameters', () => {
  const r = simulatePrompt(rect, 'S1', 'faithful');
  assert.ok(r.ok);
  assert.deepEqual(r.everything, EVERYTHING_MODE);
  assert.equal(EVERYTHING_MODE.pointsPerSide, 32);
  assert.equal(EVERYTHING_MODE.predIouThresh, 0.88);
  assert.equal(EVERYTHING_MODE.stabilityScoreThresh, 0.95);
  assert.equal(EVERYTHING_MODE.stabilityScoreOffset, 1.0);
  assert.equal(EVERYTHING_MODE.boxNmsThresh, 0.7);
  assert.equal(EVERYTHING_MODE.pointsPerBatch, 64);
});

test('a mask whose data does not match its size is rejected', () => {
  assert.throws(
    () => promptGeometry({ width: 3, height: 3, data: new Uint8Array(8) }, 'faithful'),
    PromptError,
  );
});
