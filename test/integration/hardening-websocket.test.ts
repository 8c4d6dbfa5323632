/**
 * Attacks on the transport layer of a running gateway (issue 11 section A, items 1, 3, 5, 6 and the JWT part
 * of 8), each reproduced as an outside caller would: the WebSocket runs the same pipeline as HTTP (token
 * limit, validation, role table, audit line), carries subscriptions only, checks Origin, applies rate limits,
 * revocation and per-caller caps; without credentials only loopback Host names are served; /metrics labels
 * do not grow with client-chosen names; JWTs need a bounded `exp`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import pino from 'pino';
import { ApiKeyStore } from '../../gateway/src/security/api-keys.ts';
import { volumeTopic, type VolumeProgressEvent } from '../../gateway/src/api/propagation-jobs.ts';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';
import { loadConfig } from '../../gateway/src/config.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/main.ts';
import { REPO_ROOT, startTestGateway } from '../helpers/gateway.ts';
import { openWs, wsErrorCode, type WsConnection } from '../helpers/ws-client.ts';

const JWT_SECRET = 'ws-test-secret-of-at-least-32-bytes!!';
const tmp = mkdtempSync(join(tmpdir(), 'medseg-ws-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
// The backend is never reached by these tests: a dead address keeps each gateway cheap to start.
const DEAD_BACKEND = '127.0.0.1:1';

async function post(
  url: string,
  body: unknown,
  credential?: string,
): Promise<{ status: number; code: string | undefined; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(credential ? { authorization: `Bearer ${credential}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
  return { status: res.status, code: json.errors?.[0]?.extensions?.code, json };
}

/** A raw HTTP GET with a chosen Host header (fetch does not let a caller set Host). */
function getWithHost(url: string, path: string, host: string): Promise<number> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function mustOpen(url: string, options: Parameters<typeof openWs>[1] = {}): Promise<WsConnection> {
  const r = await openWs(url, options);
  assert.equal(r.kind, 'open', `expected an acknowledged connection, got ${JSON.stringify(r)}`);
  return (r as { connection: WsConnection }).connection;
}

