/**
 * Load and backpressure through the real gateway: a short closed-loop load of `segment` on a cached embedding
 * ends without a single error; with a tiny backend queue, the overflow is refused with RESOURCE_EXHAUSTED,
 * `extensions.retryAfterSeconds` and an HTTP Retry-After header instead of queueing without bound.
 * (`npm run bench -- load` runs the long version: 32 clients for 30 s, and backend kill/restart under load.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSecurityConfig } from '../../gateway/src/api/security-config.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { gql, startTestGateway } from '../helpers/gateway.ts';
import { driveLoad, graphqlRequest, percentile } from '../helpers/load.ts';

const ENCODE = `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`;
const SEGMENT = `query ($id: ID!) { segment(input: { embeddingId: $id, prompts: [{ box: { x0: 10, y0: 12, x1: 70, y1: 60 } }] }) { results { masks { area predictedIou } } } }`;

const imageB64 = (seed: number, size = 96) =>
  Buffer.from(encodePng(generatePhantom({ seed, width: size, height: size }).image)).toString('base64');

test('8 clients for 4 s of segment on a cached embedding: zero errors', async (t) => {
  const gw = await startTestGateway({
    security: loadSecurityConfig({ RATE_LIMIT_RPS: '0' }, '/tmp/medseg-test-state'),
  });
  try {
    const enc = await gql<{ encodeImage: { id: string } }>(gw.url, ENCODE, {
      i: { encoded: { base64: imageB64(5) } },
    });
    const id = enc.data!.encodeImage.id;
    const result = await driveLoad({
      clients: 8,
      durationMs: 4000,
      request: graphqlRequest(gw.url, SEGMENT, { id }),
    });
    t.diagnostic(
      `ok ${result.ok}, ${result.throughput.toFixed(0)} req/s, p50 ${percentile(result.latenciesMs, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(result.latenciesMs, 99).toFixed(1)} ms, errors ${JSON.stringify(result.errors)}`,
    );
    assert.deepEqual(result.errors, {});
    assert.ok(result.ok > 20, `${result.ok} requests served`);
  } finally {
    await gw.close();
  }
});

test('a full backend queue answers RESOURCE_EXHAUSTED with retryAfterSeconds and Retry-After', async () => {
  const gw = await startTestGateway({
    security: loadSecurityConfig(
      { RATE_LIMIT_RPS: '0', BACKEND_MAX_INFLIGHT: '1', BACKEND_MAX_QUEUED: '1' },
      '/tmp/medseg-test-state',
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
