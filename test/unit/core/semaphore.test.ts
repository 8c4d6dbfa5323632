/** The semaphore that bounds decodes at once: permits, arrival order, a bounded line, idempotent release. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Semaphore, SemaphoreFullError } from '../../../gateway/src/core/semaphore.ts';

test('at most `permits` holders, waiters served in arrival order, a full line refused', async () => {
  const s = new Semaphore(2, 2);
  const a = await s.acquire();
  const b = await s.acquire();
  assert.equal(s.active, 2);
  const order: string[] = [];
  const c = s.acquire().then((r) => (order.push('c'), r));
  const d = s.acquire().then((r) => (order.push('d'), r));
  assert.equal(s.queued, 2);
  await assert.rejects(s.acquire(), SemaphoreFullError);
  a();
  a(); // a second release of the same permit changes nothing
  const releaseC = await c;
  assert.deepEqual(order, ['c']);
  assert.equal(s.active, 2);
  b();
  const releaseD = await d;
  assert.deepEqual(order, ['c', 'd']);
  releaseC();
  releaseD();
  assert.equal(s.active, 0);
  assert.equal(await s.run(() => 7), 7);
  assert.equal(s.active, 0);
  await assert.rejects(
    s.run(() => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(s.active, 0, 'a failing holder releases too');
  assert.throws(() => new Semaphore(0, 1), RangeError);
});
