import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionStore, sessionPrompts } from '../../../gateway/src/api/annotation-sessions.ts';
import { ApiError } from '../../../gateway/src/api/errors.ts';

test('bounds the number of open sessions and frees expired ones', () => {
  let now = 0;
  const store = new SessionStore({ maxSessions: 2, ttlMs: 100, now: () => now });
  const a = store.create('m', 'e', 10, 10);
  store.create('m', 'e', 10, 10);
  assert.throws(
    () => store.create('m', 'e', 10, 10),
    (e: unknown) => e instanceof ApiError && e.code === 'LIMIT_EXCEEDED',
  );
  now = 50;
  store.get(a.id); // refreshes a
  now = 120;
  assert.equal(store.size, 1, 'the untouched session expired');
  store.create('m', 'e', 10, 10);
  now = 400;
  assert.throws(
    () => store.get(a.id),
    (e: unknown) => e instanceof ApiError && e.code === 'SESSION_NOT_FOUND',
  );
});

test('prompts add up every click and the latest box', () => {
  const p = sessionPrompts([
    { kind: 'click', point: { x: 1, y: 2, label: 1 } },
    { kind: 'box', box: [0, 0, 5, 5] },
    { kind: 'click', point: { x: 3, y: 3, label: 0 } },
    { kind: 'box', box: [1, 1, 4, 4] },
  ]);
  assert.deepEqual(p.points, [
    { x: 1, y: 2, label: 1 },
    { x: 3, y: 3, label: 0 },
  ]);
  assert.deepEqual(p.box, [1, 1, 4, 4]);
});
