/** API key store, role table, credential parsing and /metrics admission, without a running gateway. */
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'graphql';
import { ApiKeyError, ApiKeyStore } from '../../../gateway/src/security/api-keys.ts';
import { authorizeFields, GatewaySecurity, topLevelFields } from '../../../gateway/src/api/auth.ts';
import { parseRoles, requirementOf, satisfies } from '../../../gateway/src/security/roles.ts';
import { isLoopbackHost, loadSecurityConfig } from '../../../gateway/src/security/security-config.ts';
import { main } from '../../../gateway/src/cli/main.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { waitFor } from '../../helpers/wait.ts';

const tmp = tempDir('medseg-auth-unit-');
after(() => rmSync(tmp, { recursive: true, force: true }));

test('keys: shown once, stored as a digest in a 0600 file, verified, listed and revoked', () => {
  const file = join(tmp, 'k1', 'keys.json');
  const store = new ApiKeyStore(file);
  const { record, key } = store.create('pacs bridge', ['segment', 'segment']);
  assert.match(key, /^msk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(record.roles, ['segment']);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const text = readFileSync(file, 'utf8');
  assert.ok(!text.includes(key.split('_')[2]), 'the secret never reaches the disk');
  assert.equal(store.verify(key)?.id, record.id);
  assert.equal(new ApiKeyStore(file).verify(key)?.id, record.id, 'a fresh reader verifies it too');
  assert.equal(store.verify(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')), undefined);
  assert.equal(store.verify('msk_nope'), undefined);
  assert.equal(store.verify(''), undefined);
  assert.equal(store.list().length, 1);
  assert.equal(store.revoke(record.id), true);
  assert.equal(store.revoke(record.id), false, 'already revoked');
  assert.equal(store.verify(key), undefined);
  assert.equal(store.activeCount(), 0);
  assert.ok(store.list()[0].revokedAt);
});

test('keys: bad names and roles, group-readable and corrupt files are refused with reasons', () => {
  const file = join(tmp, 'k2.json');
  const store = new ApiKeyStore(file);
  assert.throws(() => store.create('', ['admin']), ApiKeyError);
  assert.throws(() => store.create('x'.repeat(65), ['admin']), ApiKeyError);
  assert.throws(() => store.create('a;rm -rf', ['admin']), ApiKeyError);
  store.create('ok', ['admin']);
  chmodSync(file, 0o644);
  assert.throws(() => new ApiKeyStore(file), /mode 644; expected 600, 640 or 440/);
  chmodSync(file, 0o660);
  assert.throws(() => new ApiKeyStore(file), /mode 660/);
  // A Kubernetes Secret mounted with an fsGroup: read-only for owner and group.
  chmodSync(file, 0o440);
  assert.doesNotThrow(() => new ApiKeyStore(file));
  chmodSync(file, 0o600);
  writeFileSync(file, '{not json', { mode: 0o600 });
  assert.throws(() => new ApiKeyStore(file), /not valid JSON/);
  writeFileSync(file, JSON.stringify({ version: 1, keys: [{ id: 'x' }] }), { mode: 0o600 });
  assert.throws(() => new ApiKeyStore(file), /valid records/);
  assert.equal(new ApiKeyStore(join(tmp, 'missing.json')).activeCount(), 0, 'no file means no keys');
});

test('roles: one table, unknown fields need admin, admin satisfies everything', () => {
  assert.equal(requirementOf('segment'), 'segment');
  assert.equal(requirementOf('startBenchmark'), 'benchmark');
  assert.equal(requirementOf('cacheStats'), 'admin');
  assert.equal(requirementOf('somethingNew'), 'admin');
  assert.equal(requirementOf('constructor'), 'admin', 'prototype names are not table entries');
  assert.ok(satisfies(['admin'], 'benchmark'));
  assert.ok(!satisfies(['segment'], 'benchmark'));
  assert.ok(satisfies([], 'authenticated'));
  assert.deepEqual(parseRoles('segment, benchmark segment'), ['segment', 'benchmark']);
  assert.throws(() => parseRoles('root'), /unknown role\(s\) root/);
  assert.throws(() => parseRoles(' , '), /at least one role/);
});

test('top-level fields are found through aliases, fragments and inline fragments; the operation name picks', () => {
  const doc = parse(`
    query A { a: models { name } ...F ... on Query { cacheStats { hits } } }
    query B { benchmarks { id } }
    fragment F on Query { segment(input: {}) { __typename } ...G }
    fragment G on Query { datasets { id } ...F }`);
  assert.deepEqual(topLevelFields(doc, 'A').sort(), ['cacheStats', 'datasets', 'models', 'segment']);
  assert.deepEqual(topLevelFields(doc, 'B'), ['benchmarks']);
  assert.deepEqual(topLevelFields(doc, undefined), [], 'ambiguous without a name: nothing runs');
  assert.throws(
    () => authorizeFields(['models'], undefined),
    (e: { extensions?: { code?: string } }) => e.extensions?.code === 'UNAUTHENTICATED',
  );
  assert.throws(
    () => authorizeFields(['models', 'datasets'], { kind: 'api-key', id: 'k', roles: ['segment'] }),
    (e: Error & { extensions?: { code?: string } }) =>
      e.extensions?.code === 'FORBIDDEN' && /datasets \(needs benchmark\)/.test(e.message),
  );
  authorizeFields(['models', 'datasets'], { kind: 'jwt', id: 'j', roles: ['segment', 'benchmark'] });
});

test('credentials: bearer and x-api-key; loopback callers are admin only while nothing is configured', async () => {
  assert.equal(GatewaySecurity.credentialOf({ authorization: 'Bearer abc' }), 'abc');
  assert.equal(GatewaySecurity.credentialOf({ authorization: 'bearer   abc ' }), 'abc');
  assert.equal(GatewaySecurity.credentialOf({ 'x-api-key': ' k ' }), 'k');
  assert.equal(GatewaySecurity.credentialOf({}), undefined);
  const file = join(tmp, 'k3.json');
  const security = new GatewaySecurity(loadSecurityConfig({ API_KEYS_FILE: file }, tmp), '127.0.0.1');
  assert.equal(security.authRequired(), false);
  assert.deepEqual(await security.authenticate(undefined, '127.0.0.1'), {
    kind: 'loopback',
    id: 'loopback',
    roles: ['admin'],
  });
  assert.equal(await security.authenticate(undefined, '10.1.2.3'), undefined, 'never admin off loopback');
  const { key } = security.keys.create('ops', ['segment']);
  // A new key switches authentication on for everyone, loopback included (after the file re-check).
  await waitFor('the key file re-check', () => security.authRequired());
  assert.equal(await security.authenticate(undefined, '127.0.0.1'), undefined);
  assert.deepEqual((await security.authenticate(key, '10.1.2.3'))?.roles, ['segment']);
  await assert.rejects(
    security.authenticate('eyJhbGciOiJIUzI1NiJ9.e30.x', '127.0.0.1'),
    /no JWT key configured/,
  );
});

test('/metrics: open to loopback peers, admin credentials elsewhere, refused to others', async () => {
  const file = join(tmp, 'k4.json');
  const keys = new ApiKeyStore(file);
  const admin = keys.create('ops', ['admin']).key;
  const seg = keys.create('app', ['segment']).key;
  const security = new GatewaySecurity(loadSecurityConfig({ API_KEYS_FILE: file }, tmp), '0.0.0.0');
  assert.equal(await security.admitMetrics({ host: '[::1]:4000' }, '::1'), undefined);
  assert.equal(await security.admitMetrics({ host: 'localhost:4000' }, '::ffff:127.0.0.1'), undefined);
  // A loopback peer naming another host is a browser page rebound to 127.0.0.1, not a local scraper.
  assert.equal((await security.admitMetrics({ host: 'evil.example' }, '127.0.0.1'))?.status, 401);
  assert.equal((await security.admitMetrics({}, '127.0.0.1'))?.status, 401);
  assert.equal((await security.admitMetrics({}, '10.0.0.5'))?.status, 401);
  assert.equal((await security.admitMetrics({ authorization: `Bearer ${seg}` }, '10.0.0.5'))?.status, 403);
  assert.equal(await security.admitMetrics({ authorization: `Bearer ${admin}` }, '10.0.0.5'), undefined);
  assert.ok(isLoopbackHost('127.0.0.2') && isLoopbackHost('localhost') && isLoopbackHost('[::1]'));
  assert.ok(!isLoopbackHost('0.0.0.0') && !isLoopbackHost('::') && !isLoopbackHost('192.168.1.10'));
});

test('JWT configuration: exactly one key source, secrets of 32 bytes or more, PEM keys only', () => {
  assert.throws(() => loadSecurityConfig({ JWT_SECRET: 'short' }, tmp), /at least 32 bytes/);
  assert.throws(
    () => loadSecurityConfig({ JWT_SECRET: 'x'.repeat(32), JWT_JWKS_URL: 'https://idp/jwks' }, tmp),
    /exactly one/,
  );
  assert.throws(() => loadSecurityConfig({ JWT_PUBLIC_KEY: 'abc' }, tmp), /PEM SPKI/);
  assert.throws(() => loadSecurityConfig({ JWT_JWKS_URL: 'ftp://x' }, tmp), /http\(s\) URL/);
  assert.throws(() => loadSecurityConfig({ RATE_LIMIT_RPS: '-1' }, tmp), /RATE_LIMIT_RPS must be an integer/);
  const c = loadSecurityConfig({ JWT_SECRET: 'x'.repeat(32), JWT_ROLES_CLAIM: 'realm_access.roles' }, tmp);
  assert.equal(c.jwt?.rolesClaim, 'realm_access.roles');
  assert.equal(c.apiKeysFile, join(tmp, 'api-keys.json'));
});

test('medseg keys create / list / revoke', async () => {
  const file = join(tmp, 'cli-keys.json');
  const out: string[] = [];
  const io = { stdout: (t: string) => void out.push(t), stderr: (t: string) => void out.push(t) };
  assert.equal(
    await main(
      ['keys', 'create', '--name', 'lab', '--roles', 'segment,benchmark', '--file', file, '--json'],
      io,
    ),
    0,
  );
  const created = JSON.parse(out.pop()!) as { id: string; key: string; roles: string[] };
  assert.deepEqual(created.roles, ['segment', 'benchmark']);
  assert.ok(new ApiKeyStore(file).verify(created.key));
  assert.equal(await main(['keys', 'list', '--file', file], io), 0);
  assert.match(out.pop()!, new RegExp(`${created.id}\\s+active\\s+segment,benchmark`));
  assert.equal(await main(['keys', 'list', '--file', file, '--json'], io), 0);
  assert.ok(!out.pop()!.includes('sha256'), 'list never prints digests');
  assert.equal(await main(['keys', 'revoke', created.id, '--file', file], io), 0);
  assert.equal(new ApiKeyStore(file).verify(created.key), undefined);
  assert.equal(await main(['keys', 'revoke', created.id, '--file', file], io), 1);
  assert.equal(await main(['keys', 'create', '--name', 'x', '--roles', 'root', '--file', file], io), 2);
  assert.match(out.pop()!, /unknown role/);
  assert.equal(await main(['keys', 'frobnicate'], io), 2);
});
