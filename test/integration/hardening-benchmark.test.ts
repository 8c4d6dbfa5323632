/**
 * The benchmark and dataset API attacked through a running gateway (issue 11 A7 and parts of A8): duplicate
 * models, a cancelled job reported as completed, report arguments answered with INTERNAL, a symlink inside a
 * dataset that leads out of DATA_ROOTS, an id that silently re-points to another folder, and absolute server
 * paths in errors and reports.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { errorCode, gql, startTestGateway } from '../helpers/gateway.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';

const tmp = mkdtempSync(join(tmpdir(), 'medseg-bench-hard-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function until<T>(what: string, get: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await get();
    if (done(v)) return v;
    if (Date.now() - started > 240_000) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('benchmark jobs and datasets resist misuse', () => {
  let gw: RunningGateway;
  const root = join(tmp, 'roots');
  const outside = join(tmp, 'outside');

  before(async () => {
    mkdirSync(root, { recursive: true });
    const synthetic = {
      images: 3,
      width: 96,
      height: 72,
      classes: { 100: 'left', 200: 'right' },
      writeJson: true,
    };
    writeSyntheticDataset({ dir: join(root, 'a'), seed: 4, ...synthetic });
    writeSyntheticDataset({ dir: join(root, 'b'), seed: 5, ...synthetic });
    // A copy of dataset a whose first image and label are symlinks to files outside every data root.
    writeSyntheticDataset({ dir: outside, seed: 6, ...synthetic });
    const leaky = join(root, 'leaky');
    writeSyntheticDataset({ dir: leaky, seed: 4, ...synthetic });
    for (const sub of ['images', 'labels']) {
      const first = readdirSync(join(leaky, sub)).sort()[0];
      rmSync(join(leaky, sub, first));
      symlinkSync(join(outside, sub, readdirSync(join(outside, sub)).sort()[0]), join(leaky, sub, first));
    }
    mkdirSync(join(root, 'empty-dir'));
    copyFileSync(join(root, 'a', 'dataset.json'), join(root, 'empty-dir', 'dataset.json'));
    gw = await startTestGateway({ dataRoots: [root], stateDir: join(tmp, 'state') });
  });
  after(async () => gw?.close());

  test('a symlink inside a dataset that leads out of DATA_ROOTS is never read', async () => {
    const r = await gql<{
      registerDataset: { images: number; problems: Array<{ file: string; problem: string }> };
    }>(
      gw.url,
      `mutation { registerDataset(input: { path: "leaky", id: "leaky" }) { images problems { file problem } } }`,
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    assert.equal(r.data!.registerDataset.images, 2, 'the symlinked image is excluded');
    assert.ok(r.data!.registerDataset.problems.some((p) => /outside the allowed folders/.test(p.problem)));
    assert.ok(!JSON.stringify(r).includes(tmp), 'no absolute server path in the answer');
  });

  test('an id registered for one folder is not silently re-pointed to another', async () => {
    const reg = (path: string, replace = false) =>
      gql(
        gw.url,
        `mutation { registerDataset(input: { path: "${path}", id: "ds", replace: ${replace} }) { id } }`,
      );
    assert.equal((await reg('a')).errors, undefined);
    assert.equal((await reg('a')).errors, undefined, 'the same folder again refreshes it');
    const other = await reg('b');
    assert.equal(errorCode(other), 'ALREADY_EXISTS');
    assert.ok(!other.errors![0].message.includes(tmp));
    assert.equal((await reg('b', true)).errors, undefined, 'replace is explicit');
  });

  test('registerDataset errors carry no absolute server path', async () => {
    const r = await gql(gw.url, `mutation { registerDataset(input: { path: "empty-dir", id: "e" }) { id } }`);
    assert.equal(errorCode(r), 'BAD_REQUEST');
    assert.ok(!r.errors![0].message.includes(tmp), r.errors![0].message);
    assert.match(r.errors![0].message, /<data root>/);
  });

  test('duplicate models are merged, unknown models refused, and a cancel is never reported as completed', async () => {
    const reg = await gql(gw.url, `mutation { registerDataset(input: { path: "a", id: "dup" }) { id } }`);
    assert.equal(reg.errors, undefined, JSON.stringify(reg.errors));
    const models = JSON.stringify(Array.from({ length: 5000 }, () => 'sam_reference'));
    const started = await gql<{
      startBenchmark: { id: string; models: string[]; progress: { total: number } };
    }>(
      gw.url,
      `mutation { startBenchmark(input: { dataset: "dup", models: ${models}, strategies: [S2, S5, S2] }) { id models progress { total } } }`,
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const job = started.data!.startBenchmark;
    assert.deepEqual(job.models, ['sam_reference']);
    const cancel = await gql<{ cancelBenchmark: { status: string } }>(
      gw.url,
      `mutation { cancelBenchmark(id: "${job.id}") { status } }`,
    );
    assert.equal(cancel.errors, undefined);
    const final = await until(
      'the job to stop',
      async () =>
        (
          await gql<{ benchmark: { status: string; progress: { done: number; total: number } } }>(
            gw.url,
            `{ benchmark(id: "${job.id}") { status progress { done total } } }`,
          )
        ).data!.benchmark,
      (b) => b.status !== 'running' && b.status !== 'queued',
    );
    // 3 images x 2 objects x 2 distinct strategies x 1 model.
    assert.equal(final.progress.total, 12);
    if (cancel.data!.cancelBenchmark.status === 'running') assert.equal(final.status, 'cancelled');
    if (final.status === 'completed') assert.equal(final.progress.done, final.progress.total);

    const unknown = await gql(
      gw.url,
      `mutation { startBenchmark(input: { dataset: "dup", models: ["no_such_model"], strategies: [S2] }) { id } }`,
    );
    assert.equal(errorCode(unknown), 'MODEL_NOT_FOUND');
    const many = JSON.stringify(Array.from({ length: 17 }, (_, i) => `m${i}`));
    const tooMany = await gql(
      gw.url,
      `mutation { startBenchmark(input: { dataset: "dup", models: ${many}, strategies: [S2] }) { id } }`,
    );
    assert.equal(errorCode(tooMany), 'BAD_REQUEST');
    const badName = await gql(
      gw.url,
      `mutation { startBenchmark(input: { dataset: "dup", models: ["../x y"], strategies: [S2] }) { id } }`,
    );
    assert.equal(errorCode(badName), 'BAD_REQUEST');

    // Report arguments: typed errors, never INTERNAL; the report names no server path.
    const badFormat = await gql(gw.url, `{ benchmark(id: "${job.id}") { report(format: "x") } }`);
    assert.equal(errorCode(badFormat), 'BAD_REQUEST', JSON.stringify(badFormat.errors));
    const badScope = await gql(gw.url, `{ benchmark(id: "${job.id}") { results(scope: "x") { model } } }`);
    assert.equal(errorCode(badScope), 'BAD_REQUEST', JSON.stringify(badScope.errors));
    const html = await gql<{ benchmark: { report: string } }>(
      gw.url,
      `{ benchmark(id: "${job.id}") { report(format: "html") } }`,
    );
    assert.equal(html.errors, undefined, JSON.stringify(html.errors));
    assert.ok(!html.data!.benchmark.report.includes(root), 'no absolute data root in the report');
  });
});
