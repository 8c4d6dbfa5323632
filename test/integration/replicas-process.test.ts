/**
 * Three `medseg start` processes share one inference server (`medseg serve-models`) and one private
 * PostgreSQL, and a client sends each request to the next replica in turn (issue 15): a job started on A is
 * watched on B and reported on C; a session continues across all three; an embeddingId and a lowResId from
 * one replica work on another; a SIGKILLed replica's job is finished by another with every sample stored
 * once; two shards of one run give one report; the database down at start is a clear error after retries.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { writeNiftiLabels } from '../../gateway/src/api/medical/nifti-writer.ts';
import { createBenchCommand } from '../../gateway/src/cli/commands/bench.ts';
import { gql, REPO_ROOT } from '../helpers/gateway.ts';
import { freePort, spawnMedseg } from '../helpers/medseg-process.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { waitForValue } from '../helpers/wait.ts';

const MODELS = join(REPO_ROOT, 'triton-models');
const tmp = mkdtempSync(join(tmpdir(), 'medseg-replicas-'));
const children = new Set<ChildProcess>();
let db: TestPostgres;
let url: string;
let inference: string;
const replicas: Array<{ child: ChildProcess; url: string; output: () => string }> = [];
let turn = 0;
/** The next replica in turn (round robin, as a Service without affinity). */
const next = (): string => replicas[turn++ % replicas.length].url;

const READY = /listening on (http:\/\/[\d.:]+)\/graphql[\s\S]*authentication:/;

function startReplica(name: string, extra: Record<string, string> = {}) {
  return spawnMedseg(
    ['start'],
    {
      PORT: '0',
      STATE_DIR: join(tmp, name),
      DATA_ROOTS: tmp,
      RATE_LIMIT_RPS: '0',
      TRITON_URL: inference,
      DATABASE_URL: url,
      JOB_LEASE_MS: '2000',
      ...extra,
    },
    READY,
    (c) => children.add(c),
  );
}

async function sql<T>(text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows as T[];
  } finally {
    await c.end();
  }
}

