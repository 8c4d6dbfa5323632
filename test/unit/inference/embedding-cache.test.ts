import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddingCache } from '../../../gateway/src/inference/embedding-cache.ts';

const meta = (id: string) => ({
  id,
  model: 'm',
  modelVersion: '1',
  width: 4,
  height: 4,
  shape: [1, 2, 2] as [number, number, number],
});

test('evicts least recently used entries to stay within the byte budget', () => {
  const cache = new EmbeddingCache({ capacityBytes: 3 * 16, fp16: false, ttlMs: 60_000 });
  for (const id of ['a', 'b', 'c']) cache.set(meta(id), new Float32Array(4).fill(1));
  assert.ok(cache.lookup('a')); // a is now the most recent
  cache.set(meta('d'), new Float32Array(4));
  assert.equal(cache.peek('b'), undefined, 'b was least recently used');
  assert.ok(cache.peek('a'));
  assert.ok(cache.peek('c'));
  assert.ok(cache.peek('d'));
  const s = cache.stats();
  assert.equal(s.entries, 3);
  assert.equal(s.bytes, 48);
  assert.equal(s.evictions, 1);
  assert.equal(s.hits, 1);
});

test('counts misses, and entries larger than the budget are not stored', () => {
  const cache = new EmbeddingCache({ capacityBytes: 8, fp16: false, ttlMs: 60_000 });
  cache.set(meta('big'), new Float32Array(4));
  assert.equal(cache.lookup('big'), undefined);
  assert.equal(cache.get('big'), undefined, 'get does not count');
  assert.equal(cache.stats().misses, 1);
  assert.equal(cache.stats().entries, 0);
});

test('expires entries after the time-to-live since last use', () => {
  let now = 1000;
  const cache = new EmbeddingCache({ capacityBytes: 1024, fp16: false, ttlMs: 100, now: () => now });
  cache.set(meta('a'), new Float32Array(4));
  now = 1090;
  assert.ok(cache.get('a'), 'still alive, and its expiry is refreshed');
  now = 1180;
  assert.ok(cache.peek('a'));
  now = 1300;
  assert.equal(cache.peek('a'), undefined);
});

test('fp16 storage halves the bytes and round-trips within fp16 precision', () => {
  const cache = new EmbeddingCache({ capacityBytes: 1024, fp16: true, ttlMs: 60_000 });
  const values = Float32Array.from([0, 1, -2.5, 0.1, 1000.5, -0.0001, 65504, 3.14159]);
  cache.set(meta('h'), values);
  assert.equal(cache.stats().bytes, values.length * 2);
  const back = cache.get('h')!.data;
  for (let i = 0; i < values.length; i++) {
    assert.ok(
      Math.abs(back[i] - values[i]) <= Math.abs(values[i]) * 1e-3 + 1e-4,
      `${values[i]} -> ${back[i]}`,
    );
  }
});
