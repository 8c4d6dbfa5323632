/**
 * Leased work across replicas on a private PostgreSQL: benchmark replicas as real child processes share one
 * database; a SIGKILLed replica's job is finished by another after its lease runs out, every sample stored
 * exactly once and never computed twice; of two idle replicas exactly one takes the job. In-process
 * replicas show events and cancel crossing replicas, and a job surviving the database going away mid-job.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { BenchmarkService } from '../../gateway/src/bench/benchmark-service.ts';
import type { BenchmarkEvent } from '../../gateway/src/bench/runner.ts';
import { PgStore } from '../../gateway/src/store/postgres/pg-store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { createFakeSegmenter } from '../unit/bench/fake-segmenter.ts';

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, 'replica-child.ts');
let server: TestPostgres;
const children = new Set<ChildProcess>();
const cleanups: Array<() => void> = [];

before(async () => {
  server = await startPostgres();
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const c of cleanups) c();
  await server?.stop();
});

/** A replica child; `out()` is everything it printed so far. */
function replica(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  void exited.then(() => children.delete(child));
  return { child, out: () => out, exited };
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function query<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, values)).rows as T[];
  } finally {
    await c.end();
  }
}

function dataset(seed: number, images: number): { dir: string; objects: number } {
  const synth = writeSyntheticDataset({ images, seed });
  cleanups.push(() => rmSync(synth.dir, { recursive: true, force: true }));
  return { dir: synth.dir, objects: synth.objects.length };
}

test('SIGKILL of the replica running a job: one of two other replicas finishes it, every sample once', async () => {
  const url = await server.createDatabase('kill');
  const data = dataset(21, 6);
  const total = data.objects * 3;
  const leaseMs = '3000';
  // Two idle replicas sweeping, started first so that A's job is still running once they are ready: exactly
  // one of them may take the job over (A created it already leased, so neither takes it while A lives).
  const b = replica(['sweep', url, data.dir, '-', '0', leaseMs]);
  const c = replica(['sweep', url, data.dir, '-', '0', leaseMs]);
  await until(() => b.out().includes('ready') && c.out().includes('ready'), 'the sweepers');
  const a = replica(['start', url, data.dir, 'kill-job', '100', leaseMs]);
  await until(
    () => /done (\d+)\//.test(a.out()) && Number([...a.out().matchAll(/done (\d+)\//g)].pop()![1]) >= 10,
    'A to store 10 samples',
  );
  a.child.kill('SIGKILL');
  await a.exited;
  const [{ n: atKill }] = await query<{ n: string }>(
    url,
    "SELECT COUNT(*) AS n FROM samples WHERE job_id = 'kill-job'",
  );
  assert.ok(Number(atKill) >= 10 && Number(atKill) < total, `${atKill} of ${total} stored at the kill`);
  const [{ status }] = await query<{ status: string }>(url, "SELECT status FROM jobs WHERE id = 'kill-job'");
  assert.equal(status, 'running', 'the killed replica left its job running under its lease');

  type Summary = { status: string; done: number; computed: number; error: string | null };
  const summaries = (): Summary[] =>
    [...(b.out() + c.out()).matchAll(/summary (.*)/g)].map((m) => JSON.parse(m[1]) as Summary);
  await until(() => summaries().some((x) => x.status === 'completed'), 'another replica to finish the job');
  const all = summaries();
  const completed = all.filter((x) => x.status === 'completed');
  assert.equal(completed.length, 1, 'one replica finished the job');
  assert.equal(completed[0].done, total);
  // A replica stalled past its lease (an overloaded machine) is fenced out and stops; between them the
  // survivors stored exactly the samples the killed one had not.
  for (const x of all) if (x.status !== 'completed') assert.match(x.error ?? '', /lease lost/);
  assert.equal(
    all.reduce((n, x) => n + x.computed, 0),
    total - Number(atKill),
    'only the missing samples were stored',
  );
  const rows = await query<{ n: string }>(
    url,
    "SELECT COUNT(*) AS n FROM samples WHERE job_id = 'kill-job' GROUP BY model, strategy, object_id, variant",
  );
  assert.equal(rows.length, total);
  assert.ok(rows.every((r) => Number(r.n) === 1));
  const [job] = await query<{ status: string; lease_owner: string | null }>(
    url,
    "SELECT status, lease_owner FROM jobs WHERE id = 'kill-job'",
  );
  assert.deepEqual(job, { status: 'completed', lease_owner: null });
  b.child.kill('SIGTERM');
  c.child.kill('SIGTERM');
  await Promise.all([b.exited, c.exited]);
});

