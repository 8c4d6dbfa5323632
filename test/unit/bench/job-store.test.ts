import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { JobStore, sampleKey } from '../../../gateway/src/bench/job-store.ts';
import { normalizeConfig } from '../../../gateway/src/bench/runner.ts';
import type { SampleRecord } from '../../../gateway/src/bench/types.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

function sample(overrides: Partial<SampleRecord> = {}): SampleRecord {
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

test('job store: WAL with synchronous FULL, round trip of jobs, samples and curves, duplicates refused', () => {
  const dir = tempDir('medseg-store-');
  try {
    const store = new JobStore(join(dir, 'b.sqlite'));
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('synchronous', { simple: true }), 2);
    store.putDataset({
      id: 'd',
      name: 'd',
      root: '/x',
      layout: 'cosmos',
      modality: 'CT',
      options: {},
      stats: {},
      problems: [],
    });
    const config = normalizeConfig({ dataset: 'd', models: ['m'], strategies: ['S2'] });
    assert.equal(store.createJob('j', config).status, 'queued');
    store.setJobStatus('j', 'running');
    assert.deepEqual(
      store.listJobs('running').map((j) => j.id),
      ['j'],
    );
    assert.throws(() => store.setJobStatus('nope', 'failed'), /does not exist/);

    assert.equal(
      store.putSample(sample(), { protocol: 'errorRegion', points: [{ click: 1, dice: 0.5, iou: 1 / 3 }] }),
      true,
    );
    assert.equal(store.putSample(sample({ totalMs: 99 })), false, 'the same sample is never stored twice');
    assert.equal(
      store.putSample(
        sample({ strategy: 'S5', status: 'failed', failureReason: 'x: y', oracle: null, deployable: null }),
      ),
      true,
    );
    assert.equal(store.countSamples('j'), 2);
    assert.equal(store.countSamples('j', 'failed'), 1);
    assert.deepEqual(
      store.doneKeys('j'),
      new Set([sampleKey('m', 'S2', 'img#1', 0), sampleKey('m', 'S5', 'img#1', 0)]),
    );
    const [back] = store.listSamples('j');
    assert.equal(back.totalMs, 2);
    assert.equal(back.oracle?.metrics.nsd, null, 'NaN is stored as null');
    assert.equal(back.deployable?.metrics.dice, 0.4);
    assert.deepEqual(back.factors, sample().factors);
    assert.deepEqual(store.listCurves('j'), [
      {
        model: 'm',
        protocol: 'errorRegion',
        objectId: 'img#1',
        points: [{ click: 1, dice: 0.5, iou: 1 / 3 }],
      },
    ]);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('prompt sets: the first stored prompt wins and is reused', () => {
  const store = new JobStore(':memory:');
  const key = {
    datasetId: 'd',
    objectId: 'o',
    strategy: 'S2',
    mode: 'faithful',
    randomness: 'none',
    seed: 0,
  };
  assert.equal(store.getPrompt(key), undefined);
  store.putPrompt(key, { prompt: { points: [{ x: 1, y: 1, label: 1 }] }, failure: null });
  const again = store.putPrompt(key, { prompt: { points: [{ x: 9, y: 9, label: 1 }] }, failure: null });
  assert.deepEqual(again.prompt, { points: [{ x: 1, y: 1, label: 1 }] });
  assert.equal(store.getPrompt({ ...key, seed: 1 }), undefined);
  store.close();
});
