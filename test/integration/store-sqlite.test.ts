/** The state store conformance suite on SQLite, and migrating a database written before versioning. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { normalizeConfig } from '../../gateway/src/bench/runner.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../gateway/src/store/migrations.ts';
import { SqliteStore } from '../../gateway/src/store/sqlite/sqlite-store.ts';
import { defineStoreSuite, sample } from './store-conformance.ts';

const tmp = mkdtempSync(join(tmpdir(), 'medseg-sqlite-store-'));
let n = 0;

defineStoreSuite('sqlite', async () => ({
  async fresh() {
    const file = join(tmp, `db${n++}.sqlite`);
    return { open: async () => new SqliteStore(file) };
  },
  async cleanup() {
    rmSync(tmp, { recursive: true, force: true });
  },
}));

test('sqlite: a database written by the unversioned schema is adopted and migrated, its rows intact', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-sqlite-old-'));
  try {
    const file = join(dir, 'old.sqlite');
    // Version 1 is the schema the store had before versioning, byte for byte.
    const old = new Database(file);
    old.exec(MIGRATIONS[0].sqlite);
    old
      .prepare(
        `INSERT INTO datasets VALUES ('d', 'd', '/x', 'cosmos', 'CT', '{}', '{}', '[]', '2026-01-01T00:00:00Z')`,
      )
      .run();
    old
      .prepare(
        `INSERT INTO jobs VALUES ('old', 'd', ?, 'running', 4, NULL, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
      )
      .run(JSON.stringify(normalizeConfig({ dataset: 'd', models: ['m'], strategies: ['S2'] })));
    const versioned = old
      .prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'schema_version'")
      .get() as { n: number };
    assert.equal(versioned.n, 0);
    old.close();

    const store = new SqliteStore(file);
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    const job = await store.getJob('old');
    assert.equal(job?.status, 'running');
    assert.equal(job?.total, 4);
    assert.equal(job?.leaseOwner, null);
    assert.deepEqual(
      await store.claimableJobs(),
      ['old'],
      'an interrupted job of the old release is resumable',
    );
    assert.equal(await store.putSample(sample({ jobId: 'old' })), true);
    await store.close();
    // Opening again applies nothing twice.
    const again = new SqliteStore(file);
    const versions = again.db.prepare('SELECT version FROM schema_version ORDER BY version').all() as Array<{
      version: number;
    }>;
    assert.deepEqual(
      versions.map((v) => v.version),
      MIGRATIONS.map((m) => m.version),
    );
    assert.equal(await again.countSamples('old'), 1);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: a file of the release before versioning that already gained job owners is migrated, owners kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-sqlite-owner-'));
  try {
    const file = join(dir, 'old.sqlite');
    // That release added the owner column at open, before any schema_version existed.
    const old = new Database(file);
    old.exec(MIGRATIONS[0].sqlite);
    old.exec('ALTER TABLE jobs ADD COLUMN owner TEXT');
    old
      .prepare(
        `INSERT INTO datasets VALUES ('d', 'd', '/x', 'cosmos', 'CT', '{}', '{}', '[]', '2026-01-01T00:00:00Z')`,
      )
      .run();
    old
      .prepare(
        `INSERT INTO jobs (id, dataset_id, config_json, status, total, error, created_at, updated_at, owner)
         VALUES ('old', 'd', ?, 'completed', 4, NULL, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'key:bob')`,
      )
      .run(JSON.stringify(normalizeConfig({ dataset: 'd', models: ['m'], strategies: ['S2'] })));
    old.close();
    const store = new SqliteStore(file);
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    assert.equal((await store.getJob('old'))?.owner, 'key:bob');
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: a file whose fine-tuning table the previous release made is migrated, its jobs kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-sqlite-ft-'));
  try {
    const file = join(dir, 'old.sqlite');
    // That release ran migrations 1-4 and created the table itself, without owners or leases.
    const old = new Database(file);
    old.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    for (const m of MIGRATIONS.filter((x) => x.version <= 4)) {
      old.exec(m.sqlite);
      old.prepare('INSERT INTO schema_version VALUES (?, ?)').run(m.version, '2026-01-01T00:00:00Z');
    }
    old.exec(`CREATE TABLE finetune_jobs (id TEXT PRIMARY KEY, config_json TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('queued','running','cancelled','completed','failed')),
      split_json TEXT, history_json TEXT NOT NULL DEFAULT '[]', base_val_dice REAL, result_json TEXT,
      error_code TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`);
    old
      .prepare(
        `INSERT INTO finetune_jobs (id, config_json, status, history_json, created_at, updated_at)
         VALUES ('ft', ?, 'running', '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
      )
      .run(
        JSON.stringify({
          dataset: 'd',
          baseModel: 'mobilesam',
          modelName: 'old_model',
          split: 'auto',
          epochs: 1,
          seed: 0,
          threads: 1,
        }),
      );
    old.close();
    const store = new SqliteStore(file);
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    const job = await store.getFineTuneJob('ft');
    assert.equal(job?.config.modelName, 'old_model');
    assert.equal(job?.leaseOwner, null);
    assert.equal(job?.owner, null);
    assert.deepEqual(await store.claimableFineTuneJobs(), ['ft'], 'an interrupted old job is taken up');
    // Its model name is known to the new clash check.
    await assert.rejects(
      store.createFineTuneJob('new', { ...job!.config }, { owner: null, lease: { owner: 'r', ttlMs: 1000 } }),
      /already training 'old_model'/,
    );
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: WAL with synchronous FULL by default, NORMAL on request, anything else refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-sqlite-sync-'));
  try {
    const full = new SqliteStore(join(dir, 'a.sqlite'));
    assert.equal(full.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(full.db.pragma('synchronous', { simple: true }), 2);
    await full.close();
    const normal = new SqliteStore(join(dir, 'b.sqlite'), { synchronous: 'NORMAL' });
    assert.equal(normal.db.pragma('synchronous', { simple: true }), 1);
    await normal.close();
    assert.throws(() => new SqliteStore(join(dir, 'c.sqlite'), { synchronous: 'OFF' as 'FULL' }), RangeError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