before(async () => {
  db = await startPostgres();
  url = await db.createDatabase('replicas');
  const port = await freePort();
  await spawnMedseg(
    ['serve-models', '--repository', MODELS, '--port', String(port)],
    {},
    /listening on/,
    (c) => children.add(c),
  );
  inference = `127.0.0.1:${port}`;
  // Started together: the schema is migrated once under the advisory lock.
  for (const p of await Promise.all(['a', 'b', 'c'].map((n) => startReplica(n)))) {
    replicas.push({ child: p.child, url: p.match[1], output: p.output });
  }
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await db?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const png = (seed: number) =>
  Buffer.from(encodePng(generatePhantom({ seed, width: 160, height: 128 }).image)).toString('base64');

describe('three gateway replicas on one PostgreSQL', () => {
  test('an embeddingId and a lowResId from one replica work on the others, with the same masks', async () => {
    const a = next();
    const enc = await gql<{ encodeImage: { id: string } }>(
      a,
      `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`,
      {
        i: { encoded: { base64: png(41) } },
      },
    );
    assert.equal(enc.errors, undefined, JSON.stringify(enc.errors));
    const id = enc.data!.encodeImage.id;
    const box = '{ x0: 20, y0: 20, x1: 120, y1: 100 }';
    const FIELDS = 'results { masks { area lowResId rle { counts } } }';
    const SEG = `query ($id: ID!) { segment(input: { embeddingId: $id, prompts: [{ box: ${box} }] }) { ${FIELDS} } }`;
    const REFINE = `query ($id: ID!, $lr: ID!) { segment(input: { embeddingId: $id, prompts: [{ box: ${box}, previousMask: { lowResId: $lr } }] }) { ${FIELDS} } }`;
    type Seg = {
      segment: {
        results: Array<{ masks: Array<{ area: number; lowResId: string; rle: { counts: string } }> }>;
      };
    };
    const onA = await gql<Seg>(a, SEG, { id });
    const b = next();
    const onB = await gql<Seg>(b, SEG, { id });
    assert.equal(onB.errors, undefined, JSON.stringify(onB.errors));
    const maskA = onA.data!.segment.results[0].masks[0];
    const maskB = onB.data!.segment.results[0].masks[0];
    assert.equal(maskB.rle.counts, maskA.rle.counts, 'the embedding re-made on B gives the same mask');
    // The low-res logits issued on B refine a mask on C.
    const onC = await gql<Seg>(next(), REFINE, { id, lr: maskB.lowResId });
    assert.equal(onC.errors, undefined, JSON.stringify(onC.errors));
    assert.ok(onC.data!.segment.results[0].masks[0].area > 0);
    // Pixels that no longer hash to the id (here: altered in the store; in production: another encoder or
    // version behind the model name) are refused, never turned into a mask from another embedding.
    const other = await gql<{ encodeImage: { id: string } }>(
      replicas[0].url,
      `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`,
      { i: { encoded: { base64: png(43) } } },
    );
    const otherId = other.data!.encodeImage.id;
    await sql(
      `UPDATE records SET bytes = set_byte(bytes, 100, (get_byte(bytes, 100) + 1) % 256) WHERE namespace = 'image' AND key = '${otherId}'`,
    );
    const tampered = await gql(replicas[1].url, SEG, { id: otherId });
    assert.equal(tampered.errors?.[0]?.extensions?.code, 'EMBEDDING_NOT_FOUND');
    // Unknown handles stay typed errors on every replica.
    const bad = await gql(next(), SEG, { id: 'nope' });
    assert.equal(bad.errors?.[0]?.extensions?.code, 'EMBEDDING_NOT_FOUND');
    const badLr = await gql(next(), REFINE, { id, lr: 'lr_nope' });
    assert.equal(badLr.errors?.[0]?.extensions?.code, 'BAD_PROMPT');
  });

  test('a session continues across all three replicas', async () => {
    type S = { id: string; clickCount: number; mask: { area: number } | null };
    const FIELDS = 'id clickCount mask { area }';
    const started = await gql<{ startSession: S }>(
      next(),
      `mutation ($i: ImageInput!) { startSession(image: $i) { ${FIELDS} } }`,
      {
        i: { encoded: { base64: png(42) } },
      },
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const sid = started.data!.startSession.id;
    const click = async (x: number, y: number, positive: boolean) => {
      const r = await gql<{ addClick: S }>(
        next(),
        `mutation ($s: ID!, $x: Float!, $y: Float!, $p: Boolean!) { addClick(session: $s, x: $x, y: $y, positive: $p) { ${FIELDS} } }`,
        { s: sid, x, y, p: positive },
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      return r.data!.addClick;
    };
    assert.equal((await click(80, 64, true)).clickCount, 1);
    assert.equal((await click(90, 70, true)).clickCount, 2);
    const third = await click(20, 20, false);
    assert.equal(third.clickCount, 3);
    assert.ok(third.mask && third.mask.area > 0);
    const undone = await gql<{ undo: S }>(next(), `mutation ($s: ID!) { undo(session: $s) { ${FIELDS} } }`, {
      s: sid,
    });
    assert.equal(undone.data?.undo.clickCount, 2, JSON.stringify(undone.errors));
    const read = await gql<{ session: S }>(next(), `query ($s: ID!) { session(id: $s) { ${FIELDS} } }`, {
      s: sid,
    });
    assert.equal(read.data?.session.clickCount, 2);
    const exported = await gql<{ exportSession: { rle: { counts: string } } }>(
      next(),
      `mutation ($s: ID!) { exportSession(session: $s, format: RLE) { rle { counts } } }`,
      { s: sid },
    );
    assert.ok(exported.data?.exportSession.rle.counts, JSON.stringify(exported.errors));
    const closed = await gql<{ closeSession: boolean }>(
      next(),
      `mutation ($s: ID!) { closeSession(session: $s) }`,
      { s: sid },
    );
    assert.equal(closed.data?.closeSession, true);
    const gone = await gql(next(), `mutation ($s: ID!) { undo(session: $s) { id } }`, { s: sid });
    assert.equal(
      gone.errors?.[0]?.extensions?.code,
      'SESSION_NOT_FOUND',
      'closed on one replica, gone on all',
    );
  });

  test('a job started on A is watched on B and reported on C', async () => {
    const synth = writeSyntheticDataset({ dir: join(tmp, 'watch-data'), images: 3, seed: 31 });
    const a = replicas[0].url;
    const reg = await gql(
      a,
      `mutation ($p: String!) { registerDataset(input: { path: $p, id: "watch" }) { id } }`,
      {
        p: synth.dir,
      },
    );
    assert.equal(reg.errors, undefined, JSON.stringify(reg.errors));
    const started = await gql<{ startBenchmark: { id: string } }>(
      a,
      `mutation { startBenchmark(input: { dataset: "watch", models: ["sam_reference"], strategies: [S2, S5] }) { id } }`,
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const id = started.data!.startBenchmark.id;
    const client = createClient({
      url: `${replicas[1].url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
    });
    const events: Array<{ type: string; status: string | null; progress: { done: number } | null }> = [];
    try {
      for await (const msg of client.iterate<{ benchmarkProgress: (typeof events)[number] }>({
        query: `subscription ($id: ID!) { benchmarkProgress(id: $id) { type status progress { done } } }`,
        variables: { id },
      })) {
        assert.equal(msg.errors, undefined, JSON.stringify(msg.errors));
        events.push(msg.data!.benchmarkProgress);
      }
    } finally {
      await client.dispose();
    }
    assert.deepEqual(events.at(-1), { type: 'status', status: 'completed', progress: null });
    const total = synth.objects.length * 2;
    // Progress events cross replicas as notifications, which may coalesce: they rise and never pass the total;
    // the final count is the store's, read on a third replica.
    const dones = events.filter((e) => e.progress).map((e) => e.progress!.done);
    assert.ok(dones.length > 0, 'progress events reached the other replica');
    assert.ok(
      dones.every((d, i) => d <= total && (i === 0 || d >= dones[i - 1])),
      JSON.stringify(dones),
    );
    const report = await gql<{
      benchmark: { status: string; report: string; progress: { done: number; total: number } };
    }>(
      replicas[2].url,
      `query ($id: ID!) { benchmark(id: $id) { status report(format: "md") progress { done total } } }`,
      { id },
    );
    assert.equal(report.data?.benchmark.status, 'completed', JSON.stringify(report.errors));
    assert.deepEqual(report.data!.benchmark.progress, { done: total, total });
    assert.match(report.data!.benchmark.report, /^# SAM benchmark sam_reference on /);
  });

  test('a volume job started on one replica is watched on the next and read on the third', async () => {
    // A bright ball in a darker 40x40x16 volume; the key slice is its middle.
    const [nx, ny, nz] = [40, 40, 16];
    const data = new Uint8Array(nx * ny * nz);
    for (let z = 0; z < nz; z++)
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++)
          data[x + nx * (y + ny * z)] =
            ((x - 20) / 10) ** 2 + ((y - 20) / 9) ** 2 + ((z - 8) / 7) ** 2 <= 1 ? 180 : 60;
    const nii = writeNiftiLabels({ dims: [nx, ny, nz], spacing: [1, 1, 1], data });
    const started = await gql<{ startVolumeSegmentation: { jobId: string } }>(
      next(),
      `mutation ($in: VolumeSegmentInput!) { startVolumeSegmentation(input: $in) { jobId } }`,
      {
        in: {
          volume: { nifti: { base64: Buffer.from(nii).toString('base64') } },
          keySlice: 8,
          prompt: { box: { x0: 9, y0: 10, x1: 32, y1: 31 } },
        },
      },
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const jobId = started.data!.startVolumeSegmentation.jobId;
    const client = createClient({
      url: `${next().replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
    });
    const events: Array<{ status: string; done: boolean }> = [];
    try {
      for await (const msg of client.iterate<{ volumeProgress: (typeof events)[number] }>({
        query: `subscription ($id: ID!) { volumeProgress(jobId: $id) { status done } }`,
        variables: { id: jobId },
      })) {
        assert.equal(msg.errors, undefined, JSON.stringify(msg.errors));
        events.push(msg.data!.volumeProgress);
      }
    } finally {
      await client.dispose();
    }
    assert.deepEqual(events.at(-1), { status: 'SUCCEEDED', done: true });
    const read = await gql<{ volumeJob: { status: string; result: { keySlice: number } | null } }>(
      next(),
      `query ($id: ID!) { volumeJob(jobId: $id) { status result { keySlice } } }`,
      { id: jobId },
    );
    assert.deepEqual(
      read.data?.volumeJob,
      { status: 'SUCCEEDED', result: { keySlice: 8 } },
      JSON.stringify(read.errors),
    );
    const cancelled = await gql<{ cancelVolume: boolean }>(
      next(),
      `mutation ($id: ID!) { cancelVolume(jobId: $id) }`,
      {
        id: jobId,
      },
    );
    assert.equal(cancelled.data?.cancelVolume, false, 'a finished job cannot be cancelled from any replica');
  });

  test('SIGKILL of the replica running a job: another finishes it, every sample stored exactly once', async () => {
    const synth = writeSyntheticDataset({
      dir: join(tmp, 'kill-data'),
      images: 10,
      seed: 32,
      width: 128,
      height: 128,
    });
    const victim = replicas[0];
    await gql(
      victim.url,
      `mutation ($p: String!) { registerDataset(input: { path: $p, id: "kill" }) { id } }`,
      {
        p: synth.dir,
      },
    );
    const started = await gql<{ startBenchmark: { id: string } }>(
      victim.url,
      `mutation { startBenchmark(input: { dataset: "kill", models: ["sam_reference"], strategies: [S2, S3, S5, S6] }) { id } }`,
    );
    const id = started.data!.startBenchmark.id;
    const total = synth.objects.length * 4;
    const count = async () =>
      Number((await sql<{ n: string }>(`SELECT COUNT(*) AS n FROM samples WHERE job_id = '${id}'`))[0].n);
    await waitForValue(count, (n) => n >= 5, 'five samples');
    const [{ lease_owner: holder }] = await sql<{ lease_owner: string }>(
      `SELECT lease_owner FROM jobs WHERE id = '${id}'`,
    );
    assert.match(
      holder,
      new RegExp(`/${victim.child.pid}/`),
      'the replica that started the job holds its lease',
    );
    victim.child.kill('SIGKILL');
    const atKill = await count();
    assert.ok(atKill < total, 'killed mid-job');
    replicas.shift();
    const done = await waitForValue(
      async () =>
        (
          await gql<{ benchmark: { status: string; progress: { done: number } } }>(
            next(),
            `query ($id: ID!) { benchmark(id: $id) { status progress { done } } }`,
            { id },
          )
        ).data!.benchmark,
      (b) => b.status === 'completed',
      'another replica to finish the job',
    );
    assert.equal(done.progress.done, total);
    const rows = await sql<{ n: string }>(
      `SELECT COUNT(*) AS n FROM samples WHERE job_id = '${id}' GROUP BY model, strategy, object_id, variant`,
    );
    assert.equal(rows.length, total);
    assert.ok(
      rows.every((r) => Number(r.n) === 1),
      'every sample stored exactly once',
    );
    const [{ lease_owner: finisher }] = await sql<{ lease_owner: string | null }>(
      `SELECT lease_owner FROM jobs WHERE id = '${id}'`,
    );
    assert.equal(finisher, null, 'the finished job holds no lease');
  });

  test('two shards of one run, started on different replicas, give one report', async () => {
    const synth = writeSyntheticDataset({ dir: join(tmp, 'shard-data'), images: 4, seed: 33 });
    await gql(
      next(),
      `mutation ($p: String!) { registerDataset(input: { path: $p, id: "shards" }) { id } }`,
      { p: synth.dir },
    );
    const ids: string[] = [];
    for (const index of [0, 1]) {
      const r = await gql<{ startBenchmark: { id: string } }>(
        next(),
        `mutation ($i: Int!) { startBenchmark(input: { dataset: "shards", models: ["sam_reference"], strategies: [S2], shardIndex: $i, shardCount: 2 }) { id } }`,
        { i: index },
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      ids.push(r.data!.startBenchmark.id);
    }
    for (const id of ids) {
      await waitForValue(
        async () =>
          (
            await gql<{ benchmark: { status: string } }>(
              next(),
              `query ($id: ID!) { benchmark(id: $id) { status } }`,
              { id },
            )
          ).data!.benchmark.status,
        (s) => s === 'completed',
        `shard ${id}`,
      );
    }
    let out = '';
    const code = await createBenchCommand().run(['report', ids.join(','), '--db', url, '--format', 'json'], {
      stdout: (s: string) => (out += s),
      stderr: () => {},
    });
    assert.equal(code, 0);
    const report = JSON.parse(out) as { job: { total: number; config: { shard: unknown } }; stored: number };
    assert.equal(report.stored, synth.objects.length, 'one report covers every object of both shards');
    assert.equal(report.job.config.shard, null);
    const single = await createBenchCommand()
      .run(['report', `${ids[0]},${ids[0]}`, '--db', url], { stdout: () => {}, stderr: () => {} })
      .then(() => 'ok');
    assert.equal(single, 'ok', 'a repeated id is the same job once');
  });

  test('the database down at start: a clear error after retries with backoff', async () => {
    const port = await freePort();
    const started = Date.now();
    const failed = await spawnMedseg(
      ['start'],
      {
        PORT: '0',
        STATE_DIR: join(tmp, 'down'),
        TRITON_URL: inference,
        DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${port}/postgres`,
        DATABASE_CONNECT_TIMEOUT_S: '2',
        LOG_LEVEL: 'warn',
      },
      /state store: .*unreachable after (\d+) attempts/,
      (c) => children.add(c),
    );
    const exit = await new Promise<number | null>((r) => failed.child.once('exit', (c) => r(c)));
    assert.equal(exit, 1);
    assert.ok(Number(failed.match[1]) >= 2, failed.output());
    assert.match(failed.output(), /state store unreachable, retrying/);
    assert.doesNotMatch(failed.output(), /hunter2/, 'the password is never printed');
    assert.ok(Date.now() - started >= 1500);
  });
});
