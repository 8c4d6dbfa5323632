import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { aggregateSamples } from '../../../gateway/src/bench/aggregate.ts';
import { registerDataset } from '../../../gateway/src/bench/datasets/registry.ts';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';
import {
  BenchmarkError,
  normalizeConfig,
  resumeBenchmark,
  startBenchmark,
  type BenchmarkEvent,
} from '../../../gateway/src/bench/runner.ts';
import { writePng, writeSyntheticDataset } from '../../helpers/synthetic-dataset.ts';
import { createFakeSegmenter } from './fake-segmenter.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const tmp = tempDir('medseg-runner-');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** One 24x20 image: A = 10x10 square (x,y 2..11) at 200, B = 8x8 square (x 14..21, y 4..11) at 100. */
function tinyDataset(): string {
  const dir = join(tmp, `tiny-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(dir, 'images'), { recursive: true });
  mkdirSync(join(dir, 'labels'));
  const w = 24;
  const h = 20;
  const image = new Uint8Array(w * h).fill(10);
  const label = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x >= 2 && x <= 11 && y >= 2 && y <= 11) {
        image[y * w + x] = 200;
        label[y * w + x] = 1;
      }
      if (x >= 14 && x <= 21 && y >= 4 && y <= 11) {
        image[y * w + x] = 100;
        label[y * w + x] = 2;
      }
    }
  }
  writePng(join(dir, 'images', 'img.png'), w, h, image);
  writePng(join(dir, 'labels', 'img.png'), w, h, label);
  return dir;
}

const close = (a: number | null | undefined, b: number, eps = 1e-9): void => {
  assert.ok(typeof a === 'number' && Math.abs(a - b) < eps, `expected ${b}, got ${a}`);
};

test('end-to-end job on a tiny dataset: samples and aggregates match hand computation', async () => {
  const store = new SqliteStore(':memory:');
  await registerDataset(store, tinyDataset(), {
    id: 'tiny',
    modality: 'CT',
    classes: { '1': 'A', '2': 'B' },
  });
  const segmenter = createFakeSegmenter();
  const handle = await startBenchmark(
    {
      dataset: 'tiny',
      models: ['m1'],
      strategies: ['S1', 'S2', 'S5'],
      interactive: { protocol: 'errorRegion', clicks: 3 },
    },
    { store, segmenter, jobId: 'job-1' },
  );
  const events: BenchmarkEvent[] = [];
  for await (const e of handle.subscribe()) events.push(e);
  const summary = await handle.done;
  assert.equal(summary.status, 'completed', summary.error ?? '');
  assert.equal(summary.total, 8);
  assert.equal(summary.done, 8);
  assert.equal((await store.getJob('job-1'))?.status, 'completed');
  const last = events.filter((e) => e.type === 'progress').pop();
  assert.deepEqual([last?.done, last?.total], [8, 8]);
  assert.deepEqual(events[events.length - 1], {
    type: 'status',
    jobId: 'job-1',
    status: 'completed',
    error: null,
  });

  const samples = await store.listSamples('job-1');
  const get = (strategy: string, cls: string) =>
    samples.find((s) => s.strategy === strategy && s.className === cls)!;
  // Oracle: the exact region (Dice 1). Deployable: the dilated region (predicted IoU 0.95).
  // A: 100 px, dilated 140 px -> Dice 200/240; B: 64 px, dilated 96 px -> Dice 128/160.
  for (const s of ['S2', 'S5']) {
    close(get(s, 'A').oracle?.metrics.dice, 1);
    close(get(s, 'A').deployable?.metrics.dice, 200 / 240);
    close(get(s, 'A').deployable?.metrics.iou, 100 / 140);
    close(get(s, 'B').deployable?.metrics.dice, 128 / 160);
    assert.equal(get(s, 'A').deployable?.candidateIndex, 2);
    assert.equal(get(s, 'A').candidates.length, 3, 'multimask keeps outputs 1..3 of a 4-output decoder');
  }
  assert.equal(get('S2', 'A').factors?.size, 100);
  assert.equal(get('S2', 'B').factors?.aspectRatio, 1);
  close(get('S2', 'A').factors?.intensityDifference, 190);
  close(get('S1', 'A').oracle?.metrics.dice, 1);
  close(get('S1', 'B').oracle?.metrics.dice, 1);

  // Interactive: click 1 -> dilated (deployable) 200/240; click 2 (negative on the ring) -> exact; then exact.
  const curves = await store.listCurves('job-1');
  const curveA = curves.find((c) => c.objectId === 'img#1')!;
  assert.deepEqual(
    curveA.points.map((p) => p.click),
    [1, 2, 3],
  );
  close(curveA.points[0].dice, 200 / 240);
  close(curveA.points[1].dice, 1);
  close(curveA.points[2].dice, 1);

  const agg = aggregateSamples(samples, curves, { dataset: 'tiny' });
  const row = (strategy: string, selection: string, scope: string, target: string | null = null) =>
    agg.rows.find(
      (r) => r.strategy === strategy && r.selection === selection && r.scope === scope && r.target === target,
    )!;
  const overall = row('S2', 'predictedIou', 'overall');
  close(overall.metrics.dice.mean, (200 / 240 + 128 / 160) / 2);
  close(overall.metrics.dice.std, Math.abs(200 / 240 - 128 / 160) / 2);
  assert.equal(overall.metrics.dice.n, 2);
  close(row('S2', 'oracle', 'overall').metrics.dice.mean, 1);
  close(row('S2', 'oracle', 'overall').metrics.dice.std, 0);
  close(row('S2', 'predictedIou', 'target', 'B').metrics.dice.mean, 0.8);
  assert.equal(row('S2', 'predictedIou', 'target', 'B').modality, 'CT');
  close(row('S2', 'predictedIou', 'modality').metrics.iou.mean, (100 / 140 + 64 / 96) / 2);
  const curve = agg.curves[0];
  assert.equal(curve.objects, 2);
  close(curve.noc85.mean, 2);
  close(curve.auc.mean, ((200 / 240 + 1) / 2 + 1) / 2 / 2 + ((128 / 160 + 1) / 2 + 1) / 2 / 2);
  await store.close();
});

test('two models share the stored prompts', async () => {
  const store = new SqliteStore(':memory:');
  const synth = writeSyntheticDataset({ dir: join(tmp, 'synth-a'), images: 2, seed: 11 });
  await registerDataset(store, synth.dir, { id: 'synth' });
  const h1 = await startBenchmark(
    { dataset: 'synth', models: ['a', 'b'], strategies: ['S3', 'S4', 'S6'] },
    { store, segmenter: createFakeSegmenter() },
  );
  const s1 = await h1.done;
  assert.equal(s1.status, 'completed', s1.error ?? '');
  assert.equal(s1.total, 6 * 2 * 3);
  const prompts = store.db.prepare('SELECT COUNT(*) AS n FROM prompt_sets').get() as { n: number };
  assert.equal(prompts.n, 6 * 3, 'one prompt per object and strategy, shared by both models');
  const samples = await store.listSamples(h1.jobId);
  for (const s of samples.filter((x) => x.model === 'a')) {
    const twin = samples.find(
      (x) => x.model === 'b' && x.strategy === s.strategy && x.objectId === s.objectId,
    )!;
    assert.deepEqual(twin.prompt, s.prompt);
  }
  await store.close();
});

test('cancel stops a job; resume computes only the missing samples, exactly once', async () => {
  const store = new SqliteStore(join(tmp, 'resume.sqlite'));
  const synth = writeSyntheticDataset({ dir: join(tmp, 'synth-b'), images: 3, seed: 2 });
  await registerDataset(store, synth.dir, { id: 'synth' });
  const slow = createFakeSegmenter({ decodeDelayMs: 5 });
  const handle = await startBenchmark(
    { dataset: 'synth', models: ['m'], strategies: ['S2', 'S5'] },
    { store, segmenter: slow },
  );
  handle.events.on('event', (e) => {
    if (e.type === 'progress' && e.done === 5) handle.cancel();
  });
  const first = await handle.done;
  assert.equal(first.status, 'cancelled');
  assert.equal(await store.countSamples(handle.jobId), 5);
  const fresh = createFakeSegmenter();
  const resumed = await resumeBenchmark(handle.jobId, { store, segmenter: fresh });
  // No window in which a reader right after the resume still sees the terminal 'cancelled'.
  assert.notEqual((await store.getJob(handle.jobId))!.status, 'cancelled');
  const again = await resumed.done;
  assert.equal(again.status, 'completed');
  assert.equal(again.computed, 18 - 5);
  assert.equal(fresh.calls.promptSets, 18 - 5);
  assert.equal(await store.countSamples(handle.jobId), 18);
  await assert.rejects(resumeBenchmark(handle.jobId, { store, segmenter: fresh }), /already completed/);
  await store.close();
});

test('faithful prompt failures are stored as failed samples with the reason; corrected mode succeeds', async () => {
  // An object filling its whole image leaves no background in the negative window.
  const dir = join(tmp, 'full');
  mkdirSync(join(dir, 'images'), { recursive: true });
  mkdirSync(join(dir, 'labels'));
  writePng(join(dir, 'images', 'f.png'), 10, 10, new Uint8Array(100).fill(90));
  writePng(join(dir, 'labels', 'f.png'), 10, 10, new Uint8Array(100).fill(1));
  const store = new SqliteStore(':memory:');
  await registerDataset(store, dir, { id: 'full', modality: 'CT', classes: { '1': 'all' } });
  const faithful = await (
    await startBenchmark(
      { dataset: 'full', models: ['m'], strategies: ['S2'] },
      { store, segmenter: createFakeSegmenter() },
    )
  ).done;
  assert.equal(faithful.failed, 1);
  const [s] = await store.listSamples(faithful.jobId);
  assert.equal(s.status, 'failed');
  assert.match(s.failureReason ?? '', /^window-under-5-background-pixels/);
  const agg = aggregateSamples(await store.listSamples(faithful.jobId), [], { dataset: 'full' });
  assert.deepEqual(agg.failureReasons, { 'window-under-5-background-pixels': 1 });
  assert.equal(agg.rows.find((r) => r.scope === 'overall')?.metrics.dice.n, 0);
  const corrected = await (
    await startBenchmark(
      { dataset: 'full', models: ['m'], strategies: ['S2'], mode: 'corrected' },
      { store, segmenter: createFakeSegmenter() },
    )
  ).done;
  assert.equal(corrected.failed, 0);
  close((await store.listSamples(corrected.jobId))[0].oracle?.metrics.dice, 1);
  await store.close();
});

test('randomness perturbs stored prompts reproducibly from the seed', async () => {
  const store = new SqliteStore(':memory:');
  const synth = writeSyntheticDataset({ dir: join(tmp, 'synth-r'), images: 2, seed: 9 });
  await registerDataset(store, synth.dir, { id: 'synth' });
  const run = async (randomness: 'none' | '20-30', seed: number) => {
    const h = await startBenchmark(
      { dataset: 'synth', models: ['m'], strategies: ['S6'], randomness, seed },
      { store, segmenter: createFakeSegmenter() },
    );
    await h.done;
    return (await store.listSamples(h.jobId)).map(
      (s) => s.prompt as { points: Array<{ x: number; y: number }>; box: number[] },
    );
  };
  const plain = await run('none', 0);
  const a = await run('20-30', 5);
  const b = await run('20-30', 5);
  const c = await run('20-30', 6);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  for (let i = 0; i < plain.length; i++) {
    const d = Math.hypot(a[i].points[0].x - plain[i].points[0].x, a[i].points[0].y - plain[i].points[0].y);
    // Shift of 20-30 px, rounded and clamped to the 64x48 image.
    assert.ok(d <= 31, `shift ${d}`);
    assert.ok(a[i].box[0] <= plain[i].box[0] && a[i].box[2] >= plain[i].box[2]);
  }
  await store.close();
});

test('S1 uses a native everything method when the segmenter has one', async () => {
  const store = new SqliteStore(':memory:');
  await registerDataset(store, tinyDataset(), {
    id: 'tiny',
    modality: 'CT',
    classes: { '1': 'A', '2': 'B' },
  });
  const fake = createFakeSegmenter();
  let everythingCalls = 0;
  const withEverything = {
    ...fake,
    async everything(embeddingId: string) {
      everythingCalls++;
      // The fake's region for a point inside A (x 2..11, y 2..11): A itself.
      const [cands] = await fake.decode(embeddingId, [{ points: [{ x: 5, y: 5, label: 1 }] }], {
        multimask: true,
      });
      return { masks: [cands[1]] };
    },
  };
  const s = await (
    await startBenchmark(
      { dataset: 'tiny', models: ['m'], strategies: ['S1'] },
      { store, segmenter: withEverything },
    )
  ).done;
  assert.equal(s.status, 'completed', s.error ?? '');
  assert.equal(everythingCalls, 1, 'one everything call per image and model');
  const samples = await store.listSamples(s.jobId);
  close(samples.find((x) => x.className === 'A')?.oracle?.metrics.dice, 1);
  close(samples.find((x) => x.className === 'B')?.oracle?.metrics.dice, 0);
  await store.close();
});

test('a segmenter error fails the job with its message; the job resumes later', async () => {
  const store = new SqliteStore(':memory:');
  const synth = writeSyntheticDataset({ dir: join(tmp, 'synth-e'), images: 1, seed: 3 });
  await registerDataset(store, synth.dir, { id: 'synth' });
  const good = createFakeSegmenter();
  const broken = { ...good, decode: async () => Promise.reject(new Error('backend UNAVAILABLE')) };
  const failed = await (
    await startBenchmark(
      { dataset: 'synth', models: ['m'], strategies: ['S2'] },
      { store, segmenter: broken },
    )
  ).done;
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error, 'backend UNAVAILABLE');
  assert.equal((await store.getJob(failed.jobId))?.error, 'backend UNAVAILABLE');
  const again = await (await resumeBenchmark(failed.jobId, { store, segmenter: good })).done;
  assert.equal(again.status, 'completed');
  assert.equal(again.done, 3);
  await store.close();
});

test('shard and limit select objects in dataset order', async () => {
  const store = new SqliteStore(':memory:');
  const synth = writeSyntheticDataset({ dir: join(tmp, 'synth-c'), images: 3, seed: 4 });
  await registerDataset(store, synth.dir, { id: 'synth' });
  const h = await startBenchmark(
    { dataset: 'synth', models: ['m'], strategies: ['S2'], shard: { index: 1, count: 2 }, limit: 3 },
    { store, segmenter: createFakeSegmenter() },
  );
  await h.done;
  assert.deepEqual(
    (await store.listSamples(h.jobId)).map((s) => s.objectId),
    ['case_000#170', 'case_001#85', 'case_001#255'],
  );
  await store.close();
});

test('bad benchmark input is rejected with what was expected', async () => {
  const base = { dataset: 'd', models: ['m'], strategies: ['S2' as const] };
  assert.throws(() => normalizeConfig({ ...base, strategies: ['S7' as never] }), /unknown strategy 'S7'/);
  assert.throws(() => normalizeConfig({ ...base, models: [] }), /models must be a non-empty list/);
  assert.throws(() => normalizeConfig({ ...base, shard: { index: 2, count: 2 } }), /0 <= index < count/);
  assert.throws(() => normalizeConfig({ ...base, randomness: '5-6' as never }), /randomness must be one of/);
  assert.throws(() => normalizeConfig({ ...base, mode: 'exact' as never }), /faithful or corrected/);
  assert.throws(() => normalizeConfig({ ...base, limit: 0 }), /limit must be an integer >= 1/);
  const store = new SqliteStore(':memory:');
  await assert.rejects(startBenchmark(base, { store, segmenter: createFakeSegmenter() }), BenchmarkError);
  await store.close();
});
