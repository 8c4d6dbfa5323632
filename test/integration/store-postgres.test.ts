/**
 * The state store conformance suite on a private PostgreSQL (test/helpers/postgres.ts), plus what only a
 * server database has: ten replicas migrating at once, migrating a database written by the unversioned
 * schema, the database down at start (a typed error after retries with backoff) and the listener
 * reconnecting after the database restarts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { normalizeConfig } from '../../gateway/src/bench/runner.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../gateway/src/store/migrations.ts';
import { openStore } from '../../gateway/src/store/open-store.ts';
import { PgStore } from '../../gateway/src/store/postgres/pg-store.ts';
import { StoreError } from '../../gateway/src/store/state-store.ts';
import { freePort } from '../helpers/medseg-process.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { defineStoreSuite, sample } from './store-conformance.ts';

let server: TestPostgres;
let n = 0;
const serverReady = startPostgres().then((s) => (server = s));

defineStoreSuite('postgres', async () => {
  await serverReady;
  return {
    async fresh() {
      const url = await server.createDatabase(`suite_${n++}`);
      return { open: () => PgStore.open({ url }) };
    },
    async cleanup() {},
  };
});

before(async () => {
  await serverReady;
});
after(async () => {
  await serverReady;
  await server.stop();
});

test('postgres: ten replicas starting at once migrate the schema exactly once', async () => {
  const url = await server.createDatabase('ten');
  const stores = await Promise.all(Array.from({ length: 10 }, () => PgStore.open({ url })));
  try {
    for (const s of stores) assert.equal(await s.schemaVersion(), LATEST_SCHEMA_VERSION);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const r = await c.query('SELECT version FROM schema_version ORDER BY version');
    await c.end();
    assert.deepEqual(
      r.rows.map((x: { version: number }) => x.version),
      MIGRATIONS.map((m) => m.version),
    );
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});

test('postgres: a database written by the unversioned schema is adopted and migrated, its rows intact', async () => {
  const url = await server.createDatabase('old');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(MIGRATIONS[0].postgres);
  await c.query(
    `INSERT INTO datasets VALUES ('d', 'd', '/x', 'cosmos', 'CT', '{}', '{}', '[]', '2026-01-01T00:00:00Z')`,
  );
  await c.query(
    `INSERT INTO jobs VALUES ('old', 'd', $1, 'running', 4, NULL, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
    [JSON.stringify(normalizeConfig({ dataset: 'd', models: ['m'], strategies: ['S2'] }))],
  );
  await c.end();
  const store = await PgStore.open({ url });
  try {
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    const job = await store.getJob('old');
    assert.equal(job?.status, 'running');
    assert.equal(job?.leaseOwner, null);
    assert.deepEqual(await store.claimableJobs(), ['old']);
    assert.equal(await store.putSample(sample({ jobId: 'old' })), true);
  } finally {
    await store.close();
  }
});

test('postgres: nothing listening at start is a typed UNAVAILABLE error after retries with backoff', async () => {
  const port = await freePort();
  const retries: number[] = [];
  const t0 = Date.now();
  await assert.rejects(
    openStore({
      databaseUrl: `postgres://postgres:secret@127.0.0.1:${port}/postgres`,
      stateDir: '/nonexistent',
      connectTimeoutMs: 1500,
      onRetry: (_m, delay) => retries.push(delay),
    }),
    (e: unknown) =>
      e instanceof StoreError &&
      e.code === 'UNAVAILABLE' &&
      /unreachable after \d+ attempts/.test(e.message) &&
      !e.message.includes('secret'),
  );
  assert.ok(retries.length >= 2, `retried ${retries.length} times`);
  assert.ok(retries[1] > retries[0], `backoff grows: ${retries.join(', ')}`);
  assert.ok(Date.now() - t0 >= 1000, 'kept trying for the configured time');
});

test('postgres: a store started while the database is down connects once it is up', async () => {
  // A second private server that starts late.
  const late = await startPostgres();
  await late.kill();
  try {
    const opening = openStore({ databaseUrl: late.url, stateDir: '/nonexistent', connectTimeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 700));
    await late.restart();
    const store = await opening;
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    // Events resume after the database restarts: the listener reconnects.
    const got: string[] = [];
    await store.listen('x', (p) => got.push(p));
    await late.kill();
    await assert.rejects(store.ping(), (e: unknown) => e instanceof StoreError && e.code === 'UNAVAILABLE');
    await late.restart();
    const deadline = Date.now() + 60_000;
    while (!got.includes('back')) {
      if (Date.now() > deadline) throw new Error('no event after the database returned');
      await store.publish('x', 'back').catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
    }
    await store.close();
  } finally {
    await late.stop();
  }
});
