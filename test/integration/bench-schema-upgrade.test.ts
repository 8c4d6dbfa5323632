/**
 * A `.medseg/bench.sqlite` written by today's schema (version 4, test/helpers/todays-schema.ts) holding a
 * benchmark job interrupted halfway is opened by this release, migrated, resumed to completion and reported:
 * the report equals that of the same job run in one go. A file whose samples table lacks a metric of the
 * table (as a file written before that metric was added does) gains its columns on open, on SQLite and on
 * PostgreSQL: the metric's statistics then count the samples computed since.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { registerDataset } from '../../gateway/src/bench/datasets/registry.ts';
import { METRIC_NAMES } from '../../gateway/src/bench/metric-table.ts';
import { buildReport } from '../../gateway/src/bench/report/build-report.ts';
import { renderReport } from '../../gateway/src/bench/report/render.ts';
import { resumeBenchmark, startBenchmark, type BenchmarkInput } from '../../gateway/src/bench/runner.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../gateway/src/store/migrations.ts';
import { PgStore } from '../../gateway/src/store/postgres/pg-store.ts';
import type { DbRow } from '../../gateway/src/store/rows.ts';
import { SqliteStore } from '../../gateway/src/store/sqlite/sqlite-store.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { TODAYS_SCHEMA_VERSION, writeTodaysSqliteSchema } from '../helpers/todays-schema.ts';
import { createFakeSegmenter } from '../unit/bench/fake-segmenter.ts';

const tmp = tempDir('medseg-schema-upgrade-');
const synth = writeSyntheticDataset({ images: 4, seed: 21, dir: join(tmp, 'data') });
after(() => rmSync(tmp, { recursive: true, force: true }));

const INPUT: BenchmarkInput = {
  dataset: 'synth',
  models: ['fake-sam'],
  strategies: ['S2', 'S5'],
  interactive: { protocol: 'boxThen5' },
};
const NOW = new Date('2026-12-06T12:00:00Z');

/** The job run in one go on a fresh store: the reference every upgraded file must reproduce. */
async function referenceRun(): Promise<SqliteStore> {
  const store = new SqliteStore(':memory:');
  await registerDataset(store, synth.dir, { id: 'synth' });
  const h = await startBenchmark(INPUT, { store, segmenter: createFakeSegmenter(), jobId: 'job' });
  const s = await h.done;
  assert.equal(s.status, 'completed', s.error ?? '');
  return store;
}

/**
 * Writes a file of today's schema holding the reference's rows as an interrupted run leaves them: the first
 * `keep` samples (and the curves of the interactive ones kept), the job still `running`. `dropMetric`
 * removes that metric's columns first, as in a file written before the metric existed.
 */
