/** `medseg serve-models` and `medseg infer` against the embedded server, in process. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { main } from '../../gateway/src/cli/main.ts';
import { EmbeddedInferenceServer } from '../../gateway/src/embedded/grpc-server.ts';
import { TEST_MODELS, createTestRepository, identityModel } from '../helpers/test-models.ts';
import { waitFor } from '../helpers/wait.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) },
    out,
    err,
  };
}

describe('medseg infer', () => {
  let repo: ReturnType<typeof createTestRepository>;
  let server: EmbeddedInferenceServer;
  before(async () => {
    repo = createTestRepository();
    server = await EmbeddedInferenceServer.start({ repository: repo.dir });
  });
  after(async () => {
    await server.close();
    repo.cleanup();
  });

  it('prints the repository index as JSON', async () => {
    const c = capture();
    assert.equal(await main(['infer', '--triton-url', server.address, 'index'], c.io), 0);
    const rows = JSON.parse(c.out.join('')) as Array<{ name: string; state: string; reason: string }>;
    assert.equal(rows.find((r) => r.name === TEST_MODELS.mismatch)?.state, 'UNAVAILABLE');
    assert.equal(rows.find((r) => r.name === identityModel('FP32'))?.state, 'READY');
  });

  it('prints metadata, config, stats and readiness', async () => {
    for (const args of [
      ['metadata', TEST_MODELS.batch],
      ['config', TEST_MODELS.batch],
      ['stats'],
      ['stats', TEST_MODELS.batch],
      ['ready'],
    ]) {
      const c = capture();
      assert.equal(await main(['infer', '--triton-url', server.address, ...args], c.io), 0, c.err.join(''));
      assert.ok(JSON.parse(c.out.join('')));
    }
  });

  it('exits 2 with a message on bad usage', async () => {
    for (const args of [
      [],
      ['--url', server.address],
      ['--url', server.address, 'metadata'],
      ['--url', server.address, 'dance'],
      ['--bogus'],
    ]) {
      const c = capture();
      assert.equal(await main(['infer', ...args], c.io), 2, args.join(' '));
      assert.ok(c.err.join('').length > 0);
    }
  });

  it('exits 1 naming the address when no server answers, and on an unknown model', async () => {
    const c = capture();
    assert.equal(await main(['infer', '--url', '127.0.0.1:1', 'index'], c.io), 1);
    assert.match(c.err.join(''), /BACKEND_UNAVAILABLE.*127\.0\.0\.1:1/);
    const d = capture();
    assert.equal(await main(['infer', '--triton-url', server.address, 'metadata', 'nope'], d.io), 1);
    assert.match(d.err.join(''), /MODEL_NOT_FOUND/);
  });
});

describe('medseg serve-models', () => {
  it('serves until SIGINT, printing the address and each model state', async () => {
    const repo = createTestRepository();
    try {
      const c = capture();
      const done = main(['serve-models', '--repository', repo.dir, '--port', '0'], c.io);
      await waitFor('the server to listen', () => c.out.join('').includes('listening on'), {
        intervalMs: 20,
      });
      const text = c.out.join('');
      const address = /listening on (\S+)/.exec(text)?.[1];
      assert.ok(address, text);
      assert.match(text, new RegExp(`model ${TEST_MODELS.mismatch} version 1: UNAVAILABLE \\(.+\\)`));
      const q = capture();
      assert.equal(await main(['infer', '--triton-url', address, 'ready'], q.io), 0);
      process.emit('SIGINT');
      assert.equal(await done, 0);
      assert.match(c.out.join(''), /SIGINT: stopping/);
    } finally {
      repo.cleanup();
    }
  });

  it('exits 2 on bad flags and 1 on a missing repository', async () => {
    const a = capture();
    assert.equal(await main(['serve-models', '--port', 'eighty'], a.io), 2);
    assert.match(a.err.join(''), /--port must be an integer/);
    const b = capture();
    assert.equal(await main(['serve-models', '--repository', '/nonexistent/repo', '--port', '0'], b.io), 1);
    assert.match(b.err.join(''), /not a directory/);
  });
});
