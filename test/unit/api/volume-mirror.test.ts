import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { VolumeJobStore, type VolumeProgressEvent } from '../../../gateway/src/api/propagation-jobs.ts';
import { PubSub } from '../../../gateway/src/api/pubsub.ts';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('volume jobs mirrored: another replica reads, streams and cancels; a dead replica job is reported failed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-volume-mirror-'));
  const file = join(dir, 's.sqlite');
  const storeA = new SqliteStore(file);
  const storeB = new SqliteStore(file);
  try {
    const a = new VolumeJobStore<{ slices: number }>(new PubSub(), { maxJobs: 4 });
    const b = new VolumeJobStore<{ slices: number }>(new PubSub(), { maxJobs: 4 });
    await a.attach({ store: storeA, ttlMs: 60_000 });
    await b.attach({ store: storeB, ttlMs: 60_000 });

    // A job that finishes: its progress and outcome are readable on B.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const done = a.start(async (rep) => {
      rep.progress(1, 3, 0, 10);
      await gate;
      rep.progress(2, 3, 1, 12);
      rep.progress(3, 3, 2, 9);
      return { slices: 3 };
    });
    await until(async () => (await b.findShared(done.id))?.slicesDone === 1, 'the first slice on B');
    assert.equal(b.find(done.id), undefined, 'B does not run the job');
    const seen: VolumeProgressEvent[] = [];
    const streaming = (async () => {
      for await (const e of b.sharedEvents(done.id, 50)) seen.push(e);
    })();
    await new Promise((r) => setTimeout(r, 50));
    release();
    await streaming;
    const last = seen.at(-1)!;
    assert.equal(last.status, 'SUCCEEDED');
    assert.equal(last.done, true);
    const read = await b.findShared(done.id);
    assert.deepEqual(read?.result, { slices: 3 });
    assert.equal(await b.cancelShared(done.id), false, 'a finished job is not cancelled');

    // A job cancelled from B stops on A.
    const long = a.start(async (rep) => {
      for (let i = 0; i < 1000 && !rep.signal.aborted; i++) {
        rep.progress(i + 1, 1000, i, 1);
        await new Promise((r) => setTimeout(r, 5));
      }
      return rep.signal.aborted ? undefined : { slices: 1000 };
    });
    await until(
      async () => ((await b.findShared(long.id))?.slicesDone ?? 0) >= 2,
      'progress of the long job',
    );
    assert.equal(await b.cancelShared(long.id), true);
    await until(() => a.find(long.id)?.status === 'CANCELLED', 'the job on A to stop');

    // Owners hold on every replica: another caller's job reads as unknown and cannot be cancelled, an admin
    // sees it, and the per-caller bound counts the running jobs of every replica.
    const alice = { id: 'key:alice', admin: false };
    const mallory = { id: 'key:mallory', admin: false };
    let stop!: () => void;
    const held = new Promise<void>((r) => (stop = r));
    const owned = a.start(
      async (rep) => {
        rep.progress(1, 2, 0, 1);
        await held;
        return { slices: 2 };
      },
      alice.id,
      2,
    );
    await until(async () => (await b.findShared(owned.id, alice))?.slicesDone === 1, 'alice job on B');
    assert.equal(await b.findShared(owned.id, mallory), undefined);
    assert.equal((await b.findShared(owned.id, { id: 'key:root', admin: true }))?.owner, alice.id);
    await assert.rejects(b.cancelShared(owned.id, mallory), /unknown or was evicted/);
    await b.checkSharedQuota(alice.id, 2);
    await assert.rejects(b.checkSharedQuota(alice.id, 1), /limit 1 per caller/);
    await b.checkSharedQuota(mallory.id, 1);
    stop();
    await until(async () => (await b.findShared(owned.id, alice))?.status === 'SUCCEEDED', 'alice job done');
    await a.flush(owned.id);
    await b.checkSharedQuota(alice.id, 1);
    await assert.rejects(b.cancelShared('nope'), /unknown or was evicted/);

    // A record left RUNNING by a replica that stopped writing long ago reads as failed, not running forever.
    await storeA.putRecord({
      namespace: 'volume',
      key: 'orphan',
      value: {
        status: 'RUNNING',
        updatedAtMs: Date.now() - 3_600_000,
        slicesDone: 4,
        slicesPlanned: 9,
        createdAtMs: Date.now() - 3_700_000,
        finishedAtMs: null,
        result: null,
        error: null,
      },
      bytes: null,
      expiresMs: Date.now() + 60_000,
    });
    const orphan = await b.findShared('orphan');
    assert.equal(orphan?.status, 'FAILED');
    assert.match(orphan?.error?.message ?? '', /replica running this volume job stopped/);
    const events: VolumeProgressEvent[] = [];
    for await (const e of b.sharedEvents('orphan', 50)) events.push(e);
    assert.deepEqual(
      events.map((e) => [e.status, e.done]),
      [['FAILED', true]],
    );
  } finally {
    await storeA.close();
    await storeB.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
