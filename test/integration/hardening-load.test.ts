/**
 * Load and backpressure through the real gateway: a closed-loop load of `segment` on a cached embedding
 * (a fixed number of requests, however long they take) ends without a single error and every answer is right; with a tiny backend queue, the overflow is refused with RESOURCE_EXHAUSTED,
 * `extensions.retryAfterSeconds` and an HTTP Retry-After header instead of queueing without bound.
 * (`npm run bench -- load` runs the long version: 32 clients for 30 s, and backend kill/restart under load.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { gql, startTestGateway } from '../helpers/gateway.ts';
import { driveLoad, percentile } from '../helpers/load.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const ENCODE = `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`;
const SEGMENT = `query ($id: ID!) { segment(input: { embeddingId: $id, prompts: [{ box: { x0: 10, y0: 12, x1: 70, y1: 60 } }] }) { results { masks { area predictedIou } } } }`;

const imageB64 = (seed: number, size = 96) =>
  Buffer.from(encodePng(generatePhantom({ seed, width: size, height: size }).image)).toString('base64');

test('8 clients x 10 segment requests on a cached embedding: zero errors, every mask the same', async (t) => {
  const gw = await startTestGateway({
    security: loadSecurityConfig({ RATE_LIMIT_RPS: '0' }, tempDir('medseg-test-state-')),
  });
  try {
    const enc = await gql<{ encodeImage: { id: string } }>(gw.url, ENCODE, {
      i: { encoded: { base64: imageB64(5) } },
    });
    const id = enc.data!.encodeImage.id;
    // The answer to one request alone is the reference every answer under load must equal.
    const request = { query: SEGMENT, variables: { id } };
    const reference = await gql<{ segment: unknown }>(gw.url, request.query, request.variables);
    assert.equal(reference.errors, undefined, JSON.stringify(reference.errors));
    const expected = JSON.stringify(reference.data);
    assert.match(expected, /"area":[1-9]/);
    const wrong: string[] = [];
    const result = await driveLoad({
      clients: 8,
      requestsPerClient: 10,
      request: async () => {
        const r = await gql(gw.url, request.query, request.variables);
        const code = r.errors?.[0]?.extensions?.code;
        if (code !== undefined) return code;
        if (JSON.stringify(r.data) !== expected) wrong.push(JSON.stringify(r.data));
        return 'ok';
      },
    });
    t.diagnostic(
      `ok ${result.ok}, ${result.throughput.toFixed(0)} req/s, p50 ${percentile(result.latenciesMs, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(result.latenciesMs, 99).toFixed(1)} ms, errors ${JSON.stringify(result.errors)}`,
    );
    assert.deepEqual(result.errors, {});
    assert.equal(result.ok, 80, 'every request answered');
    assert.deepEqual(wrong, [], 'every answer equals the unloaded one');
  } finally {
    await gw.close();
  }
});

test('a full backend queue answers RESOURCE_EXHAUSTED with retryAfterSeconds and Retry-After', async () => {
  const gw = await startTestGateway({
    security: loadSecurityConfig(
      { RATE_LIMIT_RPS: '0', BACKEND_MAX_INFLIGHT: '1', BACKEND_MAX_QUEUED: '1' },
      tempDir('medseg-test-state-'),
    ),
  });
  try {
    const answers = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const res = await fetch(`${gw.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            query: ENCODE,
            variables: { i: { encoded: { base64: imageB64(100 + i, 256) } } },
          }),
        });
        const body = (await res.json()) as {
          errors?: Array<{ extensions?: { code?: string; retryAfterSeconds?: number } }>;
        };
        return { retryAfter: res.headers.get('retry-after'), error: body.errors?.[0]?.extensions };
      }),
    );
    const refused = answers.filter((a) => a.error?.code === 'RESOURCE_EXHAUSTED');
    const served = answers.filter((a) => a.error === undefined);
    assert.equal(refused.length + served.length, answers.length, JSON.stringify(answers));
    assert.ok(served.length >= 2, 'one running and one queued call get through');
    assert.ok(refused.length >= 1, 'the overflow is refused');
    for (const r of refused) {
      assert.ok((r.error?.retryAfterSeconds ?? 0) >= 1);
      assert.equal(r.retryAfter, String(r.error?.retryAfterSeconds));
    }
  } finally {
    await gw.close();
  }
});
