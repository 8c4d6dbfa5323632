import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { BenchmarkLimitError, BenchmarkService } from '../../../gateway/src/bench/benchmark-service.ts';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';
import { normalizeConfig, type BenchmarkEvent } from '../../../gateway/src/bench/runner.ts';
import { writeSyntheticDataset } from '../../helpers/synthetic-dataset.ts';
import { createFakeSegmenter } from './fake-segmenter.ts';

test('service: start, live events, cancel, stored progress, resume, report', async () => {
  const synth = writeSyntheticDataset({ images: 3, seed: 8 });
  const store = new SqliteStore(':memory:');
  const service = new BenchmarkService(store, createFakeSegmenter({ decodeDelayMs: 3 }));
  try {
    const { row } = await service.addDataset(synth.dir, { id: 'syn' });
    assert.deepEqual(
      (await service.datasets()).map((d) => d.id),
      [row.id],
    );
    const h = await service.start({ dataset: 'syn', models: ['m'], strategies: ['S2', 'S5'] }, 'svc-job');
    const seen: BenchmarkEvent[] = [];
    for await (const e of service.events('svc-job')) {
      seen.push(e);
      if (e.type === 'progress' && e.done === 4) assert.equal(await service.cancel('svc-job'), true);
    }
    assert.equal((await h.done).status, 'cancelled');
    assert.equal(seen[0].type, 'progress');
    assert.deepEqual(seen[seen.length - 1], {
      type: 'status',
      jobId: 'svc-job',
      status: 'cancelled',
      error: null,
    });
    assert.equal(await service.cancel('svc-job'), false, 'no longer running');
    const stored = (await service.progress('svc-job'))!;
    assert.equal(stored.total, 18);
    assert.ok(stored.done >= 4 && stored.done < 18);
    const replay: BenchmarkEvent[] = [];
    for await (const e of service.events('svc-job')) replay.push(e);
    assert.equal(replay.length, 2);
    assert.equal((await (await service.resume('svc-job')).done).status, 'completed');
    assert.equal((await service.progress('svc-job'))?.done, 18);
    assert.match(await service.renderReport('svc-job', 'md'), /^# SAM benchmark m on synthetic/);
    assert.deepEqual(await service.resumeInterrupted(), []);
    await assert.rejects(async () => {
      for await (const _ of service.events('nope')) void _;
    }, /no job 'nope'/);
  } finally {
    await service.drain(true);
    await store.close();
    rmSync(synth.dir, { recursive: true, force: true });
  }
});

test('service: a job whose replica died with a cancel asked meanwhile ends cancelled where it is taken over', async () => {
  const synth = writeSyntheticDataset({ images: 2, seed: 5 });
  const store = new SqliteStore(':memory:');
  const service = new BenchmarkService(store, createFakeSegmenter(), { leaseMs: 60_000 });
  try {
    await service.addDataset(synth.dir, { id: 'dead' });
    const config = normalizeConfig({ dataset: 'dead', models: ['m'], strategies: ['S2'] });
    // Leased to a replica that is gone (its lease already ran out), running, with a cancel requested.
    await store.createJob('orphan', config, { owner: 'elsewhere/1/gone', ttlMs: -1 });
    await store.setJobStatus('orphan', 'running');
    assert.equal(await store.requestCancel('orphan'), true);
    const [h] = await service.resumeInterrupted();
    assert.equal(h?.jobId, 'orphan', 'the expired lease is taken over');
    assert.equal((await h.done).status, 'cancelled', 'the cancel asked while nobody ran it is honoured');
    assert.equal((await store.getJob('orphan'))?.status, 'cancelled');
  } finally {
    await service.drain(true);
    await store.close();
    rmSync(synth.dir, { recursive: true, force: true });
  }
});

test('service: MAX_BENCHMARK_JOBS bounds start and resume, with a typed error, until a slot frees', async () => {
  const synth = writeSyntheticDataset({ images: 3, seed: 11 });
  const store = new SqliteStore(':memory:');
  // Slow enough that the first job is still running when the second is asked for, on a busy machine too.
  const service = new BenchmarkService(store, createFakeSegmenter({ decodeDelayMs: 1000 }), {
    maxRunningJobs: 1,
  });
  try {
    await service.addDataset(synth.dir, { id: 'lim' });
    const input = { dataset: 'lim', models: ['m'], strategies: ['S2' as const, 'S5' as const] };
    const first = await service.start(input, 'first');
    // Refused while the first is still queued (started, not yet planned) or running.
    await assert.rejects(service.start(input, 'second'), (err: unknown) => {
      assert.ok(err instanceof BenchmarkLimitError);
      assert.equal(err.running, 1);
      assert.equal(err.limit, 1);
      assert.match(err.message, /1 benchmark jobs are running \(limit 1, MAX_BENCHMARK_JOBS\)/);
      return true;
    });
    assert.equal(await store.getJob('second'), undefined, 'a refused job is not stored');
    assert.equal(await service.cancel('first'), true);
    assert.equal((await first.done).status, 'cancelled');
    const second = await service.start(input, 'second');
    // The cancelled first job cannot come back while the second holds the one slot.
    await assert.rejects(service.resume('first'), BenchmarkLimitError);
    assert.equal(
      (await store.getJob('first'))?.status,
      'cancelled',
      'a refused resume leaves the job as it was',
    );
    assert.equal((await second.done).status, 'completed');
    assert.equal((await (await service.resume('first')).done).status, 'completed');
  } finally {
    await service.drain(true);
    await store.close();
    rmSync(synth.dir, { recursive: true, force: true });
  }
});

test('service: the sweeper leaves queued jobs queued at MAX_BENCHMARK_JOBS but takes over a dead running one', async () => {
  const synth = writeSyntheticDataset({ images: 2, seed: 12 });
  const store = new SqliteStore(':memory:');
  const service = new BenchmarkService(store, createFakeSegmenter({ decodeDelayMs: 1000 }), {
    maxRunningJobs: 1,
  });
  try {
    await service.addDataset(synth.dir, { id: 'sweep' });
    const config = normalizeConfig({ dataset: 'sweep', models: ['m'], strategies: ['S2'] });
    const busy = await service.start({ dataset: 'sweep', models: ['m'], strategies: ['S2', 'S4'] }, 'busy');
    // Queued with no holder (a graceful stop checkpointed it), and running under a dead replica's lease.
    await store.createJob('waiting', config);
    await store.createJob('orphan', config, { owner: 'elsewhere/1/gone', ttlMs: -1 });
    await store.setJobStatus('orphan', 'running');
    const picked = await service.resumeInterrupted();
    assert.deepEqual(
      picked.map((h) => h.jobId),
      ['orphan'],
      'the orphan counted already; the queued job would be one too many',
    );
    assert.equal((await store.getJob('waiting'))?.status, 'queued');
    await service.cancel('busy');
    await Promise.all([busy.done, ...picked.map((h) => h.done)]);
    const later = await service.resumeInterrupted();
    assert.deepEqual(
      later.map((h) => h.jobId),
      ['waiting'],
    );
    assert.equal((await later[0].done).status, 'completed');
  } finally {
    await service.drain(true);
    await store.close();
    rmSync(synth.dir, { recursive: true, force: true });
  }
});
