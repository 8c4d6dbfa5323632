import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  JITTER_BANDS,
  enlargeBox,
  jitterPrompt,
  parseJitterBand,
  shiftBox,
  shiftPoint,
} from '../../../gateway/src/core/prompt-random.ts';
import { createRng } from '../../../gateway/src/core/random.ts';

test('the generator is deterministic per seed and uniform-looking', () => {
  const a = createRng(42);
  const b = createRng(42);
  const c = createRng(43);
  const xs = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(
    xs,
    Array.from({ length: 5 }, () => b.next()),
  );
  assert.notDeepEqual(
    xs,
    Array.from({ length: 5 }, () => c.next()),
  );
  const r = createRng(1);
  let sum = 0;
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 20000; i++) {
    const v = r.next();
    assert.ok(v >= 0 && v < 1);
    sum += v;
    buckets[r.int(10)]++;
  }
  assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01);
  assert.ok(buckets.every((n) => n > 1800 && n < 2200));
  const resumed = createRng(r.state(), true);
  assert.equal(resumed.next(), r.next());
  assert.throws(() => createRng(NaN), RangeError);
  assert.throws(() => r.int(0), RangeError);
});

test('point shifts stay within the band (before clamping) and are reproducible', () => {
  const rng = createRng(7);
  for (const band of Object.values(JITTER_BANDS)) {
    for (let i = 0; i < 200; i++) {
      const p = shiftPoint({ x: 500, y: 500, label: 1 as const }, band, rng, 1000, 1000);
      const d = Math.hypot(p.x - 500, p.y - 500);
      // Rounding each coordinate moves the point by at most sqrt(0.5).
      assert.ok(d >= band[0] - 0.71 && d <= band[1] + 0.71, `d=${d} band=${band}`);
      assert.equal(p.label, 1);
    }
  }
  const p1 = shiftPoint({ x: 3, y: 3 }, [20, 30], createRng(5), 10, 10);
  const p2 = shiftPoint({ x: 3, y: 3 }, [20, 30], createRng(5), 10, 10);
  assert.deepEqual(p1, p2);
  assert.ok(p1.x >= 0 && p1.x <= 9 && p1.y >= 0 && p1.y <= 9);
});

test('box enlargement moves every edge outward within the band, clamped to the image', () => {
  const rng = createRng(11);
  for (let i = 0; i < 100; i++) {
    const b = enlargeBox([100, 100, 200, 150], [10, 20], rng, 400, 300);
    assert.ok(b[0] <= 90 && b[0] >= 80);
    assert.ok(b[1] <= 90 && b[1] >= 80);
    assert.ok(b[2] >= 210 && b[2] <= 220);
    assert.ok(b[3] >= 160 && b[3] <= 170);
  }
  assert.deepEqual(enlargeBox([2, 3, 7, 8], [20, 30], rng, 10, 10), [0, 0, 9, 9]);
  const s = shiftBox([100, 100, 200, 150], [0, 10], rng, 400, 300);
  assert.equal(s[2] - s[0], 100);
  assert.equal(s[3] - s[1], 50);
});

test('jitterPrompt moves the first point and the box only', () => {
  const prompt = {
    points: [
      { x: 50, y: 50, label: 1 as const },
      { x: 10, y: 10, label: 0 as const },
    ],
    box: [40, 40, 60, 60] as [number, number, number, number],
  };
  const out = jitterPrompt(prompt, { band: [10, 20], rng: createRng(3), width: 100, height: 100 });
  assert.notDeepEqual(out.points[0], prompt.points[0]);
  assert.deepEqual(out.points[1], prompt.points[1]);
  assert.ok(out.box && out.box[0] < 40 && out.box[2] > 60);
  assert.deepEqual(jitterPrompt(prompt, { band: [10, 20], rng: createRng(3), width: 100, height: 100 }), out);
});

test('bands parse from "lo-hi" text', () => {
  assert.deepEqual(parseJitterBand('10-20'), [10, 20]);
  assert.deepEqual(parseJitterBand(' 0 - 10 '), [0, 10]);
  assert.throws(() => parseJitterBand('20-10'), /lo <= hi/);
  assert.throws(() => parseJitterBand('ten'), RangeError);
});
