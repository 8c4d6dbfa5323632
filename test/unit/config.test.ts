import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../gateway/src/config.ts';

test('defaults are documented values, and the result is frozen', () => {
  const c = loadConfig({});
  assert.equal(c.port, 4000);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.tritonUrl, undefined);
  assert.equal(c.defaultModel, 'mobilesam');
  assert.equal(c.cacheBytes, 1024 ** 3);
  assert.deepEqual(c.dataRoots, []);
  assert.ok(Object.isFrozen(c));
});

test('bad values name the variable, the expectation and what arrived', () => {
  assert.throws(
    () => loadConfig({ PORT: 'eighty' }),
    (e: unknown) =>
      e instanceof ConfigError && e.message === "PORT must be an integer in [0, 65535], got 'eighty'",
  );
  assert.throws(() => loadConfig({ TRITON_URL: 'http://triton' }), /TRITON_URL must be host:port/);
  assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL must be one of/);
  assert.throws(() => loadConfig({ CACHE_BYTES: '-1' }), /CACHE_BYTES/);
});

test('reads Triton address, data roots and limits', () => {
  const c = loadConfig({ TRITON_URL: 'triton:8001', DATA_ROOTS: '/data/a, /data/b', MAX_PROMPT_SETS: '8' });
  assert.equal(c.tritonUrl, 'triton:8001');
  assert.deepEqual(c.dataRoots, ['/data/a', '/data/b']);
  assert.equal(c.maxPromptSets, 8);
});
