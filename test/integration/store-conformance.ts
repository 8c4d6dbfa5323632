/**
 * One conformance suite for every StateStore implementation (SQLite and PostgreSQL): datasets, jobs, leases,
 * cancel requests, prompts, samples exactly once, curves, expiring records with compare-and-set, events, and
 * fine-tuning jobs (atomic per-caller bound, fenced writes, leases).
 * `open` returns a fresh, empty, migrated store each call; several calls of one suite may share a database
 * (they model replicas) when `shared` is set.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { normalizeConfig } from '../../gateway/src/bench/runner.ts';
import type { SampleRecord } from '../../gateway/src/bench/types.ts';
import { LATEST_SCHEMA_VERSION } from '../../gateway/src/store/migrations.ts';
import {
  sampleKey,
  StoreError,
  type FineTuneConfig,
  type StateStore,
} from '../../gateway/src/store/state-store.ts';

/** What a suite needs from an implementation. */
export interface StoreFactory {
  /** A fresh empty database, and a function that opens another store (a replica) on it. */
  fresh(): Promise<{ open(): Promise<StateStore> }>;
  /** Called once after every test. */
  cleanup(): Promise<void>;
}

/** A sample with plausible values. */
export function sample(overrides: Partial<SampleRecord> = {}): SampleRecord {
  const metrics = { dice: 0.5, iou: 1 / 3, hd: 4, hd95: 3.5, asd: 1.25, assd: 1.5, nsd: Number.NaN };
  return {
    jobId: 'j',
    model: 'm',
    strategy: 'S2',
    variant: 0,
    objectId: 'img#1',
    imageId: 'img',
    classValue: 1,
    className: 'liver',
    modality: 'CT',
    status: 'ok',
    failureReason: null,
    oracle: { candidateIndex: 1, predictedIou: 0.9, metrics },
    deployable: { candidateIndex: 2, predictedIou: 0.95, metrics: { ...metrics, dice: 0.4 } },
    candidates: [{ index: 1, dice: 0.5, predictedIou: 0.9 }],
    factors: { size: 100, aspectRatio: 1, intensityDifference: 12, boundaryComplexity: 3 },
    prompt: { points: [{ x: 1, y: 2, label: 1 }] },
    segmenterMs: 1,
    totalMs: 2,
    ...overrides,
  };
}

async function withDataset(store: StateStore, id = 'd'): Promise<void> {
  await store.putDataset({
    id,
    name: `name of ${id}`,
    root: '/x',
    layout: 'cosmos',
    modality: 'CT',
    options: { axis: 2 },
    stats: { images: 3 },
    problems: [{ file: 'a', problem: 'b' }],
  });
}

const config = normalizeConfig({ dataset: 'd', models: ['m'], strategies: ['S2', 'S5'] });

