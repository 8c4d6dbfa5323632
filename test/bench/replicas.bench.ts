/**
 * `npm run bench -- replicas`: gateway replicas sharing one PostgreSQL (a private one, test/helpers/postgres.ts)
 * and one inference server (`medseg serve-models`), all real processes on loopback.
 * (a) `segment` throughput on a cached embedding with 1, 2 and 3 replicas, clients sent round robin (ratio);
 * (b) the latency the shared store adds to a `segment` on a cached embedding: one client, PostgreSQL replica
 *     against a SQLite gateway on the same inference server (p50/p99);
 * (c) a handle from another replica: the first `segment` on B with A's embeddingId (re-encode from the
 *     stored pixels) against a cached one, and what the alternative costs: writing and reading the
 *     embedding itself (256x64x64 fp32) through the store;
 * (d) benchmark job throughput (fake segmenter, samples/s) on PostgreSQL against SQLite (synchronous FULL).
 * Environment: REPLICA_SECONDS (default 10) and REPLICA_CLIENTS (default 12).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerDataset } from '../../gateway/src/bench/datasets/registry.ts';
import { startBenchmark, type JobSummary } from '../../gateway/src/bench/runner.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { PgStore } from '../../gateway/src/store/postgres/pg-store.ts';
import { SqliteStore } from '../../gateway/src/store/sqlite/sqlite-store.ts';
import type { StateStore } from '../../gateway/src/store/state-store.ts';
import { REPO_ROOT } from '../helpers/gateway.ts';
import { driveLoad, graphqlRequest, percentile, type LoadResult } from '../helpers/load.ts';
import { freePort, spawnMedseg } from '../helpers/medseg-process.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { createFakeSegmenter } from '../unit/bench/fake-segmenter.ts';

const MODELS = join(REPO_ROOT, 'triton-models');
const SEGMENT = `query ($id: ID!) { segment(input: { embeddingId: $id, prompts: [{ box: { x0: 40, y0: 40, x1: 200, y1: 180 } }] }) { results { masks { area lowResId } } } }`;
const ENCODE = `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`;
const READY = /listening on (http:\/\/[\d.:]+)\/graphql/;

async function post(url: string, query: string, variables: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: unknown; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const fmt = (r: LoadResult) =>
  `${r.throughput.toFixed(1).padStart(7)} req/s  p50 ${percentile(r.latenciesMs, 50).toFixed(1)} ms  p99 ${percentile(r.latenciesMs, 99).toFixed(1)} ms  errors ${JSON.stringify(r.errors)}`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function jobRate(store: StateStore, dataset: string): Promise<JobSummary> {
  await registerDataset(store, dataset, { id: 'synthetic' });
  return (
    await startBenchmark(
      { dataset: 'synthetic', models: ['fake'], strategies: ['S2', 'S3', 'S4', 'S5', 'S6'] },
      { store, segmenter: createFakeSegmenter() },
    )
  ).done;
}

/** Runs the suite and prints its figures. */
export async function run(): Promise<void> {
  const seconds = Number(process.env.REPLICA_SECONDS ?? 10);
  const clients = Number(process.env.REPLICA_CLIENTS ?? 12);
  const tmp = mkdtempSync(join(tmpdir(), 'medseg-replicas-bench-'));
  // fsync on, as SQLite's synchronous FULL: the job comparison is durable commit against durable commit.
  const db = await startPostgres({ fsync: true });
  const children: ChildProcess[] = [];
  try {
    const url = await db.createDatabase('bench');
    const port = await freePort();
    await spawnMedseg(
      ['serve-models', '--repository', MODELS, '--port', String(port)],
      {},
      /listening on/,
      (c) => children.push(c),
    );
    const common = { PORT: '0', RATE_LIMIT_RPS: '0', TRITON_URL: `127.0.0.1:${port}` };
    const replicas: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      const p = await spawnMedseg(
        ['start'],
        { ...common, STATE_DIR: join(tmp, name), DATABASE_URL: url },
        READY,
        (c) => children.push(c),
      );
      replicas.push(p.match[1]);
    }
    const sqliteGw = (
      await spawnMedseg(['start'], { ...common, STATE_DIR: join(tmp, 'sqlite') }, READY, (c) =>
        children.push(c),
      )
    ).match[1];
    const png = Buffer.from(encodePng(generatePhantom({ seed: 17, width: 256, height: 256 }).image)).toString(
      'base64',
    );
    const enc = (await post(replicas[0], ENCODE, { i: { encoded: { base64: png } } })) as {
      encodeImage: { id: string };
    };
    const id = enc.encodeImage.id;

    // (c) first: B has never seen the embedding.
    const missMs = await timed(() => post(replicas[1], SEGMENT, { id }));
    const hitMs: number[] = [];
    for (let i = 0; i < 20; i++) hitMs.push(await timed(() => post(replicas[1], SEGMENT, { id })));
    hitMs.sort((a, b) => a - b);
    await post(replicas[2], SEGMENT, { id });
    await post(sqliteGw, ENCODE, { i: { encoded: { base64: png } } });

    // (a) throughput with 1, 2, 3 replicas, clients round robin.
    console.log(`segment on a cached embedding, ${clients} clients for ${seconds} s, one inference server:`);
    const through: LoadResult[] = [];
    for (const k of [1, 2, 3]) {
      const requests = replicas.slice(0, k).map((u) => graphqlRequest(u, SEGMENT, { id }));
      let turn = 0;
      const r = await driveLoad({
        clients,
        durationMs: seconds * 1000,
        request: () => requests[turn++ % k](),
      });
      through.push(r);
      console.log(`  ${k} replica(s): ${fmt(r)}`);
    }
    console.log(
      `  throughput ratio 2/1 ${(through[1].throughput / through[0].throughput).toFixed(2)}x, 3/1 ${(through[2].throughput / through[0].throughput).toFixed(2)}x`,
    );

    // (b) latency added by the store: one client each, side by side.
    const oneSeconds = Math.max(3, Math.round(seconds / 2));
    const onPg = await driveLoad({
      clients: 1,
      durationMs: oneSeconds * 1000,
      request: graphqlRequest(replicas[0], SEGMENT, { id }),
    });
    const onSqlite = await driveLoad({
      clients: 1,
      durationMs: oneSeconds * 1000,
      request: graphqlRequest(sqliteGw, SEGMENT, { id }),
    });
    console.log(`segment on a cached embedding, 1 client for ${oneSeconds} s:`);
    console.log(`  SQLite gateway (nothing shared): ${fmt(onSqlite)}`);
    console.log(`  PostgreSQL replica (lowResId written to the store): ${fmt(onPg)}`);
    console.log(
      `  added by the shared store: p50 ${(percentile(onPg.latenciesMs, 50) - percentile(onSqlite.latenciesMs, 50)).toFixed(1)} ms, ` +
        `p99 ${(percentile(onPg.latenciesMs, 99) - percentile(onSqlite.latenciesMs, 99)).toFixed(1)} ms`,
    );

    // (c) the handle from another replica, and the alternative of storing embeddings.
    const store = await PgStore.open({ url });
    const embedding = Buffer.alloc(256 * 64 * 64 * 4, 7);
    const writes: number[] = [];
    const reads: number[] = [];
    for (let i = 0; i < 5; i++) {
      writes.push(
        await timed(() =>
          store.putRecord({
            namespace: 'bench-embedding',
            key: `e${i}`,
            value: {},
            bytes: embedding,
            expiresMs: null,
          }),
        ),
      );
      reads.push(await timed(() => store.getRecord('bench-embedding', `e${i}`)));
    }
    const image = await store.getRecord('image', id);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(`embeddingId issued by replica A, used on replica B (sam_reference, 256x256 phantom):`);
    console.log(
      `  first segment on B (re-encode from ${image?.bytes?.byteLength ?? 0} stored pixel bytes): ${missMs.toFixed(1)} ms; ` +
        `cached afterwards: p50 ${percentile(hitMs, 50).toFixed(1)} ms (${(missMs / percentile(hitMs, 50)).toFixed(1)}x)`,
    );
    console.log(
      `  storing the embedding instead (4 MiB fp32 per image): write ${median(writes).toFixed(1)} ms, read ${median(reads).toFixed(1)} ms (medians of 5)`,
    );
    await store.close();

    // (d) job throughput on each store.
    const synth = writeSyntheticDataset({
      dir: join(tmp, 'data'),
      images: 10,
      width: 96,
      height: 96,
      seed: 5,
    });
    const sqlite = new SqliteStore(join(tmp, 'jobs.sqlite'));
    const onSqliteJob = await jobRate(sqlite, synth.dir);
    await sqlite.close();
    const pgJobs = await PgStore.open({ url: await db.createDatabase('jobs') });
    const onPgJob = await jobRate(pgJobs, synth.dir);
    await pgJobs.close();
    const rate = (s: JobSummary) => s.done / (s.wallMs / 1000);
    console.log(`benchmark job, fake segmenter, ${onSqliteJob.done} samples:`);
    console.log(`  SQLite (synchronous FULL): ${rate(onSqliteJob).toFixed(1)} samples/s`);
    console.log(`  PostgreSQL:                ${rate(onPgJob).toFixed(1)} samples/s`);
    console.log(`  PostgreSQL / SQLite: ${(rate(onPgJob) / rate(onSqliteJob)).toFixed(2)}x`);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await db.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