test('in-process replicas: progress and the final event reach another replica; a cancel there stops the runner', async () => {
  const url = await server.createDatabase('events');
  const data = dataset(22, 4);
  const total = data.objects * 2;
  const [storeA, storeB] = await Promise.all([PgStore.open({ url }), PgStore.open({ url })]);
  const a = new BenchmarkService(storeA, createFakeSegmenter({ decodeDelayMs: 15 }), { leaseMs: 2000 });
  const b = new BenchmarkService(storeB, createFakeSegmenter(), { leaseMs: 2000 });
  try {
    await a.startSweeper();
    await b.startSweeper();
    await a.addDataset(data.dir, { id: 'ev' });
    const h = await a.start({ dataset: 'ev', models: ['m'], strategies: ['S2', 'S5'] }, 'ev-job');
    // Watched on B while it runs on A.
    const seen: BenchmarkEvent[] = [];
    let cancelled = false;
    for await (const e of b.events('ev-job')) {
      seen.push(e);
      if (!cancelled && e.type === 'progress' && seen.filter((x) => x.type === 'progress').length >= 3) {
        cancelled = true;
        assert.equal(await b.cancel('ev-job'), true);
      }
    }
    assert.equal((await h.done).status, 'cancelled', 'the cancel asked on B stopped the runner on A');
    assert.deepEqual(seen[seen.length - 1], {
      type: 'status',
      jobId: 'ev-job',
      status: 'cancelled',
      error: null,
    });
    assert.ok(seen.filter((e) => e.type === 'progress').length >= 3, 'live progress crossed replicas');
    // Resumed on B; a subscriber on A that joins after the end still gets the final state from the store.
    const resumed = await b.resume('ev-job');
    const s = await resumed.done;
    assert.equal(s.status, 'completed');
    assert.equal(s.done, total);
    const late: BenchmarkEvent[] = [];
    for await (const e of a.events('ev-job')) late.push(e);
    assert.deepEqual(
      late.map((e) => (e.type === 'progress' ? ['progress', e.done] : ['status', e.status])),
      [
        ['progress', total],
        ['status', 'completed'],
      ],
    );
  } finally {
    await a.drain(true);
    await b.drain(true);
    await storeA.close();
    await storeB.close();
  }
});

test('the database lost mid-job: the job continues once it returns, no sample lost or doubled', async () => {
  const url = await server.createDatabase('lost');
  const data = dataset(23, 5);
  const total = data.objects * 3;
  const store = await PgStore.open({ url });
  const segmenter = createFakeSegmenter({ decodeDelayMs: 20 });
  const picked: string[] = [];
  const service = new BenchmarkService(store, segmenter, {
    leaseMs: 1000,
    onEvent: (e) => {
      if (e.type === 'resumed') picked.push(e.jobId);
    },
  });
  try {
    await service.addDataset(data.dir, { id: 'lost' });
    await service.startSweeper();
    const h = await service.start(
      { dataset: 'lost', models: ['m'], strategies: ['S2', 'S3', 'S5'] },
      'lost-job',
    );
    await until(() => h.progress().done >= 6, 'six samples');
    await server.kill();
    const first = await h.done;
    assert.equal(first.status, 'running', 'a run that lost its database leaves the job running');
    assert.match(first.error ?? '', /database unavailable/);
    await server.restart();
    await until(
      async () => (await store.getJob('lost-job').catch(() => undefined))?.status === 'completed',
      'the job to complete after the database returned',
    );
    assert.ok(picked.includes('lost-job'), 'the sweeper resumed the job');
    const rows = await query<{ n: string }>(
      url,
      "SELECT COUNT(*) AS n FROM samples WHERE job_id = 'lost-job' GROUP BY model, strategy, object_id, variant",
    );
    assert.equal(rows.length, total, 'no sample lost');
    assert.ok(
      rows.every((r) => Number(r.n) === 1),
      'no sample doubled',
    );
  } finally {
    await service.drain(true);
    await store.close();
  }
});