/** Waits for `check` to hold, polling, with a generous deadline. */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Registers the suite under `name`. */
export function defineStoreSuite(name: string, factory: () => Promise<StoreFactory>): void {
  describe(`state store conformance: ${name}`, async () => {
    const f = await factory();
    after(() => f.cleanup());
    const opened: StateStore[] = [];
    after(async () => {
      for (const s of opened) await s.close();
    });
    const two = async (): Promise<[StateStore, StateStore]> => {
      const db = await f.fresh();
      const a = await db.open();
      const b = await db.open();
      opened.push(a, b);
      return [a, b];
    };

    test('migrated to the latest version; datasets round-trip and are replaced by id', async () => {
      const [s] = await two();
      assert.equal(await s.schemaVersion(), LATEST_SCHEMA_VERSION);
      await s.ping();
      await withDataset(s);
      await withDataset(s, 'e');
      await s.putDataset({ ...(await s.getDataset('d'))!, name: 'renamed' });
      const d = await s.getDataset('d');
      assert.equal(d?.name, 'renamed');
      assert.deepEqual(d?.options, { axis: 2 });
      assert.deepEqual(d?.problems, [{ file: 'a', problem: 'b' }]);
      assert.deepEqual(
        (await s.listDatasets()).map((x) => x.id),
        ['d', 'e'],
      );
      assert.equal(await s.getDataset('nope'), undefined);
    });

    test('jobs: create, list by status, status changes, duplicate ids and unknown jobs are typed errors', async () => {
      const [s, replica] = await two();
      await withDataset(s);
      const j = await s.createJob('j', config);
      assert.equal(j.status, 'queued');
      assert.equal(j.owner, null, 'a job started without an owner (the CLI) has none');
      const owned = await s.createJob('owned', config, undefined, 'key:alice');
      assert.equal(owned.owner, 'key:alice');
      assert.equal((await replica.getJob('owned'))?.owner, 'key:alice', 'the owner is stored, not held');
      assert.equal((await replica.listJobs()).find((x) => x.id === 'owned')?.owner, 'key:alice');
      assert.equal(j.leaseOwner, null);
      assert.equal(j.cancelRequested, false);
      assert.deepEqual(j.config, config);
      await assert.rejects(
        s.createJob('j', config),
        (e: unknown) => e instanceof StoreError && e.code === 'CONFLICT',
      );
      await s.setJobStatus('j', 'running');
      await s.setJobTotal('j', 12);
      const seen = await replica.getJob('j');
      assert.equal(seen?.status, 'running', 'a second store on the same database sees the change');
      assert.equal(seen?.total, 12);
      assert.deepEqual(
        (await replica.listJobs('running')).map((x) => x.id),
        ['j'],
      );
      assert.deepEqual(await replica.listJobs('completed'), []);
      await assert.rejects(
        s.setJobStatus('nope', 'failed'),
        (e: unknown) => e instanceof StoreError && e.code === 'NOT_FOUND',
      );
      await s.setJobStatus('j', 'failed', 'boom');
      assert.equal((await s.getJob('j'))?.error, 'boom');
    });

    test('prompts: the first writer wins', async () => {
      const [s, replica] = await two();
      const key = {
        datasetId: 'd',
        objectId: 'o',
        strategy: 'S2',
        mode: 'faithful',
        randomness: 'none',
        seed: 0,
      };
      assert.equal(await s.getPrompt(key), undefined);
      assert.deepEqual(await s.putPrompt(key, { prompt: { a: 1 }, failure: null }), {
        prompt: { a: 1 },
        failure: null,
      });
      assert.deepEqual(await replica.putPrompt(key, { prompt: { a: 2 }, failure: 'x' }), {
        prompt: { a: 1 },
        failure: null,
      });
    });

    test('samples: stored once whichever replica writes, in insertion order, with curves', async () => {
      const [s, replica] = await two();
      await withDataset(s);
      await s.createJob('j', config);
      assert.equal(
        await s.putSample(sample(), {
          protocol: 'errorRegion',
          points: [
            { click: 1, dice: 0.5, iou: 1 / 3 },
            { click: 2, dice: 0.75, iou: 0.6 },
          ],
        }),
        true,
      );
      assert.equal(
        await replica.putSample(sample({ totalMs: 99 })),
        false,
        'the same sample is never stored twice',
      );
      const results = await Promise.all(
        [s, replica, s, replica].map((st) =>
          st.putSample(
            sample({
              strategy: 'S5',
              status: 'failed',
              failureReason: 'x: y',
              oracle: null,
              deployable: null,
            }),
          ),
        ),
      );
      assert.equal(results.filter(Boolean).length, 1, 'of concurrent writers exactly one stores the sample');
      assert.equal(await s.countSamples('j'), 2);
      assert.equal(await s.countSamples('j', 'failed'), 1);
      assert.deepEqual(
        await replica.doneKeys('j'),
        new Set([sampleKey('m', 'S2', 'img#1', 0), sampleKey('m', 'S5', 'img#1', 0)]),
      );
      const [first, second] = await replica.listSamples('j');
      assert.equal(first.strategy, 'S2');
      assert.equal(second.strategy, 'S5');
      assert.equal(first.totalMs, 2);
      assert.equal(first.oracle?.metrics.nsd, null, 'NaN is stored as null');
      assert.equal(first.deployable?.metrics.dice, 0.4);
      assert.equal(first.deployable?.candidateIndex, 2);
      assert.deepEqual(first.factors, {
        size: 100,
        aspectRatio: 1,
        intensityDifference: 12,
        boundaryComplexity: 3,
      });
      assert.equal(second.oracle, null);
      assert.deepEqual(await replica.listCurves('j'), [
        {
          model: 'm',
          protocol: 'errorRegion',
          objectId: 'img#1',
          points: [
            { click: 1, dice: 0.5, iou: 1 / 3 },
            { click: 2, dice: 0.75, iou: 0.6 },
          ],
        },
      ]);
    });

    test('leases: one holder at a time, renewals, expiry, stale holders, cancel requests, release on end', async () => {
      const [a, b] = await two();
      await withDataset(a);
      await a.createJob('j', config);
      const claims = await Promise.all([a, b, a, b, a, b].map((s, i) => s.claimJob('j', `r${i}`, 60_000)));
      assert.equal(claims.filter(Boolean).length, 1, 'of concurrent claimers exactly one gets the lease');
      const owner = `r${claims.indexOf(true)}`;
      assert.equal((await b.getJob('j'))?.leaseOwner, owner);
      assert.deepEqual(await b.claimableJobs(), [], 'a live lease is not claimable');
      assert.deepEqual(await b.renewLease('j', 'other', 60_000), { held: false, cancelRequested: false });
      assert.deepEqual(await b.renewLease('j', owner, 60_000), { held: true, cancelRequested: false });
      assert.equal(await b.claimJob('j', owner, 60_000), true, 'the holder may claim again');
      // A holder that a predicate says is gone (a dead process) is replaced at once.
      assert.deepEqual(await b.claimableJobs((o) => o === owner), ['j']);
      assert.equal(await b.claimJob('j', 'new', 60_000, (o) => o === owner), true);
      assert.equal(
        (await a.renewLease('j', owner, 60_000)).held,
        false,
        'the old holder learns it lost the lease',
      );
      // Expiry.
      assert.equal(await a.claimJob('j', 'short', 50), false);
      await b.releaseLease('j', 'someone-else');
      assert.equal((await a.getJob('j'))?.leaseOwner, 'new', 'release by a non-holder is a no-op');
      await b.releaseLease('j', 'new');
      assert.equal(await a.claimJob('j', 'short', 50), true);
      await until(async () => (await b.claimableJobs()).includes('j'), 'the short lease to expire');
      assert.equal(await b.claimJob('j', 'after', 60_000), true);
      // Cancel reaches the holder through its renewal.
      assert.equal(await a.requestCancel('j'), true);
      assert.deepEqual(await b.renewLease('j', 'after', 60_000), { held: true, cancelRequested: true });
      await b.setJobStatus('j', 'cancelled');
      const ended = await a.getJob('j');
      assert.equal(ended?.leaseOwner, null, 'a terminal status drops the lease');
      assert.equal(ended?.cancelRequested, false);
      assert.equal(await a.requestCancel('j'), false, 'a finished job cannot be cancelled');
      assert.equal(await a.claimJob('j', 'x', 60_000), false, 'a finished job cannot be claimed');
      await a.setJobStatus('j', 'queued');
      assert.deepEqual(await b.claimableJobs(), ['j'], 'a resumed job is claimable again');
      // Re-queueing a finished job hands it to one replica in one step.
      assert.equal(await a.requeueJob('j', 'x', 60_000), false, 'a queued job is not re-queued');
      await a.setJobStatus('j', 'failed', 'boom');
      await a.requestCancel('j');
      const requeued = await Promise.all([a.requeueJob('j', 'ra', 60_000), b.requeueJob('j', 'rb', 60_000)]);
      assert.equal(requeued.filter(Boolean).length, 1, 'of two resumers exactly one re-queues the job');
      const back = await b.getJob('j');
      assert.equal(back?.status, 'queued');
      assert.equal(back?.error, null);
      assert.equal(back?.leaseOwner, requeued[0] ? 'ra' : 'rb');
      assert.deepEqual(await a.claimableJobs(), [], 'a re-queued job is already leased');
      assert.equal(await a.requestCancel('nope'), false);
      // Fenced writes: only the lease holder stores samples of a leased job.
      await a.releaseLease('j', (await a.getJob('j'))!.leaseOwner!);
      assert.equal(await a.claimJob('j', 'holder', 60_000), true);
      await assert.rejects(
        b.putSample(sample(), undefined, 'intruder'),
        (e: unknown) => e instanceof StoreError && e.code === 'CONFLICT',
      );
      assert.equal(await a.countSamples('j'), 0, 'a fenced-out write stores nothing');
      assert.equal(await b.putSample(sample(), undefined, 'holder'), true);
      assert.equal(await a.putSample(sample(), undefined, 'holder'), false, 'still stored once');
    });

    test('records: bytes round-trip, compare-and-set versions, sliding expiry, counts and sweeping', async () => {
      const [a, b] = await two();
      const bytes = Buffer.from([0, 1, 2, 255, 254]);
      const far = Date.now() + 60_000;
      assert.equal(
        await a.putRecord({ namespace: 'session', key: 'k1', value: { n: 1 }, bytes, expiresMs: far }, 0),
        1,
      );
      assert.equal(
        await b.putRecord(
          { namespace: 'session', key: 'k1', value: { n: 9 }, bytes: null, expiresMs: far },
          0,
        ),
        null,
        'version 0 means "must not exist"',
      );
      const got = await b.getRecord('session', 'k1');
      assert.deepEqual(got?.value, { n: 1 });
      assert.deepEqual(got?.bytes, bytes);
      assert.equal(got?.version, 1);
      const writes = await Promise.all(
        [a, b, a, b].map((s, i) =>
          s.putRecord({ namespace: 'session', key: 'k1', value: { n: i }, bytes: null, expiresMs: far }, 1),
        ),
      );
      assert.deepEqual(
        writes.filter((w) => w !== null),
        [2],
        'of concurrent writers from version 1 exactly one wins',
      );
      assert.equal(
        await a.putRecord({ namespace: 'session', key: 'k1', value: 'x', bytes: null, expiresMs: far }),
        3,
      );
      assert.equal((await a.getRecord('session', 'k1'))?.bytes, null);
      assert.equal(await a.getRecord('other', 'k1'), undefined, 'namespaces are separate');
      await a.putRecord({
        namespace: 'session',
        key: 'k2',
        value: 1,
        bytes: null,
        expiresMs: Date.now() + 100,
      });
      await a.putRecord({ namespace: 'session', key: 'z3', value: 1, bytes: null, expiresMs: null });
      assert.equal(await b.countRecords('session'), 3);
      assert.equal(await b.countRecords('session', 'k'), 2);
      const touched = await b.getRecord('session', 'k2', 60_000);
      assert.ok(touched && touched.expiresMs! > Date.now() + 30_000, 'a touch slides the expiry');
      await a.putRecord({
        namespace: 'session',
        key: 'k2',
        value: 1,
        bytes: null,
        expiresMs: Date.now() + 50,
      });
      await until(async () => (await a.getRecord('session', 'k2')) === undefined, 'the record to expire');
      assert.equal(await b.countRecords('session'), 2, 'expired records are not counted');
      assert.equal(
        await b.putRecord(
          { namespace: 'session', key: 'k2', value: 'again', bytes: null, expiresMs: far },
          0,
        ),
        1,
        'an expired record counts as absent',
      );
      await a.putRecord({
        namespace: 'session',
        key: 'k4',
        value: 1,
        bytes: null,
        expiresMs: Date.now() - 1,
      });
      assert.ok((await b.sweepRecords()) >= 1);
      assert.equal(await a.deleteRecord('session', 'k1'), true);
      assert.equal(await a.deleteRecord('session', 'k1'), false);
      assert.equal(await b.getRecord('session', 'k1'), undefined);
    });

    test("benchmark jobs: replicas racing for a caller's last job slots create exactly the slots left", async () => {
      const [a, b] = await two();
      await withDataset(a);
      await a.createJob('alice-1', config, undefined, 'key:alice', 3);
      // Eight starts on two replicas race for the two slots left of alice's bound of three.
      const race = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? a : b).createJob(`alice-r${i}`, config, undefined, 'key:alice', 3),
        ),
      );
      assert.equal(race.filter((r) => r.status === 'fulfilled').length, 2, JSON.stringify(race));
      for (const r of race)
        if (r.status === 'rejected') {
          assert.ok(r.reason instanceof StoreError && r.reason.code === 'LIMIT_EXCEEDED', String(r.reason));
          assert.match(r.reason.message, /runs 3 benchmark jobs \(limit 3 per caller\)/);
        }
      const alices = (await b.listJobs()).filter((j) => j.owner === 'key:alice');
      assert.equal(alices.length, 3, 'nothing stored for the refused starts');
      // Another caller has a bound of its own; a finished job frees its slot.
      await b.createJob('bob-1', config, undefined, 'key:bob', 3);
      await a.setJobStatus(alices[0].id, 'completed');
      await b.createJob('alice-again', config, undefined, 'key:alice', 3);
      await assert.rejects(
        a.createJob('alice-over', config, undefined, 'key:alice', 3),
        (e: unknown) => e instanceof StoreError && e.code === 'LIMIT_EXCEEDED',
      );
    });

    test('bounded records: replicas racing for the last slots of a bound take exactly the slots left', async () => {
      const [a, b] = await two();
      const entry = (key: string, expiresMs: number | null = null) => ({
        namespace: 'bound',
        key,
        value: { key },
        bytes: null,
        expiresMs,
      });
      assert.equal(await a.putRecordBounded(entry('alice|1'), 'alice|', 3), 1);
      // Eight writers on two replicas race for the two slots left.
      const race = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? a : b).putRecordBounded(entry(`alice|r${i}`), 'alice|', 3),
        ),
      );
      assert.equal(race.filter((v) => v === 1).length, 2, JSON.stringify(race));
      assert.equal(await a.countRecords('bound', 'alice|'), 3, 'nothing stored for the refused writers');
      assert.equal(await b.putRecordBounded(entry('bob|1'), 'bob|', 3), 1, 'another prefix, another bound');
      assert.equal(await b.putRecordBounded(entry('alice|1'), 'x|', 3), null, 'an existing record is kept');
      // An expired record frees its slot and can be written again.
      await a.putRecord(entry('carol|old', Date.now() + 50));
      assert.equal(await a.putRecordBounded(entry('carol|new'), 'carol|', 1), null);
      await until(async () => (await a.countRecords('bound', 'carol|')) === 0, 'the old record to expire');
      assert.equal(await b.putRecordBounded(entry('carol|old'), 'carol|', 1), 1);
      // Listing: live records of the namespace and prefix, in key order, with their values.
      const listed = await b.listRecords('bound', 'alice|');
      assert.equal(listed.length, 3);
      assert.deepEqual(
        listed.map((r) => r.key),
        listed.map((r) => r.key).sort(),
      );
      assert.deepEqual(listed[0].value, { key: listed[0].key });
      assert.equal(listed[0].version, 1);
      assert.deepEqual(
        (await a.listRecords('bound')).map((r) => r.key.split('|')[0]),
        ['alice', 'alice', 'alice', 'bob', 'carol'],
      );
      assert.deepEqual(await a.listRecords('nothing-here'), []);
    });

    test('rate buckets: burst, then refused, refilled over time, per caller, shared by every replica', async () => {
      const [a, b] = await two();
      // A refill of one token per 1000 s: nothing refills while the test runs, however slow the machine.
      const slow = 0.001;
      const taken = await Promise.all([a, b, a, b, a].map((s) => s.takeToken('k1', slow, 3)));
      assert.equal(taken.filter((t) => t.allowed).length, 3, 'a burst of 3 across two replicas, not 3 each');
      const refused = await b.takeToken('k1', slow, 3);
      assert.equal(refused.allowed, false);
      assert.ok(refused.tokens < 1 && refused.tokens >= 0);
      assert.equal((await a.takeToken('k2', slow, 3)).allowed, true, 'another caller has its own bucket');
      const once = await Promise.all([a.takeToken('k3', slow, 1), b.takeToken('k3', slow, 1)]);
      assert.equal(once.filter((t) => t.allowed).length, 1);
      assert.equal((await a.takeToken('k3', slow, 1)).allowed, false);
      // At 1000 tokens/s the bucket refills within milliseconds.
      await until(async () => (await b.takeToken('k3', 1000, 1)).allowed, 'a token refilled');
    });

    test('fine-tuning jobs: created leased, listed on every replica, patched, fenced, leased and cancelled', async () => {
      const [a, b] = await two();
      const ft = (modelName: string): FineTuneConfig => ({
        dataset: 'd',
        baseModel: 'mobilesam',
        modelName,
        split: 'auto',
        epochs: 2,
        seed: 0,
        threads: 1,
      });
      const created = await a.createFineTuneJob('f1', ft('m1'), {
        owner: 'key:alice',
        lease: { owner: 'ra', ttlMs: 60_000 },
        maxActivePerOwner: 2,
      });
      assert.equal(created.status, 'queued');
      assert.equal(created.owner, 'key:alice');
      assert.equal(created.leaseOwner, 'ra');
      assert.deepEqual(created.history, []);
      assert.equal(created.split, null);
      assert.deepEqual((await b.getFineTuneJob('f1'))?.config, ft('m1'), 'another replica reads it');
      assert.equal(await b.getFineTuneJob('nope'), undefined);
      assert.deepEqual(await b.claimableFineTuneJobs(), [], 'created leased: no sweeper takes it');
      // The model name is taken while the job is active, on every replica.
      await assert.rejects(
        b.createFineTuneJob('f2', ft('m1'), { owner: 'key:bob', lease: { owner: 'rb', ttlMs: 60_000 } }),
        (e: unknown) => e instanceof StoreError && e.code === 'CONFLICT',
      );
      await assert.rejects(
        b.createFineTuneJob('f1', ft('other'), { owner: null, lease: { owner: 'rb', ttlMs: 60_000 } }),
        (e: unknown) => e instanceof StoreError && e.code === 'CONFLICT',
      );
      // The per-caller bound holds when replicas race: of six starts with room for one more, one passes.
      const race = await Promise.allSettled(
        [a, b, a, b, a, b].map((s, i) =>
          s.createFineTuneJob(`r${i}`, ft(`race${i}`), {
            owner: 'key:alice',
            lease: { owner: 'ra', ttlMs: 60_000 },
            maxActivePerOwner: 2,
          }),
        ),
      );
      assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(race));
      for (const r of race) {
        if (r.status === 'rejected') {
          assert.ok(r.reason instanceof StoreError && r.reason.code === 'LIMIT_EXCEEDED', String(r.reason));
        }
      }
      assert.equal(
        (await a.listFineTuneJobs()).filter((j) => j.owner === 'key:alice').length,
        2,
        'nothing stored for the refused starts',
      );
      const other = await b.createFineTuneJob('fb', ft('mb'), {
        owner: 'key:bob',
        lease: { owner: 'rb', ttlMs: 60_000 },
        maxActivePerOwner: 2,
      });
      assert.equal(other.owner, 'key:bob', 'another caller has a bound of its own');
      // Patches, fenced by the lease.
      const epoch = { epoch: 1, loss: 0.5, valDice: 0.7, seconds: 1, decoderSeconds: 0.5, peakRssMiB: 300 };
      await a.updateFineTuneJob('f1', { status: 'running', history: [epoch], baseValDice: 0.6 }, 'ra');
      await assert.rejects(
        b.updateFineTuneJob('f1', { history: [] }, 'intruder'),
        (e: unknown) => e instanceof StoreError && e.code === 'CONFLICT',
      );
      await assert.rejects(
        b.updateFineTuneJob('nope', { history: [] }),
        (e: unknown) => e instanceof StoreError && e.code === 'NOT_FOUND',
      );
      const split = { train: ['a'], val: ['b'], test: [], groups: { x: ['a', 'b'] } };
      await b.updateFineTuneJob('f1', { split }, 'ra');
      const running = await b.getFineTuneJob('f1');
      assert.equal(running?.status, 'running');
      assert.deepEqual(running?.history, [epoch], 'a fenced-out write changes nothing');
      assert.equal(running?.baseValDice, 0.6);
      assert.deepEqual(running?.split, split);
      assert.equal(running?.leaseOwner, 'ra', 'running keeps the lease');
      // Leases: renewals, cancel requests, take-over after expiry with one winner.
      assert.deepEqual(await b.renewFineTuneLease('f1', 'rb', 60_000), {
        held: false,
        cancelRequested: false,
      });
      assert.deepEqual(await b.renewFineTuneLease('f1', 'ra', 50), { held: true, cancelRequested: false });
      await until(async () => (await b.claimableFineTuneJobs()).includes('f1'), 'the short lease to expire');
      const claims = await Promise.all([a, b, a, b].map((s, i) => s.claimFineTuneJob('f1', `c${i}`, 60_000)));
      assert.equal(claims.filter(Boolean).length, 1, 'of concurrent claimers exactly one gets the lease');
      const holder = `c${claims.indexOf(true)}`;
      assert.equal((await a.renewFineTuneLease('f1', 'ra', 60_000)).held, false, 'the old holder lost it');
      await assert.rejects(
        a.updateFineTuneJob('f1', { history: [] }, 'ra'),
        (e: unknown) => e instanceof StoreError && e.code === 'CONFLICT',
      );
      assert.equal(await a.requestFineTuneCancel('f1'), true);
      assert.deepEqual(await b.renewFineTuneLease('f1', holder, 60_000), {
        held: true,
        cancelRequested: true,
      });
      await b.updateFineTuneJob(
        'f1',
        { status: 'cancelled', error: { code: 'CANCELLED', message: 'asked to' } },
        holder,
      );
      const ended = await a.getFineTuneJob('f1');
      assert.equal(ended?.status, 'cancelled');
      assert.equal(ended?.errorCode, 'CANCELLED');
      assert.equal(ended?.leaseOwner, null, 'a terminal status drops the lease');
      assert.equal(ended?.cancelRequested, false);
      assert.equal(await a.requestFineTuneCancel('f1'), false, 'a finished job cannot be cancelled');
      assert.equal(await a.claimFineTuneJob('f1', 'x', 60_000), false, 'nor claimed');
      // A finished job frees its caller's slot and its model name.
      await a.createFineTuneJob('f3', ft('m1'), {
        owner: 'key:alice',
        lease: { owner: 'ra', ttlMs: 60_000 },
        maxActivePerOwner: 2,
      });
      // Re-queued by exactly one of two resumers, error cleared.
      const requeued = await Promise.all([
        a.requeueFineTuneJob('f1', 'qa', 60_000),
        b.requeueFineTuneJob('f1', 'qb', 60_000),
      ]);
      assert.equal(requeued.filter(Boolean).length, 1);
      const back = await b.getFineTuneJob('f1');
      assert.equal(back?.status, 'queued');
      assert.equal(back?.errorCode, null);
      assert.equal(back?.error, null);
      assert.equal(back?.leaseOwner, requeued[0] ? 'qa' : 'qb');
      // Queued by a stopping replica: the lease goes, any replica may take it.
      await b.updateFineTuneJob('f1', { status: 'queued' }, back!.leaseOwner!);
      assert.ok((await a.claimableFineTuneJobs()).includes('f1'));
      // A result round-trips; the list is newest first.
      const result = {
        modelName: 'mb',
        baseModel: 'mobilesam',
        dataset: 'd',
        split: 'auto',
        splitGroups: { train: ['a'], val: ['b'], test: ['c'] },
        epochs: 2,
        bestEpoch: 1,
        valDice: 0.8,
        baseValDice: 0.6,
        exportMaxAbsDiff: 1e-6,
        date: '2026-01-01T00:00:00Z',
      };
      await b.updateFineTuneJob('fb', { result, status: 'completed', error: null }, 'rb');
      const done = await a.getFineTuneJob('fb');
      assert.deepEqual(done?.result, result);
      assert.equal(done?.status, 'completed');
      const list = await a.listFineTuneJobs();
      assert.equal(list.length, 4);
      assert.ok(list[0].createdAt >= list[list.length - 1].createdAt);
    });

    test('events: a publish reaches listeners of every store on the database; bad channels and payloads are refused', async () => {
      const [a, b] = await two();
      const got: string[] = [];
      const stop = await b.listen('job:1', (p) => got.push(p));
      const other: string[] = [];
      const stopOther = await a.listen('job:2', (p) => other.push(p));
      await a.publish('job:1', 'one');
      await a.publish('job:1', 'two');
      await until(() => got.length === 2, 'two events');
      assert.deepEqual(got, ['one', 'two']);
      assert.deepEqual(other, []);
      await stop();
      await a.publish('job:1', 'three');
      await a.publish('job:2', 'marker');
      await until(() => other.length === 1, 'the marker');
      assert.deepEqual(got, ['one', 'two'], 'a stopped listener hears nothing more');
      await stopOther();
      await assert.rejects(
        a.publish('job:1', 'x'.repeat(8000)),
        (e: unknown) => e instanceof StoreError && e.code === 'BAD_REQUEST',
      );
      await assert.rejects(
        a.publish("bad'; DROP", 'x'),
        (e: unknown) => e instanceof StoreError && e.code === 'BAD_REQUEST',
      );
    });
  });
}