function writeInterruptedFile(
  ref: SqliteStore,
  file: string,
  keep: number,
  dropMetric?: string,
): { total: number } {
  const db = new Database(file);
  writeTodaysSqliteSchema(db);
  if (dropMetric !== undefined) {
    db.exec(`ALTER TABLE samples DROP COLUMN oracle_${dropMetric}`);
    db.exec(`ALTER TABLE samples DROP COLUMN deploy_${dropMetric}`);
  }
  const copy = (table: string, rows: DbRow[]) => {
    const cols = (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map(
      (c) => c.name,
    );
    const insert = db.prepare(
      `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
    );
    for (const r of rows) insert.run(...cols.map((c) => r[c] ?? null));
  };
  const all = (sql: string) => ref.db.prepare(sql).all() as DbRow[];
  const samples = all('SELECT * FROM samples ORDER BY rowid');
  const kept = samples.slice(0, keep);
  const interactiveKept = new Set(
    kept.filter((s) => String(s.strategy).startsWith('interactive-')).map((s) => `${s.model}|${s.object_id}`),
  );
  copy('datasets', all('SELECT * FROM datasets'));
  copy(
    'jobs',
    all('SELECT * FROM jobs').map((j) => ({
      ...j,
      status: 'running',
      lease_owner: null,
      lease_expires_ms: null,
    })),
  );
  copy('prompt_sets', all('SELECT * FROM prompt_sets'));
  copy('samples', kept);
  copy(
    'curves',
    all('SELECT * FROM curves').filter((c) => interactiveKept.has(`${c.model}|${c.object_id}`)),
  );
  const version = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number };
  assert.equal(version.v, TODAYS_SCHEMA_VERSION);
  db.close();
  return { total: samples.length };
}

test("sqlite: a file of today's schema with a job interrupted halfway is migrated, resumed and reported as one run", async () => {
  const ref = await referenceRun();
  try {
    const refCsv = renderReport(await buildReport(ref, 'job', NOW), 'csv');
    const file = join(tmp, 'today.sqlite');
    const { total } = writeInterruptedFile(ref, file, 7);
    assert.ok(total > 14, `${total} samples in the reference`);

    const store = new SqliteStore(file);
    try {
      assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
      assert.equal((await store.getJob('job'))?.status, 'running');
      assert.equal(await store.countSamples('job'), 7);
      const h = await resumeBenchmark('job', { store, segmenter: createFakeSegmenter() });
      const s = await h.done;
      assert.equal(s.status, 'completed', s.error ?? '');
      assert.equal(await store.countSamples('job'), total);
      const report = await buildReport(store, 'job', NOW);
      assert.equal(renderReport(report, 'csv'), refCsv, 'the resumed run reports as the uninterrupted one');
      assert.match(renderReport(report, 'md'), /all metrics overall/);
    } finally {
      await store.close();
    }
  } finally {
    await ref.close();
  }
});

test('sqlite: a file without the columns of a metric of the table gains them on open; its statistics count the samples since', async () => {
  const ref = await referenceRun();
  try {
    const file = join(tmp, 'before-assd.sqlite');
    const { total } = writeInterruptedFile(ref, file, 5, 'assd');
    const store = new SqliteStore(file);
    try {
      const cols = (store.db.prepare('PRAGMA table_info(samples)').all() as Array<{ name: string }>).map(
        (c) => c.name,
      );
      for (const m of METRIC_NAMES) {
        assert.ok(cols.includes(`oracle_${m}`) && cols.includes(`deploy_${m}`), `columns of ${m}`);
      }
      const old = await store.listSamples('job');
      assert.deepEqual(
        old.map((s) => s.oracle?.metrics.assd ?? null),
        old.map(() => null),
        'samples stored before the metric have no value for it',
      );
      const h = await resumeBenchmark('job', { store, segmenter: createFakeSegmenter() });
      assert.equal((await h.done).status, 'completed');
      const samples = await store.listSamples('job');
      assert.equal(samples.length, total);
      const report = await buildReport(store, 'job', NOW);
      const overall = report.aggregate.rows.filter((r) => r.scope === 'overall' && r.selection === 'oracle');
      for (const row of overall) {
        const group = samples.filter((s) => s.strategy === row.strategy && s.status === 'ok');
        const since = group.filter(
          (s) => !old.some((o) => o.objectId === s.objectId && o.strategy === s.strategy),
        );
        assert.equal(row.metrics.dice.n, group.length, `${row.strategy}: Dice over every sample`);
        assert.equal(row.metrics.assd.n, since.length, `${row.strategy}: ASSD over the samples since`);
      }
      assert.ok(overall.some((r) => r.metrics.assd.n > 0 && r.metrics.assd.n < r.metrics.dice.n));
    } finally {
      await store.close();
    }
    // Reopening keeps every value.
    const again = new SqliteStore(file);
    try {
      const samples = await again.listSamples('job');
      assert.equal(samples.length, total);
      assert.ok(samples.some((s) => typeof s.oracle?.metrics.assd === 'number'));
    } finally {
      await again.close();
    }
  } finally {
    await ref.close();
  }
});

test('postgres: a database without the columns of a metric of the table gains them once, however many replicas open it', async () => {
  const server = await startPostgres();
  try {
    const url = await server.createDatabase('before_assd');
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    for (const m of MIGRATIONS.filter((x) => x.version <= TODAYS_SCHEMA_VERSION)) {
      await c.query(m.postgres);
      await c.query('INSERT INTO schema_version VALUES ($1, $2)', [m.version, '2026-12-01T00:00:00Z']);
    }
    await c.query('ALTER TABLE samples DROP COLUMN oracle_assd, DROP COLUMN deploy_assd');
    const stores = await Promise.all(Array.from({ length: 4 }, () => PgStore.open({ url })));
    try {
      const cols = await c.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'samples' AND column_name LIKE '%assd'",
      );
      assert.deepEqual(cols.rows.map((r: { column_name: string }) => r.column_name).sort(), [
        'deploy_assd',
        'oracle_assd',
      ]);
      const store = stores[0];
      await registerDataset(store, synth.dir, { id: 'synth' });
      const h = await startBenchmark(
        { ...INPUT, interactive: undefined, strategies: ['S5'] },
        {
          store,
          segmenter: createFakeSegmenter(),
          jobId: 'pg-job',
        },
      );
      assert.equal((await h.done).status, 'completed');
      const samples = await stores[1].listSamples('pg-job');
      assert.ok(samples.length > 0);
      assert.ok(samples.every((s) => typeof s.oracle?.metrics.assd === 'number'));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await c.end();
    }
  } finally {
    await server.stop();
  }
});
