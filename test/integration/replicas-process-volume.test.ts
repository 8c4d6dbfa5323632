/**
 * Volume jobs across replicas (issue 15): two `medseg start` processes share one inference server and one
 * private PostgreSQL. Two replicas racing for a caller's last volume-job slot start exactly one job; the
 * replica running a volume job is SIGKILLed and the other takes the job over after its lease and finishes it,
 * every slice in the result once.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeNiftiLabels } from '../../gateway/src/api/medical/nifti-writer.ts';
import { errorCode, gql, REPO_ROOT } from '../helpers/gateway.ts';
import { freePort, spawnMedseg } from '../helpers/medseg-process.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitForValue } from '../helpers/wait.ts';

const MODELS = join(REPO_ROOT, 'triton-models');
const tmp = mkdtempSync(join(tmpdir(), 'medseg-replicas-volume-'));
const children = new Set<ChildProcess>();
let db: TestPostgres;
let url: string;
let inference: string;
const replicas: Array<{ child: ChildProcess; url: string; output: () => string }> = [];

const READY = /listening on (http:\/\/[\d.:]+)\/graphql[\s\S]*authentication:/;
const START = `mutation ($in: VolumeSegmentInput!) { startVolumeSegmentation(input: $in) { jobId } }`;
const READ = `query ($id: ID!) { volumeJob(jobId: $id) { status slicesDone error { code message }
  result { keySlice dims slices { slice area } } } }`;

interface VolumeJobOut {
  status: string;
  slicesDone: number;
  error: { code: string; message: string } | null;
  result: { keySlice: number; dims: number[]; slices: Array<{ slice: number; area: number }> } | null;
}

/** A bright cylinder through every slice of a darker `n` x `n` x `depth` volume, as a NIfTI input. */
function cylinder(n: number, depth: number, keySlice: number): Record<string, unknown> {
  const data = new Uint8Array(n * n * depth);
  const c = n / 2;
  const r = n / 4;
  for (let z = 0; z < depth; z++)
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) data[x + n * (y + n * z)] = (x - c) ** 2 + (y - c) ** 2 <= r * r ? 180 : 60;
  const nii = writeNiftiLabels({ dims: [n, n, depth], spacing: [1, 1, 1], data });
  return {
    volume: { nifti: { base64: Buffer.from(nii).toString('base64') } },
    keySlice,
    prompt: { box: { x0: c - r - 2, y0: c - r - 2, x1: c + r + 2, y1: c + r + 2 } },
  };
}

async function read(on: string, id: string): Promise<VolumeJobOut | null> {
  const r = await gql<{ volumeJob: VolumeJobOut | null }>(on, READ, { id });
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  return r.data!.volumeJob;
}

before(async () => {
  db = await startPostgres();
  url = await db.createDatabase('replicas_volume');
  const port = await freePort();
  await spawnMedseg(
    ['serve-models', '--repository', MODELS, '--port', String(port)],
    {},
    /listening on/,
    (c) => children.add(c),
  );
  inference = `127.0.0.1:${port}`;
  for (const name of ['a', 'b']) {
    const p = await spawnMedseg(
      ['start'],
      {
        PORT: '0',
        STATE_DIR: join(tmp, name),
        DATA_ROOTS: tmp,
        RATE_LIMIT_RPS: '0',
        TRITON_URL: inference,
        DATABASE_URL: url,
        JOB_LEASE_MS: '2000',
        MAX_JOBS_PER_CALLER: '1',
        // Info logs say which replica took a job over.
        LOG_LEVEL: 'info',
      },
      READY,
      (c) => children.add(c),
    );
    replicas.push({ child: p.child, url: p.match[1], output: p.output });
  }
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await db?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('volume jobs on two replicas sharing one PostgreSQL', () => {
  test("two replicas racing for the caller's one slot start exactly one job", async () => {
    const [a, b] = replicas.map((r) => r.url);
    const input = cylinder(32, 12, 6);
    const tries = await Promise.all(
      [a, b, a, b].map((on) => gql<{ startVolumeSegmentation: { jobId: string } }>(on, START, { in: input })),
    );
    const started = tries.filter((t) => t.errors === undefined);
    assert.equal(started.length, 1, JSON.stringify(tries.map((t) => t.errors?.[0]?.message ?? 'started')));
    for (const t of tries.filter((x) => x.errors !== undefined)) assert.equal(errorCode(t), 'LIMIT_EXCEEDED');
    const id = started[0].data!.startVolumeSegmentation.jobId;
    const done = await waitForValue(
      () => read(b, id),
      (j) => j?.status !== 'RUNNING',
      'the job to finish',
    );
    assert.equal(done?.status, 'SUCCEEDED', JSON.stringify(done));
    // Its slot is free again, on either replica.
    const again = await gql<{ startVolumeSegmentation: { jobId: string } }>(b, START, { in: input });
    assert.equal(again.errors, undefined, JSON.stringify(again.errors));
    await waitForValue(
      () => read(a, again.data!.startVolumeSegmentation.jobId),
      (j) => j?.status === 'SUCCEEDED',
      'the next job',
    );
  });

  test('SIGKILL of the replica running a volume job: the other takes it over and finishes it', async () => {
    const [victim, survivor] = replicas;
    const depth = 240;
    const started = await gql<{ startVolumeSegmentation: { jobId: string } }>(victim.url, START, {
      in: cylinder(96, depth, depth / 2),
    });
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const id = started.data!.startVolumeSegmentation.jobId;
    const before = await waitForValue(
      () => read(survivor.url, id),
      (j) => (j?.slicesDone ?? 0) >= 2,
      'progress on A',
    );
    assert.equal(before?.status, 'RUNNING', 'still running when its replica is killed');
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
    const done = await waitForValue(
      () => read(survivor.url, id),
      (j) => j !== null && j.status !== 'RUNNING',
      'the survivor to finish the job',
    );
    assert.equal(done?.status, 'SUCCEEDED', JSON.stringify(done?.error));
    const slices = done!.result!.slices.map((s) => s.slice);
    assert.equal(new Set(slices).size, slices.length, 'every slice once');
    assert.equal(slices.length, depth, 'the cylinder runs through every slice');
    assert.ok(done!.result!.slices.every((s) => s.area > 0));
    assert.deepEqual(done!.result!.dims, [96, 96, depth]);
    assert.match(survivor.output(), new RegExp(`"job":"${id}"[^\\n]*took over a volume job`));
  });
});
