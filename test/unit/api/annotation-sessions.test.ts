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

test('the store changes a session history: actions and masks stay parallel through undo and reset', () => {
  const store = new SessionStore({ maxSessions: 2, ttlMs: 1000 });
  const s = store.create('m', 'e', 10, 10);
  const mask = (index: number) => ({
    mask: { width: 1, height: 1, data: new Uint8Array([index]) },
    predictedIou: 0.5,
    stabilityScore: 0.5,
    index,
    lowRes: { size: 0, data: new Float32Array(0) },
  });
  assert.equal(store.current(s), undefined);
  store.addAction(s, { kind: 'click', point: { x: 1, y: 1, label: 1 } });
  store.recordMask(s, mask(1), 'lr1');
  store.addAction(s, { kind: 'box', box: [0, 0, 5, 5] });
  store.recordMask(s, mask(2), 'lr2');
  assert.deepEqual(
    [store.current(s)?.mask.index, store.current(s)?.lowResId, s.actions.length],
    [2, 'lr2', 2],
  );
  // An action whose decode gave no mask leaves the masks one behind; undo then pops the action only.
  store.addAction(s, { kind: 'click', point: { x: 2, y: 2, label: 0 } });
  store.undo(s);
  assert.deepEqual([s.actions.length, s.masks.length, store.current(s)?.lowResId], [2, 2, 'lr2']);
  store.undo(s);
  assert.deepEqual([s.actions.length, s.masks.length, s.lowResIds], [1, 1, ['lr1']]);
  store.reset(s);
  assert.deepEqual([s.actions, s.masks, s.lowResIds, store.current(s)], [[], [], [], undefined]);
  store.undo(s);
  assert.equal(s.actions.length, 0, 'undo on an empty history does nothing');
});

test('the click limit counts clicks only, not boxes', () => {
  const store = new SessionStore({ maxSessions: 1, ttlMs: 1000 });
  const s = store.create('m', 'e', 10, 10);
  store.addAction(s, { kind: 'click', point: { x: 1, y: 1, label: 1 } });
  store.addAction(s, { kind: 'box', box: [0, 0, 5, 5] });
  store.checkClickRoom(s, 2);
  store.addAction(s, { kind: 'click', point: { x: 2, y: 2, label: 1 } });
  assert.throws(
    () => store.checkClickRoom(s, 2),
    (e: unknown) =>
      e instanceof ApiError && e.code === 'LIMIT_EXCEEDED' && /at most 2 clicks/.test(e.message),
  );
});
