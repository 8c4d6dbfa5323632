import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labelComponents, largestComponent } from '../../../gateway/src/core/connected-components.ts';
import type { BinaryMask } from '../../../gateway/src/core/mask.ts';
import { ascii, randomMask } from './ascii-mask.ts';

test('4- and 8-connectivity on a small picture', () => {
  const m = ascii(`
    ##..#
    .#.#.
    ...#.
    #....`);
  const four = labelComponents(m, 4);
  assert.equal(four.count, 4);
  assert.deepEqual(four.sizes, [3, 1, 2, 1]);
  assert.deepEqual(Array.from(four.labels), [1, 1, 0, 0, 2, 0, 1, 0, 3, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0]);
  const eight = labelComponents(m, 8);
  assert.equal(eight.count, 3);
  assert.deepEqual(eight.sizes, [3, 3, 1]);
});

test('a U shape joins late: labels still follow first-pixel order', () => {
  const u = ascii(`
    #.#.#
    #.#.#
    #####`);
  const c = labelComponents(u, 4);
  assert.equal(c.count, 1);
  assert.equal(c.sizes[0], 11);
});

/** Flood fill reference. */
function reference(m: BinaryMask, conn: 4 | 8): { count: number; labels: Int32Array } {
  const labels = new Int32Array(m.width * m.height);
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    if (m.data[i] === 0 || labels[i] !== 0) continue;
    count++;
    const stack = [i];
    labels[i] = count;
    while (stack.length) {
      const j = stack.pop() as number;
      const x = j % m.width;
      const y = (j - x) / m.width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          if ((dx === 0 && dy === 0) || (conn === 4 && dx !== 0 && dy !== 0)) continue;
          const xx = x + dx;
          const yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= m.width || yy >= m.height) continue;
          const k = yy * m.width + xx;
          if (m.data[k] !== 0 && labels[k] === 0) {
            labels[k] = count;
            stack.push(k);
          }
        }
      }
    }
  }
  return { count, labels };
}

test('matches a flood fill on random masks', () => {
  for (let s = 0; s < 30; s++) {
    const m = randomMask(7 + (s % 9), 5 + (s % 7), 0.35 + (s % 4) * 0.1, 900 + s);
    for (const conn of [4, 8] as const) {
      const got = labelComponents(m, conn);
      const want = reference(m, conn);
      assert.equal(got.count, want.count);
      assert.deepEqual(got.labels, want.labels);
    }
  }
});

test('largest component, ties to the first', () => {
  const m = ascii(`
    ##..
    ...#
    ...#`);
  assert.deepEqual(
    largestComponent(m),
    ascii(`
    ##..
    ....
    ....`),
  );
  assert.equal(largestComponent(ascii('..\n..')), null);
});
