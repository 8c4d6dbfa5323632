/**
 * Authentication and roles through the real gateway: every top-level Query, Mutation and Subscription field
 * (read from the schema files at test time, so new fields are covered as they land) is refused without a
 * credential (UNAUTHENTICATED, 401) and with a credential lacking its role (FORBIDDEN, 403), and passes the
 * checks with the right role (API key or JWT), over HTTP and over the graphql-ws WebSocket.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  isUnionType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
} from 'graphql';
import { createClient } from 'graphql-ws';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { ApiKeyStore } from '../../gateway/src/security/api-keys.ts';
import { readSchemaSdl } from '../../gateway/src/api/http-server.ts';
import { requirementOf, ROLES, type Role } from '../../gateway/src/security/roles.ts';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';
import { ConfigError, loadConfig } from '../../gateway/src/config.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const JWT_SECRET = 'test-secret-of-at-least-32-bytes-long!!';
const tmp = tempDir('medseg-auth-');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A value of an input type that passes GraphQL validation (not necessarily the resolver's). */
function sample(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return sample(type.ofType);
  if (isListType(type)) return [];
  if (isEnumType(type)) return type.getValues()[0].name;
  if (isInputObjectType(type)) {
    const out: Record<string, unknown> = {};
    for (const f of Object.values(type.getFields()))
      if (isNonNullType(f.type) && f.defaultValue === undefined) out[f.name] = sample(f.type);
    return out;
  }
  switch (type.name) {
    case 'Int':
    case 'Float':
      return 0;
    case 'Boolean':
      return false;
    default:
      return 'x';
  }
}

interface Operation {
  kind: 'query' | 'mutation' | 'subscription';
  field: string;
  query: string;
  variables: Record<string, unknown>;
}

/** One operation per top-level field, required arguments passed as variables. */
function operationsFromSchema(): Operation[] {
  const schema = buildSchema(readSchemaSdl());
  const roots: Array<[Operation['kind'], GraphQLObjectType | null | undefined]> = [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
    ['subscription', schema.getSubscriptionType()],
  ];
  const ops: Operation[] = [];
  for (const [kind, root] of roots) {
    if (!root) continue;
    for (const field of Object.values(root.getFields()) as GraphQLField<unknown, unknown>[]) {
      const args = field.args.filter((a) => isNonNullType(a.type) && a.defaultValue === undefined);
      const decl = args.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
      const pass = args.map((a) => `${a.name}: $${a.name}`).join(', ');
      const named = getNamedType(field.type);
      const selection =
        isObjectType(named) || isInterfaceType(named) || isUnionType(named) ? ' { __typename }' : '';
      const query = `${kind} Op${decl ? `(${decl})` : ''} { ${field.name}${pass ? `(${pass})` : ''}${selection} }`;
      const variables = Object.fromEntries(args.map((a) => [a.name, sample(a.type)]));
      ops.push({ kind, field: field.name, query, variables });
    }
  }
  return ops;
}

