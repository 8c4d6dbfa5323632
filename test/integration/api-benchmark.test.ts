/**
 * The benchmark engine through GraphQL: register a dataset under a data root, start a job on the reference
 * model, follow it over a real WebSocket subscription, read aggregates and reports, cancel and resume.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { METRIC_NAMES } from '../../gateway/src/bench/metric-table.ts';
import { errorCode, gql, startTestGateway } from '../helpers/gateway.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const JOB_FIELDS = `id status dataset models strategies error progress { done total failed rate etaSeconds }`;

describe('benchmark API', () => {
  let gw: RunningGateway;
  let root: string;

  before(async () => {
    root = tempDir('medseg-bench-root-');
    const dir = join(root, 'synthetic');
    writeSyntheticDataset({
      dir,
      images: 3,
      width: 96,
      height: 72,
      classes: { 100: 'left', 200: 'right' },
      seed: 4,
      writeJson: true,
    });
    writeFileSync(join(root, 'not-a-dataset.txt'), 'x');
    gw = await startTestGateway({ dataRoots: [root] });
  });
  after(async () => {
    await gw?.close();
  });

  test('registers a dataset, runs a job with live progress over WebSocket, and reports', async () => {
    const reg = await gql<{
      registerDataset: {
        id: string;
        images: number;
        objects: number;
        objectsPerClass: Array<{ name: string; count: number }>;
        problems: unknown[];
      };
    }>(
      gw.url,
      `mutation { registerDataset(input: { path: "synthetic", id: "synth", modality: "MRI" }) { id images objects objectsPerClass { name count } problems { file problem } } }`,
    );
    assert.equal(reg.errors, undefined, JSON.stringify(reg.errors));
    assert.equal(reg.data!.registerDataset.images, 3);
    assert.equal(reg.data!.registerDataset.objects, 6);
    assert.deepEqual(reg.data!.registerDataset.problems, []);

    const started = await gql<{ startBenchmark: { id: string; status: string } }>(
      gw.url,
      `mutation { startBenchmark(input: { dataset: "synth", models: ["sam_reference"], strategies: [S2, S5, S6], seed: 1 }) { ${JOB_FIELDS} } }`,
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const id = started.data!.startBenchmark.id;

    const client = createClient({
      url: `${gw.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
    });
    const events: Array<{
      type: string;
      status: string | null;
      progress: { done: number; total: number } | null;
    }> = [];
    try {
      for await (const msg of client.iterate<{ benchmarkProgress: (typeof events)[number] }>({
        query: `subscription ($id: ID!) { benchmarkProgress(id: $id) { jobId type status error progress { done total failed rate } } }`,
        variables: { id },
      })) {
        assert.equal(msg.errors, undefined, JSON.stringify(msg.errors));
        events.push(msg.data!.benchmarkProgress);
      }
    } finally {
      await client.dispose();
    }
    const last = events.at(-1)!;
    assert.equal(last.type, 'status');
    assert.equal(last.status, 'completed');
    const progress = events.filter((e) => e.type === 'progress').map((e) => e.progress!.done);
    assert.ok(progress.length >= 2);
    for (let i = 1; i < progress.length; i++)
      assert.ok(progress[i] >= progress[i - 1], 'progress never goes back');

    const job = await gql<{
      benchmark: {
        status: string;
        progress: { done: number; total: number };
        results: Array<{
          strategy: string;
          selection: string;
          samples: number;
          dice: { mean: number; std: number; n: number };
        }>;
        report: string;
        json: string;
      };
    }>(
      gw.url,
      // Every metric of the table, so a new metric is queried here without editing this test.
      `query ($id: ID!) { benchmark(id: $id) { status progress { done total } results(scope: "overall") { model strategy selection samples ${METRIC_NAMES.map((m) => `${m} { mean std n }`).join(' ')} } report(format: "html") json: report(format: "json") } }`,
      { id },
    );
    assert.equal(job.errors, undefined, JSON.stringify(job.errors));
    const b = job.data!.benchmark;
    assert.equal(b.status, 'completed');
    assert.equal(b.progress.done, 18);
    assert.equal(b.progress.total, 18);
    const box = b.results.find((r) => r.strategy === 'S5' && r.selection === 'oracle')!;
    assert.equal(box.samples, 6);
    assert.ok(box.dice.mean > 80, `box Dice x100 ${box.dice.mean}`);
    // The API and the JSON report give every metric in the same units (the metric table's).
    const json = JSON.parse(b.json) as {
      rows: Array<{ scope: string; strategy: string; selection: string; metrics: Record<string, unknown> }>;
    };
    for (const r of b.results) {
      const row = json.rows.find(
        (x) => x.scope === 'overall' && x.strategy === r.strategy && x.selection === r.selection,
      )!;
      for (const m of METRIC_NAMES) {
        assert.deepEqual((r as unknown as Record<string, unknown>)[m], row.metrics[m], `${r.strategy} ${m}`);
      }
    }
    assert.match(b.report, /<svg/);
    assert.match(b.report, /sam_reference/);
  });

  test('bad benchmark requests get typed errors', async () => {
    const cases: Array<[string, string]> = [
      ['PATH_NOT_ALLOWED', `mutation { registerDataset(input: { path: "../../etc" }) { id } }`],
      ['BAD_REQUEST', `mutation { registerDataset(input: { path: "not-a-dataset.txt" }) { id } }`],
      [
        'BAD_REQUEST',
        `mutation { startBenchmark(input: { dataset: "nope", models: ["sam_reference"], strategies: [S2] }) { id } }`,
      ],
      [
        'BAD_REQUEST',
        `mutation { startBenchmark(input: { dataset: "synth", models: [], strategies: [S2] }) { id } }`,
      ],
      [
        'BAD_REQUEST',
        `mutation { startBenchmark(input: { dataset: "synth", models: ["sam_reference"], strategies: [S2], shardIndex: 3 }) { id } }`,
      ],
      ['NOT_FOUND', `mutation { cancelBenchmark(id: "missing") { id } }`],
      [
        'GRAPHQL_VALIDATION_FAILED',
        `mutation { startBenchmark(input: { dataset: "synth", models: ["m"], strategies: [S9] }) { id } }`,
      ],
    ];
    for (const [code, query] of cases) {
      const r = await gql(gw.url, query);
      assert.equal(errorCode(r), code, `${query}: ${JSON.stringify(r.errors)}`);
    }
  });

  test('a cancelled job resumes without repeating stored samples', async () => {
    // The job's segmenter is held after a few decodes until the cancel has been sent, so the cancel always
    // lands in a running job, however fast or slow this machine is (the job runs in this process).
    const sam = gw.services.sam;
    const realDecode = sam.decode.bind(sam);
    let decodesLeft = 4;
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    sam.decode = async (...args: Parameters<typeof sam.decode>) => {
      if (decodesLeft-- <= 0) await released;
      return realDecode(...args);
    };
    try {
      const started = await gql<{ startBenchmark: { id: string } }>(
        gw.url,
        `mutation { startBenchmark(input: { dataset: "synth", models: ["sam_reference"], strategies: [S2, S3, S4, S5, S6], seed: 2 }) { id } }`,
      );
      assert.equal(started.errors, undefined, JSON.stringify(started.errors));
      const id = started.data!.startBenchmark.id;
      let last: { status: string; progress: { done: number; total: number } } | undefined;
      const poll = async () => {
        last = (
          await gql<{ benchmark: { status: string; progress: { done: number; total: number } } }>(
            gw.url,
            `query ($id: ID!) { benchmark(id: $id) { status progress { done total } } }`,
            { id },
          )
        ).data!.benchmark;
        return last;
      };
      const describe = () => `last ${JSON.stringify(last)}`;
      await waitFor('3 samples stored', async () => (await poll()).progress.done >= 3, { describe });
      // The running job's progress is on /metrics.
      const scrape = await (await fetch(`${gw.url}/metrics`)).text();
      const line = (name: string) =>
        Number(
          scrape
            .split('\n')
            .find((l) => l.startsWith(`${name}{job="${id}"}`))
            ?.split(' ')
            .pop(),
        );
      assert.ok(line('medseg_benchmark_samples_done') >= 3, scrape.slice(0, 200));
      const ratio = line('medseg_benchmark_progress_ratio');
      assert.ok(ratio > 0 && ratio < 1, `progress ratio ${ratio}`);
      const cancelled = await gql(gw.url, `mutation ($id: ID!) { cancelBenchmark(id: $id) { id } }`, { id });
      assert.equal(cancelled.errors, undefined);
      release();
      let state = await waitFor('the job to stop', async () => (await poll()).status !== 'running' && last, {
        describe,
      });
      assert.equal(state.status, 'cancelled');
      assert.ok(state.progress.done < 30);
      const resumed = await gql(gw.url, `mutation ($id: ID!) { resumeBenchmark(id: $id) { id } }`, { id });
      assert.equal(resumed.errors, undefined, JSON.stringify(resumed.errors));
      state = await waitFor(
        'the resumed job to finish',
        async () => !['running', 'queued'].includes((await poll()).status) && last,
        { describe },
      );
      assert.equal(state.status, 'completed');
      assert.equal(state.progress.done, 30);
      const rows = await gw.services.benchmark.store.listSamples(id);
      const keys = new Set(rows.map((r) => JSON.stringify([r.model, r.strategy, r.objectId, r.variant])));
      assert.equal(keys.size, rows.length, 'every sample stored exactly once');
    } finally {
      release();
      sam.decode = realDecode;
    }
  });

  test('MAX_BENCHMARK_JOBS (2 by default): a third job is LIMIT_EXCEEDED while two run', async () => {
    // Decodes are held until the third start was answered, so both jobs are running, on any machine.
    const sam = gw.services.sam;
    const realDecode = sam.decode.bind(sam);
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    sam.decode = async (...args: Parameters<typeof sam.decode>) => {
      await released;
      return realDecode(...args);
    };
    const start = () =>
      gql<{ startBenchmark: { id: string } }>(
        gw.url,
        `mutation { startBenchmark(input: { dataset: "synth", models: ["sam_reference"], strategies: [S5] }) { id } }`,
      );
    const ids: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const r = await start();
        assert.equal(r.errors, undefined, JSON.stringify(r.errors));
        ids.push(r.data!.startBenchmark.id);
      }
      const refused = await start();
      assert.equal(errorCode(refused), 'LIMIT_EXCEEDED', JSON.stringify(refused.errors));
      assert.match(
        refused.errors![0].message,
        /2 benchmark jobs are running \(limit 2, MAX_BENCHMARK_JOBS\)/,
      );
    } finally {
      release();
      sam.decode = realDecode;
      // The next test must find the slots free again.
      for (const id of ids) {
        await waitFor('the held job to finish', async () => {
          const job = await gw.services.benchmark.job(id);
          return job !== undefined && !['running', 'queued'].includes(job.status);
        });
      }
    }
  });
});
