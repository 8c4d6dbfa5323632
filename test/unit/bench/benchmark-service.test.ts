import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { BenchmarkService } from '../../../gateway/src/bench/benchmark-service.ts';
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