async function post(
  url: string,
  body: unknown,
  credential?: string,
): Promise<{ status: number; headers: Headers; code: string | undefined; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(credential ? { authorization: `Bearer ${credential}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
  return { status: res.status, headers: res.headers, code: json.errors?.[0]?.extensions?.code, json };
}

/** Outcome of one subscription over graphql-ws within `waitMs`: an error code, 'closed', or 'accepted'. */
async function subscribeOnce(url: string, op: Operation, credential?: string, waitMs = 800): Promise<string> {
  const client = createClient({
    url: url.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: credential ? { authorization: `Bearer ${credential}` } : {},
  });
  try {
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('accepted'), waitMs);
      const done = (v: string) => {
        clearTimeout(timer);
        resolve(v);
      };
      client.subscribe(
        { query: op.query, variables: op.variables },
        {
          next: (r) => done(String(r.errors?.[0]?.extensions?.code ?? 'data')),
          error: (err: unknown) => {
            if (Array.isArray(err))
              done(String((err[0] as { extensions?: { code?: string } }).extensions?.code));
            else done(`closed:${(err as { code?: number }).code ?? '?'}`);
          },
          complete: () => done('complete'),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

function otherRole(need: string): Role {
  // A credential that lacks the needed role: benchmark for segment fields, segment for the rest.
  return need === 'segment' ? 'benchmark' : 'segment';
}

describe('authentication and roles on every top-level field', () => {
  let gw: RunningGateway;
  const keys = {} as Record<Role, string>;
  let revocable: { id: string; key: string };
  let keyStore: ApiKeyStore;
  const ops = operationsFromSchema();

  before(async () => {
    const file = join(tmp, 'api-keys.json');
    keyStore = new ApiKeyStore(file);
    for (const role of ROLES) keys[role] = keyStore.create(`test-${role}`, [role]).key;
    const r = keyStore.create('to-revoke', ['segment']);
    revocable = { id: r.record.id, key: r.key };
    const security = loadSecurityConfig(
      { API_KEYS_FILE: file, JWT_SECRET, RATE_LIMIT_RPS: '0' },
      join(tmp, 'state'),
    );
    gw = await startTestGateway({ security, stateDir: join(tmp, 'state') });
  });
  after(async () => gw?.close());

  test('the schema has fields of all three kinds and the table covers the known ones', () => {
    assert.ok(ops.some((o) => o.kind === 'query' && o.field === 'segment'));
    assert.ok(ops.some((o) => o.kind === 'mutation' && o.field === 'encodeImage'));
    assert.ok(ops.some((o) => o.kind === 'subscription'));
    assert.equal(requirementOf('startBenchmark'), 'benchmark');
    assert.equal(requirementOf('a_field_nobody_listed'), 'admin', 'unknown fields fail closed');
  });

  test('HTTP: no credential -> 401 UNAUTHENTICATED, wrong role -> 403 FORBIDDEN, right role passes', async () => {
    for (const op of ops) {
      const body = { query: op.query, variables: op.variables };
      const none = await post(gw.url, body);
      assert.equal(none.code, 'UNAUTHENTICATED', `${op.field} without credential`);
      assert.equal(none.status, 401, op.field);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');

      const need = requirementOf(op.field);
      // A field open to any credential (viewer) has no wrong role; the loop below checks it passes.
      if (need !== 'authenticated') {
        const wrong = await post(gw.url, body, keys[otherRole(need)]);
        assert.equal(wrong.code, 'FORBIDDEN', `${op.field} with role ${otherRole(need)}`);
        assert.equal(wrong.status, 403, op.field);
      }

      const rightKey = need === 'authenticated' ? keys.segment : keys[need as Role];
      for (const credential of [rightKey, keys.admin]) {
        const ok = await post(gw.url, body, credential);
        assert.ok(
          ok.code !== 'UNAUTHENTICATED' && ok.code !== 'FORBIDDEN' && ok.status !== 401 && ok.status !== 403,
          `${op.field} with the right role got ${ok.status} ${ok.code}`,
        );
        assert.notEqual(ok.code, 'INTERNAL', `${op.field}: ${JSON.stringify(ok.json)}`);
      }
    }
  });

  test('a multi-field operation needs every field role; fragments at the root are checked too', async () => {
    const mixed = await post(gw.url, { query: '{ models { name } benchmarks { id } }' }, keys.segment);
    assert.equal(mixed.code, 'FORBIDDEN');
    const viaFragment = await post(
      gw.url,
      { query: 'query { ...F } fragment F on Query { cacheStats { entries } }' },
      keys.segment,
    );
    assert.equal(viaFragment.code, 'FORBIDDEN');
    const ok = await post(gw.url, { query: '{ models { name } benchmarks { id } }' }, keys.admin);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.errors, undefined);
  });

  test('WebSocket: no credential closes the socket, wrong role is FORBIDDEN, right role subscribes', async () => {
    for (const op of ops.filter((o) => o.kind === 'subscription')) {
      // A refusal is waited for as long as it takes; only 'accepted' is judged by the quiet period.
      assert.match(
        await subscribeOnce(gw.url, op, undefined, 120_000),
        /^closed:4403$/,
        `${op.field} without credential`,
      );
      const need = requirementOf(op.field);
      assert.equal(await subscribeOnce(gw.url, op, keys[otherRole(need)], 120_000), 'FORBIDDEN', op.field);
      const outcome = await subscribeOnce(gw.url, op, keys[need as Role]);
      assert.ok(!['FORBIDDEN', 'UNAUTHENTICATED', 'INTERNAL'].includes(outcome), `${op.field}: ${outcome}`);
      assert.ok(!outcome.startsWith('closed'), `${op.field}: ${outcome}`);
    }
  });

  test('JWT bearer tokens: roles from the claim; bad signature, expiry and missing roles are refused', async () => {
    const key = new TextEncoder().encode(JWT_SECRET);
    const sign = (claims: Record<string, unknown>, exp: string | number = '5m', secret = key) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('dr-who')
        .setIssuedAt()
        .setExpirationTime(exp)
        .sign(secret);
    const q = { query: '{ models { name } }' };
    assert.equal((await post(gw.url, q, await sign({ roles: ['segment'] }))).status, 200);
    assert.equal((await post(gw.url, q, await sign({ roles: 'benchmark admin' }))).status, 200);
    assert.equal((await post(gw.url, q, await sign({ roles: ['benchmark'] }))).code, 'FORBIDDEN');
    assert.equal((await post(gw.url, q, await sign({}))).code, 'FORBIDDEN');
    const expired = await sign({ roles: ['admin'] }, Math.floor(Date.now() / 1000) - 3600);
    const exp = await post(gw.url, q, expired);
    assert.equal(exp.code, 'UNAUTHENTICATED');
    assert.match(JSON.stringify(exp.json), /expired/);
    const forged = await sign(
      { roles: ['admin'] },
      '5m',
      new TextEncoder().encode('another-secret-of-32-bytes-or-more!!'),
    );
    assert.equal((await post(gw.url, q, forged)).code, 'UNAUTHENTICATED');
    assert.equal((await post(gw.url, q, 'not-a-token')).code, 'UNAUTHENTICATED');
  });

  test('a malformed or unknown API key is refused; a revoked key stops working within seconds', async () => {
    const q = { query: '{ models { name } }' };
    assert.equal((await post(gw.url, q, 'msk_000000000000_' + 'A'.repeat(43))).code, 'UNAUTHENTICATED');
    assert.equal((await post(gw.url, q, keys.segment.slice(0, -1) + 'B')).code, 'UNAUTHENTICATED');
    assert.equal((await post(gw.url, q, revocable.key)).status, 200);
    assert.ok(keyStore.revoke(revocable.id));
    const started = Date.now();
    let code: string | undefined;
    // Generous: the file watcher's second is a figure, not something a test on a busy machine can assert.
    while (Date.now() - started < 120_000) {
      code = (await post(gw.url, q, revocable.key)).code;
      if (code === 'UNAUTHENTICATED') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(code, 'UNAUTHENTICATED');
    // x-api-key works as well as the bearer form.
    const viaHeader = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': keys.segment },
      body: JSON.stringify(q),
    });
    assert.equal(viaHeader.status, 200);
  });

  test('health and readiness stay open; /metrics is served to loopback callers', async () => {
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${gw.url}/readyz`)).status, 200);
    assert.equal((await fetch(`${gw.url}/metrics`)).status, 200);
  });
});

