import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LowResStore } from '../../../gateway/src/api/low-res-store.ts';

const logits = (n: number) => ({ size: Math.sqrt(n), data: new Float32Array(n) });

test('keeps at most maxBytes of logits, dropping the least recently used', () => {
  const store = new LowResStore({ maxBytes: 3 * 64, ttlMs: 60_000 });
  const a = store.put(logits(16), 'm');
  const b = store.put(logits(16), 'm');
  const c = store.put(logits(16), 'm');
  assert.ok(store.get(a), 'a is now the most recently used');
  const d = store.put(logits(16), 'm');
  assert.equal(store.get(b), undefined, 'b was the least recently used');
  for (const id of [a, c, d]) assert.ok(store.get(id));
});

test('expires handles after the time-to-live since last use', () => {
  let now = 0;
  const store = new LowResStore({ maxBytes: 1024, ttlMs: 100, now: () => now });
  const a = store.put(logits(4), 'm');
  now = 90;
  assert.equal(store.get(a)?.model, 'm');
  now = 180;
  assert.ok(store.get(a), 'the get at 90 refreshed it');
  now = 400;
  assert.equal(store.get(a), undefined);
  assert.equal(store.get('lr_unknown'), undefined);
});
