/**
 * Owners and per-caller quotas through a running gateway with API keys (issue 11 A8 sessions quota, A9
 * owners): one caller cannot use up the shared session bound, and sessions, volume jobs and benchmark jobs
 * are seen, changed and cancelled only by the caller that started them, or by an admin. Another caller's id
 * is answered exactly like an unknown one. The same holds across two replicas sharing one PostgreSQL.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiKeyStore } from '../../gateway/src/security/api-keys.ts';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';

const tmp = mkdtempSync(join(tmpdir(), 'medseg-owners-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Answer<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

async function call<T = Record<string, unknown>>(
  url: string,
  key: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<Answer<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Answer<T>;
}
const code = (a: Answer<unknown>) => a.errors?.[0]?.extensions?.code;

describe('owners and per-caller quotas', () => {
  let gw: RunningGateway;
  const keys = {} as Record<'segA' | 'segB' | 'benchA' | 'benchB' | 'admin', { key: string; id: string }>;
  const image = {
    encoded: {
      base64: Buffer.from(encodePng(generatePhantom({ seed: 2, width: 64, height: 64 }).image)).toString(
        'base64',
      ),
    },
  };

  before(async () => {
    const file = join(tmp, 'keys.json');
    const store = new ApiKeyStore(file);
    const roles = {
      segA: 'segment',
      segB: 'segment',
      benchA: 'benchmark',
      benchB: 'benchmark',
      admin: 'admin',
    } as const;
    for (const [name, role] of Object.entries(roles)) {
      const r = store.create(name, [role]);
      keys[name as keyof typeof keys] = { key: r.key, id: r.record.id };
    }
    const root = join(tmp, 'data');
    mkdirSync(root);
    writeSyntheticDataset({
      dir: join(root, 'ds'),
      images: 2,
      width: 64,
      height: 64,
      classes: { 100: 'a' },
      seed: 1,
      writeJson: true,
    });
    const stateDir = join(tmp, 'state');
    gw = await startTestGateway({
      stateDir,
      dataRoots: [root],
      maxSessionsPerCaller: 2,
      security: loadSecurityConfig({ API_KEYS_FILE: file, RATE_LIMIT_RPS: '0' }, stateDir),
    });
  });
  after(async () => gw?.close());

  test('sessions: a quota per caller, and only the owner (or an admin) sees or changes one', async () => {
    const start = (who: keyof typeof keys) =>
      call<{ startSession: { id: string } }>(
        gw.url,
        keys[who].key,
        'mutation ($i: ImageInput!) { startSession(image: $i) { id } }',
        { i: image },
      );
    const a1 = await start('segA');
    assert.equal(a1.errors, undefined, JSON.stringify(a1.errors));
    assert.equal((await start('segA')).errors, undefined);
    const third = await start('segA');
    assert.equal(code(third), 'LIMIT_EXCEEDED');
    assert.match(third.errors![0].message, /per caller/);
    assert.equal((await start('segB')).errors, undefined, 'another caller is not blocked by the first');

    const id = a1.data!.startSession.id;
    const seen = (who: keyof typeof keys) =>
      call<{ session: { id: string } | null }>(gw.url, keys[who].key, `{ session(id: "${id}") { id } }`);
    assert.equal((await seen('segA')).data!.session?.id, id);
    assert.equal((await seen('segB')).data!.session, null);
    assert.equal((await seen('admin')).data!.session?.id, id);
    const click = await call(
      gw.url,
      keys.segB.key,
      `mutation { addClick(session: "${id}", x: 5, y: 5, positive: true) { id } }`,
    );
    assert.equal(code(click), 'SESSION_NOT_FOUND');
    const close = await call<{ closeSession: boolean }>(
      gw.url,
      keys.segB.key,
      `mutation { closeSession(session: "${id}") }`,
    );
    assert.equal(close.data!.closeSession, false);
    assert.equal((await seen('segA')).data!.session?.id, id, 'still open');
  });

  test('volume jobs: only the owner (or an admin) sees or cancels one', async () => {
    let finish!: () => void;
    const job = gw.services.medical.volumeJobs.start(
      () => new Promise((resolve) => (finish = () => resolve(undefined))),
      `api-key:${keys.segA.id}`,
    );
    try {
      const q = `{ volumeJob(jobId: "${job.id}") { jobId status } }`;
      assert.equal(
        (await call<{ volumeJob: { jobId: string } | null }>(gw.url, keys.segA.key, q)).data!.volumeJob
          ?.jobId,
        job.id,
      );
      assert.equal((await call<{ volumeJob: unknown }>(gw.url, keys.segB.key, q)).data!.volumeJob, null);
      assert.equal(
        (await call<{ volumeJob: { jobId: string } | null }>(gw.url, keys.admin.key, q)).data!.volumeJob
          ?.jobId,
        job.id,
      );
      const cancel = await call(gw.url, keys.segB.key, `mutation { cancelVolume(jobId: "${job.id}") }`);
      assert.equal(code(cancel), 'NOT_FOUND');
      assert.equal(job.status, 'RUNNING');
    } finally {
      finish();
    }
  });

  test('benchmark jobs: only the owner (or an admin) sees, lists or cancels one', async () => {
    const reg = await call(
      gw.url,
      keys.benchA.key,
      'mutation { registerDataset(input: { path: "ds", id: "ds" }) { id } }',
    );
    assert.equal(reg.errors, undefined, JSON.stringify(reg.errors));
    const started = await call<{ startBenchmark: { id: string } }>(
      gw.url,
      keys.benchA.key,
      'mutation { startBenchmark(input: { dataset: "ds", models: ["sam_reference"], strategies: [S5] }) { id } }',
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const id = started.data!.startBenchmark.id;
    const one = (who: keyof typeof keys) =>
      call<{ benchmark: { id: string } | null }>(gw.url, keys[who].key, `{ benchmark(id: "${id}") { id } }`);
    const list = async (who: keyof typeof keys) =>
      (
        await call<{ benchmarks: Array<{ id: string }> }>(gw.url, keys[who].key, '{ benchmarks { id } }')
      ).data!.benchmarks.map((b) => b.id);
    assert.equal((await one('benchA')).data!.benchmark?.id, id);
    assert.equal((await one('benchB')).data!.benchmark, null);
    assert.equal((await one('admin')).data!.benchmark?.id, id);
    assert.ok((await list('benchA')).includes(id));
    assert.ok(!(await list('benchB')).includes(id));
    const cancel = await call(gw.url, keys.benchB.key, `mutation { cancelBenchmark(id: "${id}") { id } }`);
    assert.equal(code(cancel), 'NOT_FOUND');
    assert.match(cancel.errors![0].message, /no benchmark job/);
    await gw.services.benchmark.drain();
  });
});

// Replicas share sessions, volume jobs and benchmark jobs through PostgreSQL (issue 15): the owners and the
// per-caller quotas must hold there too, whichever replica a request lands on.
describe('owners and per-caller quotas across two replicas on one PostgreSQL', () => {
  let db: TestPostgres;
  const gws: RunningGateway[] = [];
  const keys = {} as Record<'segA' | 'segB' | 'benchA' | 'benchB' | 'admin', { key: string; id: string }>;
  const image = {
    encoded: {
      base64: Buffer.from(encodePng(generatePhantom({ seed: 3, width: 64, height: 64 }).image)).toString(
        'base64',
      ),
    },
  };

  before(async () => {
    const dir = join(tmp, 'replicas');
    mkdirSync(dir);
    const file = join(dir, 'keys.json');
    const store = new ApiKeyStore(file);
    const roles = {
      segA: 'segment',
      segB: 'segment',
      benchA: 'benchmark',
      benchB: 'benchmark',
      admin: 'admin',
    } as const;
    for (const [name, role] of Object.entries(roles)) {
      const r = store.create(name, [role]);
      keys[name as keyof typeof keys] = { key: r.key, id: r.record.id };
    }
    const root = join(dir, 'data');
    mkdirSync(root);
    writeSyntheticDataset({
      dir: join(root, 'ds'),
      images: 2,
      width: 64,
      height: 64,
      classes: { 100: 'a' },
      seed: 4,
      writeJson: true,
    });
    db = await startPostgres();
    const databaseUrl = await db.createDatabase('owners');
    for (const name of ['a', 'b']) {
      const stateDir = join(dir, `state-${name}`);
      gws.push(
        await startTestGateway({
          stateDir,
          dataRoots: [root],
          databaseUrl,
          maxSessionsPerCaller: 2,
          security: loadSecurityConfig({ API_KEYS_FILE: file, RATE_LIMIT_RPS: '0' }, stateDir),
        }),
      );
    }
  });
  after(async () => {
    for (const gw of gws) await gw.close();
    await db?.stop();
  });

  test('sessions: the per-caller quota counts both replicas; another caller reads one as unknown', async () => {
    const [a, b] = gws;
    const start = (url: string, who: keyof typeof keys) =>
      call<{ startSession: { id: string } }>(
        url,
        keys[who].key,
        'mutation ($i: ImageInput!) { startSession(image: $i) { id } }',
        { i: image },
      );
    const first = await start(a.url, 'segA');
    assert.equal(first.errors, undefined, JSON.stringify(first.errors));
    assert.equal((await start(b.url, 'segA')).errors, undefined);
    const third = await start(a.url, 'segA');
    assert.equal(code(third), 'LIMIT_EXCEEDED');
    assert.match(third.errors![0].message, /per caller/);
    assert.equal((await start(b.url, 'segB')).errors, undefined, 'another caller is not blocked');

    const id = first.data!.startSession.id;
    const seen = (who: keyof typeof keys) =>
      call<{ session: { id: string } | null }>(b.url, keys[who].key, `{ session(id: "${id}") { id } }`);
    assert.equal((await seen('segA')).data!.session?.id, id, 'the owner continues it on the other replica');
    assert.equal((await seen('segB')).data!.session, null);
    assert.equal((await seen('admin')).data!.session?.id, id);
    const click = await call(
      b.url,
      keys.segB.key,
      `mutation { addClick(session: "${id}", x: 5, y: 5, positive: true) { id } }`,
    );
    assert.equal(code(click), 'SESSION_NOT_FOUND');
    const stolen = await call<{ closeSession: boolean }>(
      b.url,
      keys.segB.key,
      `mutation { closeSession(session: "${id}") }`,
    );
    assert.equal(stolen.data!.closeSession, false);
    assert.equal((await seen('segA')).data!.session?.id, id, 'still open');
    const closed = await call<{ closeSession: boolean }>(
      b.url,
      keys.segA.key,
      `mutation { closeSession(session: "${id}") }`,
    );
    assert.equal(closed.data!.closeSession, true);
    assert.equal((await start(a.url, 'segA')).errors, undefined, 'a closed session frees its place');
  });

  test('volume and benchmark jobs: only the owner (or an admin) sees or cancels one on another replica', async () => {
    const [a, b] = gws;
    let finish!: () => void;
    const job = a.services.medical.volumeJobs.start(
      () => new Promise((resolve) => (finish = () => resolve(undefined))),
      `api-key:${keys.segA.id}`,
    );
    try {
      await a.services.medical.volumeJobs.flush(job.id);
      const q = `{ volumeJob(jobId: "${job.id}") { jobId status } }`;
      const read = (who: keyof typeof keys) =>
        call<{ volumeJob: { jobId: string } | null }>(b.url, keys[who].key, q);
      assert.equal((await read('segA')).data!.volumeJob?.jobId, job.id);
      assert.equal((await read('segB')).data!.volumeJob, null);
      assert.equal((await read('admin')).data!.volumeJob?.jobId, job.id);
      const cancel = await call(b.url, keys.segB.key, `mutation { cancelVolume(jobId: "${job.id}") }`);
      assert.equal(code(cancel), 'NOT_FOUND');
      assert.equal(job.status, 'RUNNING');
    } finally {
      finish();
    }

    const reg = await call(
      a.url,
      keys.benchA.key,
      'mutation { registerDataset(input: { path: "ds", id: "ds" }) { id } }',
    );
    assert.equal(reg.errors, undefined, JSON.stringify(reg.errors));
    const started = await call<{ startBenchmark: { id: string } }>(
      a.url,
      keys.benchA.key,
      'mutation { startBenchmark(input: { dataset: "ds", models: ["sam_reference"], strategies: [S5] }) { id } }',
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const id = started.data!.startBenchmark.id;
    const one = (who: keyof typeof keys) =>
      call<{ benchmark: { id: string } | null }>(b.url, keys[who].key, `{ benchmark(id: "${id}") { id } }`);
    assert.equal((await one('benchA')).data!.benchmark?.id, id);
    assert.equal((await one('benchB')).data!.benchmark, null);
    assert.equal((await one('admin')).data!.benchmark?.id, id);
    const cancel = await call(b.url, keys.benchB.key, `mutation { cancelBenchmark(id: "${id}") { id } }`);
    assert.equal(code(cancel), 'NOT_FOUND');
    assert.match(cancel.errors![0].message, /no benchmark job/);
    await a.services.benchmark.drain();
  });
});