describe('one pipeline on both transports (A1)', () => {
  let gw: RunningGateway;
  const logLines: Array<Record<string, unknown>> = [];
  let segmentKey: string;
  let segmentOwner: string;
  let adminKey: string;

  before(async () => {
    const file = join(tmp, 'a1-keys.json');
    const store = new ApiKeyStore(file);
    const seg = store.create('seg', ['segment']);
    segmentKey = seg.key;
    segmentOwner = seg.record.id;
    adminKey = store.create('adm', ['admin']).key;
    const stateDir = join(tmp, 'a1');
    const config = loadConfig(
      { PORT: '0', STATE_DIR: stateDir, MODEL_REPOSITORY: `${REPO_ROOT}triton-models` },
      {
        tritonUrl: DEAD_BACKEND,
        security: loadSecurityConfig({ API_KEYS_FILE: file, RATE_LIMIT_RPS: '0' }, stateDir),
      },
    );
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n').filter(Boolean))
          logLines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    gw = await startGateway(config, pino({ level: 'info' }, sink));
  });
  after(async () => gw?.close());

  test('an operation over the token limit is refused over WebSocket, never run unchecked', async () => {
    const ws = await mustOpen(gw.url, { credential: segmentKey });
    try {
      // 4,000 aliases of an admin-only field: about 24,000 tokens, over the 20,000 limit.
      const fields = Array.from({ length: 4000 }, (_, i) => `a${i}: cacheStats { entries }`).join(' ');
      for (const kind of ['query', 'subscription']) {
        const m = await ws.subscribe(`big-${kind}`, `${kind} { ${fields} }`);
        assert.equal(m.type, 'error', `${kind}: ${JSON.stringify(m).slice(0, 300)}`);
        assert.equal(wsErrorCode(m), 'GRAPHQL_PARSE_FAILED');
      }
      const http = await post(gw.url, { query: `{ ${fields} }` }, segmentKey);
      assert.notEqual(http.status, 200);
      assert.equal(http.json.data, undefined);
    } finally {
      ws.close();
    }
  });

  test('queries and mutations are refused over WebSocket with a typed error, whatever the role', async () => {
    const dataset = join(tmp, 'never-registered');
    for (const key of [segmentKey, adminKey]) {
      const ws = await mustOpen(gw.url, { credential: key });
      try {
        const q = await ws.subscribe('q', '{ cacheStats { entries } }');
        assert.equal(q.type, 'error');
        assert.equal(wsErrorCode(q), 'BAD_REQUEST');
        assert.match(JSON.stringify(q.payload), /subscriptions only/);
        const m = await ws.subscribe(
          'm',
          `mutation { registerDataset(input: { id: "ws-attack", root: ${JSON.stringify(dataset)} }) { id } }`,
        );
        assert.equal(m.type, 'error');
        assert.ok(
          ['BAD_REQUEST', 'GRAPHQL_VALIDATION_FAILED'].includes(wsErrorCode(m) ?? ''),
          JSON.stringify(m),
        );
      } finally {
        ws.close();
      }
    }
    const listed = await post(gw.url, { query: '{ datasets { id } }' }, adminKey);
    assert.equal(listed.status, 200);
    const ids = (listed.json.data as { datasets: Array<{ id: string }> }).datasets.map((d) => d.id);
    assert.ok(!ids.includes('ws-attack'), 'the mutation never ran');
  });

  test('the same validation limits (aliases) refuse the same document on both transports', async () => {
    const aliases = Array.from({ length: 60 }, (_, i) => `x${i}: done`).join(' ');
    const sub = `subscription { volumeProgress(jobId: "nope") { ${aliases} } }`;
    const ws = await mustOpen(gw.url, { credential: segmentKey });
    try {
      const m = await ws.subscribe('aliases', sub);
      assert.equal(m.type, 'error');
      assert.equal(wsErrorCode(m), 'GRAPHQL_VALIDATION_FAILED');
      assert.match(JSON.stringify(m.payload), /alias/i);
    } finally {
      ws.close();
    }
    const http = await post(
      gw.url,
      {
        query: `{ m1: models { name } ${Array.from({ length: 60 }, (_, i) => `n${i}: models { name }`).join(' ')} }`,
      },
      adminKey,
    );
    assert.equal(http.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.match(JSON.stringify(http.json), /alias/i);
  });

  test('WebSocket operations get the role check and the same audit line as HTTP', async () => {
    const ws = await mustOpen(gw.url, { credential: segmentKey });
    try {
      const denied = await ws.subscribe('d', 'subscription { benchmarkProgress(id: "x") { __typename } }');
      assert.equal(wsErrorCode(denied), 'FORBIDDEN');
      const allowed = await ws.subscribe('ok', 'subscription { volumeProgress(jobId: "none") { done } }');
      // Authorized, then the resolver's own typed answer for an unknown job.
      assert.equal(wsErrorCode(allowed), 'NOT_FOUND', JSON.stringify(allowed));
      // Finished subscriptions give their place back: more than the per-caller cap (32) in a row all run.
      for (let i = 0; i < 40; i++) {
        const m = await ws.subscribe(`again${i}`, 'subscription { volumeProgress(jobId: "none") { done } }');
        assert.equal(wsErrorCode(m), 'NOT_FOUND', `${i}: ${JSON.stringify(m)}`);
      }
    } finally {
      ws.close();
    }
    const ws2 = logLines.filter((l) => l.transport === 'websocket');
    assert.ok(ws2.length > 0);
    assert.ok(
      ws2.some((l) => l.msg === 'operation refused' && (l.fields as string[]).includes('benchmarkProgress')),
    );
    assert.ok(
      ws2.some((l) => l.msg === 'operation authorized' && (l.fields as string[]).includes('volumeProgress')),
    );
    assert.ok(ws2.every((l) => typeof l.principal === 'string' && !String(l.principal).includes('msk_')));
  });
  test('errors inside subscription results are masked as over HTTP', async () => {
    let finish!: () => void;
    const job = gw.services.medical.volumeJobs.start(
      () => new Promise((resolve) => (finish = () => resolve(undefined))),
      `api-key:${segmentOwner}`,
    );
    const ws = await mustOpen(gw.url, { credential: segmentKey });
    try {
      const topic = volumeTopic(job.id);
      const answer = ws.subscribe('masked', `subscription { volumeProgress(jobId: "${job.id}") { done } }`);
      const started = Date.now();
      while (gw.services.pubsub.subscriberCount(topic) === 0) {
        assert.ok(Date.now() - started < 30_000, 'the subscription never attached');
        await new Promise((r) => setTimeout(r, 10));
      }
      // A payload the schema cannot serialize: graphql-js reports it with internals in the message.
      gw.services.pubsub.publish(topic, { done: 'not-a-boolean' } as unknown as VolumeProgressEvent);
      const m = await answer;
      assert.equal(m.type, 'next', JSON.stringify(m));
      assert.equal(wsErrorCode(m), 'INTERNAL');
      assert.doesNotMatch(JSON.stringify(m.payload), /Boolean cannot represent|not-a-boolean/);
    } finally {
      ws.close();
      finish();
    }
  });
});

describe('Origin and Host guards (A3)', () => {
  let open: RunningGateway;
  before(async () => {
    open = await startTestGateway({
      tritonUrl: DEAD_BACKEND,
      stateDir: join(tmp, 'a3'),
      security: loadSecurityConfig({ ALLOWED_ORIGINS: 'https://viewer.example.org' }, join(tmp, 'a3')),
    });
  });
  after(async () => open?.close());

  test('a cross-site page cannot open the socket; loopback and listed origins can', async () => {
    const evil = await openWs(open.url, { headers: { origin: 'http://evil.example' } });
    assert.deepEqual(evil, { kind: 'refused', status: 403 });
    const port = new URL(open.url).port;
    for (const origin of [
      `http://localhost:${port}`,
      `http://127.0.0.1:${port}`,
      'https://viewer.example.org',
    ]) {
      const ws = await mustOpen(open.url, { headers: { origin } });
      ws.close();
    }
    // Tools that are not browsers send no Origin.
    (await mustOpen(open.url)).close();
  });

  test('without credentials a rebinding Host name is refused on HTTP and WebSocket', async () => {
    assert.equal(await getWithHost(open.url, '/graphql?query=%7B__typename%7D', 'evil.example'), 403);
    assert.equal(await getWithHost(open.url, '/healthz', 'evil.example:4000'), 403);
    assert.equal(await getWithHost(open.url, '/healthz', `localhost:${new URL(open.url).port}`), 200);
    assert.equal(await getWithHost(open.url, '/healthz', '[::1]:4000'), 200);
    const ws = await openWs(open.url, { headers: { host: 'evil.example' } });
    assert.deepEqual(ws, { kind: 'refused', status: 403 });
  });

  test('with credentials configured any Host is served (callers authenticate)', async () => {
    const file = join(tmp, 'a3-keys.json');
    new ApiKeyStore(file).create('k', ['segment']);
    const gw = await startTestGateway({
      tritonUrl: DEAD_BACKEND,
      stateDir: join(tmp, 'a3b'),
      security: loadSecurityConfig({ API_KEYS_FILE: file }, join(tmp, 'a3b')),
    });
    try {
      assert.equal(await getWithHost(gw.url, '/healthz', 'gateway.hospital.internal'), 200);
      // /metrics is open to loopback scrapers, but not to a rebound page that reaches it over loopback.
      assert.equal(await getWithHost(gw.url, '/metrics', `127.0.0.1:${new URL(gw.url).port}`), 200);
      assert.equal(await getWithHost(gw.url, '/metrics', 'evil.example'), 401);
      // The Origin guard holds with credentials too.
      assert.deepEqual(await openWs(gw.url, { headers: { origin: 'http://evil.example' } }), {
        kind: 'refused',
        status: 403,
      });
    } finally {
      await gw.close();
    }
  });
});

describe('WebSocket rate limits, revocation and per-caller caps (A5)', () => {
  let gw: RunningGateway;
  let store: ApiKeyStore;
  // Created before the gateway starts: the key file is re-read on change, at most every few seconds.
  const keys = {} as Record<'rate' | 'caps', string>;
  let revocable: { id: string; key: string };
  before(async () => {
    const file = join(tmp, 'a5-keys.json');
    store = new ApiKeyStore(file);
    keys.rate = store.create('rate', ['segment']).key;
    keys.caps = store.create('caps', ['segment']).key;
    const r = store.create('revoked', ['segment']);
    revocable = { id: r.record.id, key: r.key };
    const stateDir = join(tmp, 'a5');
    gw = await startTestGateway({
      tritonUrl: DEAD_BACKEND,
      stateDir,
      security: loadSecurityConfig(
        {
          API_KEYS_FILE: file,
          RATE_LIMIT_RPS: '1',
          RATE_LIMIT_BURST: '3',
          WS_MAX_CONNECTIONS_PER_CALLER: '2',
          WS_MAX_SUBSCRIPTIONS_PER_CALLER: '2',
          CREDENTIAL_RECHECK_MS: '200',
        },
        stateDir,
      ),
    });
  });
  after(async () => gw?.close());

  test('operations on one socket take from the same rate bucket as HTTP', async () => {
    const key = keys.rate;
    const ws = await mustOpen(gw.url, { credential: key });
    try {
      const codes: Array<string | undefined> = [];
      for (let i = 0; i < 10; i++)
        codes.push(
          wsErrorCode(await ws.subscribe(`r${i}`, 'subscription { volumeProgress(jobId: "none") { done } }')),
        );
      assert.ok(codes.includes('RESOURCE_EXHAUSTED'), codes.join(','));
      assert.equal((await post(gw.url, { query: '{ __typename }' }, key)).status, 429);
    } finally {
      ws.close();
    }
  });

  test('a revoked key loses its open socket and its next operation', async () => {
    const ws = await mustOpen(gw.url, { credential: revocable.key });
    assert.ok(store.revoke(revocable.id));
    // Closed by the periodic recheck (or by the next operation), with a deadline far above the interval.
    assert.equal(await ws.closed(20_000), 4401);
    const again = await openWs(gw.url, { credential: revocable.key });
    assert.equal(again.kind, 'closed');
  });

  test('connections and subscriptions per caller are capped', async () => {
    const key = keys.caps;
    const a = await mustOpen(gw.url, { credential: key });
    const b = await mustOpen(gw.url, { credential: key });
    const third = await openWs(gw.url, { credential: key });
    assert.deepEqual(third, { kind: 'closed', code: 4429 });
    b.close();
    await b.closed(10_000);

    // A job that runs until the test lets it finish, so its subscriptions stay open.
    let finish!: () => void;
    const job = gw.services.medical.volumeJobs.start(
      () => new Promise((resolve) => (finish = () => resolve(undefined))),
    );
    const sub = `subscription { volumeProgress(jobId: "${job.id}") { done status } }`;
    const answers = ['s1', 's2', 's3'].map((id) => a.subscribe(id, sub));
    const first = await Promise.race(answers.map((p, i) => p.then((m) => ({ i, m }))));
    assert.equal(wsErrorCode(first.m), 'LIMIT_EXCEEDED', JSON.stringify(first));
    finish();
    const rest = await Promise.all(answers.filter((_, i) => i !== first.i));
    for (const m of rest) assert.equal(m.type, 'next', JSON.stringify(m));
    a.close();
  });
});

/** Streams `total` bytes as a chunked body; resolves with the status and body of the answer. */
function postChunked(url: string, total: number): Promise<{ status: number; body: string }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/graphql',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

describe('/metrics labels, chunked bodies and JWT lifetimes (A6, A8)', () => {
  test('a chunked body over the limit gets 413 with a typed error, not a reset', async () => {
    const gw = await startTestGateway({
      tritonUrl: DEAD_BACKEND,
      stateDir: join(tmp, 'chunked'),
      maxBodyBytes: 1024 * 1024,
    });
    try {
      const r = await postChunked(gw.url, 8 * 1024 * 1024);
      assert.equal(r.status, 413);
      assert.match(r.body, /"code":"IMAGE_TOO_LARGE"/);
      assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    } finally {
      await gw.close();
    }
  });

  test('client-chosen operation names never become metric labels', async () => {
    const gw = await startTestGateway({ tritonUrl: DEAD_BACKEND, stateDir: join(tmp, 'a6') });
    try {
      const names = Array.from({ length: 20 }, (_, i) => `Op${i}_${'x'.repeat(5000)}`);
      for (const n of names)
        assert.equal((await post(gw.url, { query: `query ${n} { __typename }` })).status, 200);
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      assert.ok(!text.includes('x'.repeat(100)), 'no client name in /metrics');
      assert.match(text, /medseg_graphql_requests_total\{operation="__typename",outcome="ok"\} 20/);
      assert.ok(text.length < 200_000, `metrics text is ${text.length} bytes`);
    } finally {
      await gw.close();
    }
  });

  test('a JWT without exp, or living longer than JWT_MAX_LIFETIME_S, is refused', async () => {
    const stateDir = join(tmp, 'jwt');
    const gw = await startTestGateway({
      tritonUrl: DEAD_BACKEND,
      stateDir,
      security: loadSecurityConfig({ JWT_SECRET, JWT_MAX_LIFETIME_S: '3600' }, stateDir),
    });
    try {
      const key = new TextEncoder().encode(JWT_SECRET);
      const base = () =>
        new SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('eve');
      const q = { query: '{ __typename }' };
      const noExp = await post(gw.url, q, await base().setIssuedAt().sign(key));
      assert.equal(noExp.code, 'UNAUTHENTICATED');
      assert.match(JSON.stringify(noExp.json), /exp/);
      const long = await post(gw.url, q, await base().setIssuedAt().setExpirationTime('2h').sign(key));
      assert.equal(long.code, 'UNAUTHENTICATED');
      assert.match(JSON.stringify(long.json), /3600/);
      const longNoIat = await post(gw.url, q, await base().setExpirationTime('30d').sign(key));
      assert.equal(longNoIat.code, 'UNAUTHENTICATED');
      const ok = await post(gw.url, q, await base().setIssuedAt().setExpirationTime('10m').sign(key));
      assert.equal(ok.status, 200);
      // The WebSocket applies the same rule.
      const ws = await openWs(gw.url, { credential: await base().setIssuedAt().sign(key) });
      assert.equal(ws.kind, 'closed');
    } finally {
      await gw.close();
    }
  });
});
