import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  VolumeJobStore,
  type JobReporter,
  type VolumeProgressEvent,
} from '../../../gateway/src/api/propagation-jobs.ts';
import { PubSub } from '../../../gateway/src/api/pubsub.ts';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('volume jobs mirrored: another replica reads, streams and cancels; an unleased dead job reads as failed', async () => {
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
    // A reservation takes a slot until it is started or given back.
    const slot = await b.checkSharedQuota(alice.id, 2);
    assert.ok(slot);
    await assert.rejects(b.checkSharedQuota(alice.id, 2), /limit 2 per caller/);
    await b.releaseReservation(alice.id, slot);
    await assert.rejects(b.checkSharedQuota(alice.id, 1), /limit 1 per caller/);
    await b.releaseReservation(mallory.id, (await b.checkSharedQuota(mallory.id, 1))!);
    stop();
    await until(async () => (await b.findShared(owned.id, alice))?.status === 'SUCCEEDED', 'alice job done');
    await a.flush(owned.id);
    await b.releaseReservation(alice.id, (await b.checkSharedQuota(alice.id, 1))!);
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

test('volume jobs leased: a handed-off or lost lease is taken over once, from the stored input, and the old holder writes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-volume-lease-'));
  const file = join(dir, 's.sqlite');
  const stores = [new SqliteStore(file), new SqliteStore(file), new SqliteStore(file)];
  type Out = { slices: number; by: string };
  const ran: Array<{ by: string; spec: unknown }> = [];
  // The work a job's input describes: `slices` slices, each a few ms (a second on the replicas that lose the
  // job, so that they still run when they lose it), stopping when cancelled.
  const runner =
    (by: string) =>
    async (spec: unknown, rep: JobReporter): Promise<Out | undefined> => {
      ran.push({ by, spec });
      const { slices, gate } = spec as { slices: number; gate?: boolean };
      for (let i = 0; i < slices && !rep.signal.aborted; i++) {
        rep.progress(i + 1, slices, i, 1);
        await new Promise((r) => setTimeout(r, gate && by !== 'b' && by !== 'c' ? 1000 : 5));
      }
      return rep.signal.aborted ? undefined : { slices, by };
    };
  const replicas = ['a', 'b', 'c'].map(() => new VolumeJobStore<Out>(new PubSub(), { maxJobs: 8 }));
  try {
    await Promise.all(
      replicas.map((r, i) =>
        r.attach({ store: stores[i], ttlMs: 60_000, leaseMs: 300, replicaId: `r${i}` }, runner('abc'[i])),
      ),
    );
    const [a, b, c] = replicas;
    // Started on A with its input; A stops (a shutdown hands the job off): one of B and C takes it over.
    const spec = { slices: 40, gate: true };
    const reserved = await a.checkSharedQuota('key:alice', 1);
    const job = a.start((rep) => runner('a')(spec, rep), 'key:alice', 1, { id: reserved, spec });
    assert.equal(job.id, reserved, 'the reserved id is the job id');
    await until(async () => ((await c.findShared(job.id))?.slicesDone ?? 0) >= 1, 'progress on A');
    await a.cancelAll();
    const done = await (async () => {
      let j: Awaited<ReturnType<typeof c.findShared>>;
      await until(async () => (j = await c.findShared(job.id))?.status === 'SUCCEEDED', 'the job taken over');
      return j!;
    })();
    const takers = ran.filter((r) => r.by !== 'a');
    assert.equal(takers.length, 1, `taken over exactly once: ${JSON.stringify(ran)}`);
    assert.deepEqual(takers[0].spec, spec, 'run again from the stored input');
    assert.deepEqual(done.result, { slices: 40, by: takers[0].by });
    assert.equal(done.owner, 'key:alice', 'the owner is kept');
    await until(() => a.find(job.id) === undefined, 'A to forget the job it handed off');
    // Its slot is given back when it ends; the lease and input records are gone.
    await until(async () => (await stores[0].countRecords('volume-owner')) === 0, 'the slot back');
    assert.equal(await stores[0].countRecords('volume-lease'), 0);
    assert.equal(await stores[0].countRecords('volume-spec'), 0);

    // A holder paused past its lease (here: its lease rewritten as expired behind its back) loses the job to
    // one other replica, stops at its next renewal, and never writes over the new holder.
    ran.length = 0;
    const slow = { slices: 3, gate: true };
    const second = b.start((rep) => runner('b-paused')(slow, rep), 'key:bob', 1, { spec: { slices: 3 } });
    await b.flush(second.id);
    await until(
      async () => (await stores[0].getRecord('volume-lease', second.id)) !== undefined,
      'the lease',
    );
    const lease = (await stores[0].getRecord('volume-lease', second.id))!;
    await stores[0].putRecord({ ...lease, value: { replica: 'r1', untilMs: 0 } });
    const ended = await (async () => {
      let j: Awaited<ReturnType<typeof a.findShared>>;
      await until(
        async () => (j = await a.findShared(second.id))?.status === 'SUCCEEDED',
        'the job finished by the new holder',
      );
      return j!;
    })();
    assert.notEqual(ended.result?.by, 'b-paused');
    await until(() => b.find(second.id) === undefined, 'B to stop and forget the job');
    assert.equal((await a.findShared(second.id))?.result?.by, ended.result?.by, 'B wrote nothing after');
    assert.equal(ran.filter((r) => r.by !== 'b-paused').length, 1);

    // A cancel sent while nobody runs the job (its holder died) ends it cancelled when it is taken over.
    const third = c.start(async (rep) => {
      await new Promise((r) => setTimeout(r, 60_000));
      return rep.signal.aborted ? undefined : { slices: 0, by: 'never' };
    });
    await c.flush(third.id);
    const held = (await stores[0].getRecord('volume-lease', third.id))!;
    // Its lease lapses as if C had died (C's own renewals now fail too).
    await stores[0].putRecord({ ...held, value: { replica: 'gone', untilMs: Number.MAX_SAFE_INTEGER } });
    assert.equal(await a.cancelShared(third.id), true);
    const cur = (await stores[0].getRecord('volume-lease', third.id))!;
    await stores[0].putRecord({ ...cur, value: { replica: 'gone', untilMs: 0 } });
    await until(async () => (await b.findShared(third.id))?.status === 'CANCELLED', 'cancelled on take-over');
  } finally {
    for (const r of replicas) await r.cancelAll();
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("volume jobs: of two replicas racing for a caller's last slot exactly one starts a job", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-volume-race-'));
  const file = join(dir, 's.sqlite');
  const stores = [new SqliteStore(file), new SqliteStore(file)];
  const replicas = stores.map(() => new VolumeJobStore<number>(new PubSub(), { maxJobs: 8 }));
  try {
    await Promise.all(replicas.map((r, i) => r.attach({ store: stores[i], ttlMs: 60_000 })));
    for (let round = 0; round < 5; round++) {
      const tries = await Promise.allSettled(
        [0, 1, 0, 1].map((i) => replicas[i].checkSharedQuota(`key:r${round}`, 1)),
      );
      assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 1, JSON.stringify(tries));
      for (const t of tries)
        if (t.status === 'rejected') assert.match(String(t.reason), /limit 1 per caller/);
    }
  } finally {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
