import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StoreRateLimiter } from '../../../gateway/src/api/rate-limit.ts';
import { StoreError } from '../../../gateway/src/store/state-store.ts';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';

test('store rate limiter: two replicas on one store share each caller bucket, with Retry-After', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-rate-'));
  const a = new SqliteStore(join(dir, 's.sqlite'));
  const b = new SqliteStore(join(dir, 's.sqlite'));
  try {
    const la = new StoreRateLimiter(a, { ratePerSecond: 0.25, burst: 2 });
    const lb = new StoreRateLimiter(b, { ratePerSecond: 0.25, burst: 2 });
    assert.deepEqual(await la.take('key1'), { allowed: true });
    assert.deepEqual(await lb.take('key1'), { allowed: true });
    // The burst is spent across both replicas: the next request waits 1 / 0.25 = 4 s at most.
    const refused = await la.take('key1');
    assert.equal(refused.allowed, false);
    assert.ok(!refused.allowed && refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 4);
    assert.deepEqual(await lb.take('key2'), { allowed: true }, 'callers have their own buckets');
    assert.deepEqual(await new StoreRateLimiter(a, { ratePerSecond: 0, burst: 1 }).take('x'), {
      allowed: true,
    });
  } finally {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('store rate limiter: an unreachable store falls back to a bucket in this process', async () => {
  let calls = 0;
  const down = {
    takeToken: async () => {
      calls += 1;
      throw new StoreError('database unavailable: ECONNREFUSED', 'UNAVAILABLE');
    },
  };
  const l = new StoreRateLimiter(down, { ratePerSecond: 0.1, burst: 1 });
  assert.deepEqual(await l.take('k'), { allowed: true });
  const second = await l.take('k');
  assert.equal(second.allowed, false, 'neither open nor closed: the local bucket still limits');
  assert.equal(calls, 2, 'the store is tried every time, so sharing resumes when it returns');
});
