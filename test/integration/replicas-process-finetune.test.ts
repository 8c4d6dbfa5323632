/**
 * Fine-tuning jobs across replicas (issue 15): two `medseg start` processes share one inference server
 * (`medseg serve-models` over a temporary model repository), one private PostgreSQL and the repository. A
 * job started on A is listed on B, watched on B (progress crosses replicas on the store's channels), and its
 * result and published model are read on B; the per-caller bound holds across replicas; a cancel sent to B
 * stops the job on A; a SIGKILLed replica's job is taken over and finished by the other. The trainer runs
 * one or two epochs on three real cardiac slices.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { cardiacDataset, mobileSamRepository } from '../helpers/finetune.ts';
import { errorCode, gql } from '../helpers/gateway.ts';
import { freePort, spawnMedseg } from '../helpers/medseg-process.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitForValue } from '../helpers/wait.ts';

const tmp = mkdtempSync(join(tmpdir(), 'medseg-replicas-ft-'));
const children = new Set<ChildProcess>();
let db: TestPostgres;
let url: string;
let inference: string;
let repo: { dir: string; cleanup: () => void };
let data: { dir: string; cleanup: () => void };
const replicas: Array<{ child: ChildProcess; url: string }> = [];

const READY = /listening on (http:\/\/[\d.:]+)\/graphql[\s\S]*authentication:/;
const SPLIT = 'train=3,2;val=5';
const START = `mutation ($in: StartFineTuneInput!) { startFineTune(input: $in) { id status modelName } }`;
const JOB = `query ($id: ID!) { fineTuneJob(id: $id) { id status errorCode error history { epoch }
  result { model epochs jobId } } }`;

interface Job {
  id: string;
  status: string;
  errorCode: string | null;
  error: string | null;
  history: Array<{ epoch: number }>;
  result: { model: string; epochs: number; jobId: string } | null;
}

async function startReplica(name: string): Promise<{ child: ChildProcess; url: string }> {
  const p = await spawnMedseg(
    ['start'],
    {
      PORT: '0',
      STATE_DIR: join(tmp, name),
      DATA_ROOTS: data.dir,
      RATE_LIMIT_RPS: '0',
      TRITON_URL: inference,
      DATABASE_URL: url,
      MODEL_REPOSITORY: repo.dir,
      DEFAULT_MODEL: 'mobilesam',
      JOB_LEASE_MS: '2000',
      MAX_JOBS_PER_CALLER: '1',
    },
    READY,
    (c) => children.add(c),
  );
  return { child: p.child, url: p.match[1] };
}

async function job(on: string, id: string): Promise<Job> {
  const r = await gql<{ fineTuneJob: Job }>(on, JOB, { id });
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  return r.data!.fineTuneJob;
}

before(async () => {
  db = await startPostgres();
  url = await db.createDatabase('replicas_ft');
  repo = await mobileSamRepository();
  data = cardiacDataset(['22_Heart_3_2', '22_Heart_2_4', '22_Heart_5_2']);
  const port = await freePort();
  await spawnMedseg(
    ['serve-models', '--repository', repo.dir, '--port', String(port)],
    { REPOSITORY_POLL_MS: '500' },
    /listening on/,
    (c) => children.add(c),
  );
  inference = `127.0.0.1:${port}`;
  replicas.push(...(await Promise.all(['a', 'b'].map((n) => startReplica(n)))));
  const reg = await gql(
    replicas[0].url,
    `mutation ($p: String!) { registerDataset(input: { path: $p, id: "heart", modality: "MRI",
      classes: [{ value: 85, name: "LV" }, { value: 170, name: "MYO" }, { value: 255, name: "RV" }] }) { id } }`,
    { p: join(data.dir, 'heart') },
  );
  assert.equal(reg.errors, undefined, JSON.stringify(reg.errors));
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await db?.stop();
  repo?.cleanup();
  data?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

describe('fine-tuning jobs on two replicas sharing one PostgreSQL', () => {
  test('started on A: listed, watched and read on B; the per-caller bound holds on B', async () => {
    const [a, b] = replicas.map((r) => r.url);
    const started = await gql<{ startFineTune: { id: string; status: string } }>(a, START, {
      in: { dataset: 'heart', epochs: 2, seed: 3, split: SPLIT, modelName: 'heart_shared' },
    });
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const id = started.data!.startFineTune.id;
    // The same caller on B: its one job (MAX_JOBS_PER_CALLER=1) runs on A, and B reads that from the store.
    const second = await gql(b, START, {
      in: { dataset: 'heart', epochs: 1, split: SPLIT, modelName: 'heart_second' },
    });
    assert.equal(errorCode(second), 'LIMIT_EXCEEDED', JSON.stringify(second.errors));
    const listed = await gql<{ fineTuneJobs: Array<{ id: string }> }>(b, '{ fineTuneJobs { id } }');
    assert.deepEqual(
      listed.data?.fineTuneJobs.map((j) => j.id),
      [id],
      'listed on B, nothing stored for the refused start',
    );
    const client = createClient({
      url: `${b.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
    });
    const events: Array<{ type: string; status: string | null; epoch: { epoch: number } | null }> = [];
    try {
      for await (const msg of client.iterate<{ fineTuneProgress: (typeof events)[number] }>({
        query: `subscription ($id: ID!) { fineTuneProgress(id: $id) { type status epoch { epoch } } }`,
        variables: { id },
      })) {
        assert.equal(msg.errors, undefined, JSON.stringify(msg.errors));
        events.push(msg.data!.fineTuneProgress);
      }
    } finally {
      await client.dispose();
    }
    assert.deepEqual(
      events.at(-1),
      { type: 'status', status: 'completed', epoch: null },
      JSON.stringify(events),
    );
    assert.deepEqual(
      events.filter((e) => e.type === 'epoch').map((e) => e.epoch!.epoch),
      [1, 2],
      'every epoch reached B once, in order',
    );
    const done = await job(b, id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.result, { model: 'heart_shared', epochs: 2, jobId: id });
    assert.deepEqual(
      done.history.map((h) => h.epoch),
      [1, 2],
    );
    // The model A published into the shared repository is served, and B lists it with its provenance.
    const models = await waitForValue(
      () =>
        gql<{ models: Array<{ name: string; ready: boolean; fineTune: { jobId: string } | null }> }>(
          b,
          '{ models { name ready fineTune { jobId } } }',
        ),
      (r) => r.data?.models.some((m) => m.name === 'heart_shared' && m.ready) ?? false,
      'the published model on B',
    );
    assert.deepEqual(models.data!.models.find((m) => m.name === 'heart_shared')?.fineTune, { jobId: id });
  });

  test('a cancel sent to B stops the job running on A', async () => {
    const [a, b] = replicas.map((r) => r.url);
    const started = await gql<{ startFineTune: { id: string } }>(a, START, {
      in: { dataset: 'heart', epochs: 500, seed: 1, split: SPLIT, modelName: 'heart_cancel' },
    });
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const id = started.data!.startFineTune.id;
    await waitForValue(
      () => job(b, id),
      (j) => j.status === 'running',
      'the job running',
    );
    const cancel = await gql<{ cancelFineTune: { id: string } }>(
      b,
      'mutation ($id: ID!) { cancelFineTune(id: $id) { id } }',
      { id },
    );
    assert.equal(cancel.errors, undefined, JSON.stringify(cancel.errors));
    const ended = await waitForValue(
      () => job(a, id),
      (j) => j.status !== 'running' && j.status !== 'queued',
      'the cancel',
    );
    assert.equal(ended.status, 'cancelled', JSON.stringify(ended));
    assert.equal(ended.errorCode, 'CANCELLED');
    assert.ok(!existsSync(join(repo.dir, 'heart_cancel')), 'nothing published');
    const again = await gql(b, 'mutation ($id: ID!) { cancelFineTune(id: $id) { id } }', { id });
    assert.equal(errorCode(again), 'BAD_REQUEST', 'a finished job cannot be cancelled');
  });

  test('the job of a SIGKILLed replica is taken over and finished by the other', async () => {
    const [a, b] = replicas.map((r) => r.url);
    const started = await gql<{ startFineTune: { id: string } }>(a, START, {
      in: { dataset: 'heart', epochs: 1, seed: 2, split: SPLIT, modelName: 'heart_takeover' },
    });
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const id = started.data!.startFineTune.id;
    await waitForValue(
      () => job(b, id),
      (j) => j.status === 'running',
      'the job running on A',
    );
    replicas[0].child.kill('SIGKILL');
    await new Promise((r) => replicas[0].child.once('exit', r));
    const done = await waitForValue(
      () => job(b, id),
      (j) => j.status === 'completed' || j.status === 'failed' || j.status === 'cancelled',
      'B to finish the job',
    );
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(done.result, { model: 'heart_takeover', epochs: 1, jobId: id });
    assert.deepEqual(
      done.history.map((h) => h.epoch),
      [1],
      'the epochs are the new run only, never doubled',
    );
  });
});
