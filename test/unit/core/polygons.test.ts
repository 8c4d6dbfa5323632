import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskToPolygons } from '../../../gateway/src/core/polygons.ts';

const mask = (rows: string[]) => ({
  width: rows[0].length,
  height: rows.length,
  data: Uint8Array.from(rows.join('').split(''), (c) => (c === '#' ? 1 : 0)),
});

test('a square becomes its four pixel corners', () => {
  assert.deepEqual(maskToPolygons(mask(['....', '.##.', '.##.', '....'])), [[1, 1, 3, 1, 3, 3, 1, 3]]);
});

test('an L shape keeps its concave corner; separate components give separate polygons', () => {
  assert.deepEqual(maskToPolygons(mask(['##.', '#..', '..#'])), [
    [0, 0, 2, 0, 2, 1, 1, 1, 1, 2, 0, 2],
    [2, 2, 3, 2, 3, 3, 2, 3],
  ]);
});

test('a ring reports its outer boundary only; an empty mask gives none', () => {
  assert.deepEqual(maskToPolygons(mask(['###', '#.#', '###'])), [[0, 0, 3, 0, 3, 3, 0, 3]]);
  assert.deepEqual(maskToPolygons(mask(['...', '...'])), []);
});