describe('binding and rate limits', () => {
  test('without keys or JWT, a HOST beyond loopback is refused with a ConfigError; with either it is allowed', () => {
    const state = join(tmp, 'empty-state');
    assert.throws(
      () => loadConfig({ HOST: '0.0.0.0', STATE_DIR: state }),
      (err: unknown) =>
        err instanceof ConfigError && /HOST=0\.0\.0\.0 .*without authentication/.test(err.message),
    );
    assert.equal(loadConfig({ HOST: '::1', STATE_DIR: state }).host, '::1');
    assert.equal(loadConfig({ HOST: '0.0.0.0', STATE_DIR: state, JWT_SECRET }).host, '0.0.0.0');
    const file = join(tmp, 'one-key.json');
    new ApiKeyStore(file).create('ops', ['admin']);
    assert.equal(loadConfig({ HOST: '0.0.0.0', STATE_DIR: state, API_KEYS_FILE: file }).host, '0.0.0.0');
  });

  test('over the rate a caller gets 429 RESOURCE_EXHAUSTED with Retry-After; other callers are unaffected', async () => {
    const file = join(tmp, 'rate-keys.json');
    const store = new ApiKeyStore(file);
    const a = store.create('a', ['segment']).key;
    const b = store.create('b', ['segment']).key;
    const security = loadSecurityConfig(
      { API_KEYS_FILE: file, RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: '3' },
      join(tmp, 'rate'),
    );
    // The backend is never reached: a dead address keeps this gateway cheap to start.
    const gw = await startTestGateway({ security, tritonUrl: '127.0.0.1:1', stateDir: join(tmp, 'rate') });
    try {
      const q = { query: '{ __typename }' };
      // 40 requests at once: the bucket (3, plus 1 a second) serves the burst and refuses the rest, however
      // slowly this machine answers (only a run longer than 37 s would refill enough to serve them all).
      const t0 = performance.now();
      const answers = await Promise.all(Array.from({ length: 40 }, () => post(gw.url, q, a)));
      const elapsedS = (performance.now() - t0) / 1000;
      const served = answers.filter((r) => r.status === 200).length;
      assert.ok(served >= 3, `the burst is served (${served})`);
      assert.ok(served <= 3 + Math.ceil(elapsedS), `${served} served in ${elapsedS.toFixed(1)} s`);
      const limited = answers.find((r) => r.status !== 200)!;
      assert.equal(limited.status, 429);
      assert.equal(limited.code, 'RESOURCE_EXHAUSTED');
      assert.equal(limited.headers.get('retry-after'), '1');
      const errors = limited.json.errors as Array<{ extensions: { retryAfterSeconds: number } }>;
      assert.equal(errors[0].extensions.retryAfterSeconds, 1);
      assert.equal((await post(gw.url, q, b)).status, 200, 'another key has its own bucket');
    } finally {
      await gw.close();
    }
  });
});
