import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddingCache } from '../../../gateway/src/sam/embedding-cache.ts';

const meta = (id: string) => ({
  id,
  model: 'm',
  modelVersion: '1',
  width: 4,
  height: 4,
  tensors: [{ name: 'image_embeddings', shape: [1, 2, 2] }],
});

test('evicts least recently used entries to stay within the byte budget', () => {
  const cache = new EmbeddingCache({ capacityBytes: 3 * 16, fp16: false, ttlMs: 60_000 });
  for (const id of ['a', 'b', 'c']) cache.set(meta(id), [new Float32Array(4).fill(1)]);
  assert.ok(cache.lookup('a')); // a is now the most recent
  cache.set(meta('d'), [new Float32Array(4)]);
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
  cache.set(meta('big'), [new Float32Array(4)]);
  assert.equal(cache.lookup('big'), undefined);
  assert.equal(cache.get('big'), undefined, 'get does not count');
  assert.equal(cache.stats().misses, 1);
  assert.equal(cache.stats().entries, 0);
});

test('expires entries after the time-to-live since last use', () => {
  let now = 1000;
  const cache = new EmbeddingCache({ capacityBytes: 1024, fp16: false, ttlMs: 100, now: () => now });
  cache.set(meta('a'), [new Float32Array(4)]);
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
  cache.set(meta('h'), [values]);
  assert.equal(cache.stats().bytes, values.length * 2);
  const back = cache.get('h')!.tensors[0].data;
  for (let i = 0; i < values.length; i++) {
    assert.ok(
      Math.abs(back[i] - values[i]) <= Math.abs(values[i]) * 1e-3 + 1e-4,
      `${values[i]} -> ${back[i]}`,
    );
  }
});

test('an embedding is a list of named tensors (SAM 2 has several); each comes back under its name', () => {
  const cache = new EmbeddingCache({ capacityBytes: 1024, fp16: false, ttlMs: 60_000 });
  const m = {
    ...meta('multi'),
    tensors: [
      { name: 'image_embed', shape: [1, 2, 2] },
      { name: 'high_res_feats_0', shape: [1, 2, 4] },
    ],
  };
  cache.set(m, [new Float32Array(4).fill(1), new Float32Array(8).fill(2)]);
  const back = cache.get('multi')!;
  assert.deepEqual(
    back.tensors.map((t) => [t.name, t.shape, t.data.length, t.data[0]]),
    [
      ['image_embed', [1, 2, 2], 4, 1],
      ['high_res_feats_0', [1, 2, 4], 8, 2],
    ],
  );
  assert.equal(cache.stats().bytes, 48);
  assert.throws(() => cache.set(m, [new Float32Array(4)]), /1 payloads for 2 tensors/);
});
