/**
 * segmentEverything against a running gateway with the embedded backend (issue 11 A4): the work one call
 * may ask for is bounded at the API (points, points per batch, pixels x candidates, calls at once), and a
 * run stops when its deadline passes or its client disconnects, instead of running on for minutes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../gateway/src/config.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { KServeClient } from '../../gateway/src/inference/kserve-client.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/main.ts';
import { ensureReferenceModels } from '../../gateway/src/models/reference/generate.ts';
import { errorCode, gql, REPO_ROOT } from '../helpers/gateway.ts';

const tmp = mkdtempSync(join(tmpdir(), 'medseg-everything-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const EVERYTHING = `query Ev($i: ImageInput!, $o: EverythingOptions) {
  segmentEverything(image: $i, options: $o) { pointsEvaluated candidatesConsidered }
}`;
const image = (size: number, seed = 3) => ({
  encoded: {
    base64: Buffer.from(encodePng(generatePhantom({ seed, width: size, height: size }).image)).toString(
      'base64',
    ),
  },
});

async function until(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('segmentEverything is bounded and stoppable', () => {
  let gw: RunningGateway;
  const logs: Array<Record<string, unknown>> = [];
  before(async () => {
    const config = loadConfig(
      {
        PORT: '0',
        DEFAULT_MODEL: 'sam_reference',
        MODEL_REPOSITORY: `${REPO_ROOT}triton-models`,
        STATE_DIR: join(tmp, 'state'),
        EVERYTHING_MAX_PIXEL_CANDIDATES: '13000000',
        EVERYTHING_MAX_RUNNING: '1',
      },
      {},
    );
    await ensureReferenceModels(config.modelRepository);
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n').filter(Boolean))
          logs.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    gw = await startGateway(config, pino({ level: 'info' }, sink));
  });
  after(async () => gw?.close());

  test('points per side, points per batch and pixels x candidates beyond the limits are refused', async () => {
    const big = await gql(gw.url, EVERYTHING, { i: image(64), o: { pointsPerSide: 64 } });
    assert.equal(errorCode(big), 'LIMIT_EXCEEDED');
    assert.match(big.errors![0].message, /1\.\.32/);
    const batch = await gql(gw.url, EVERYTHING, {
      i: image(64),
      o: { pointsPerSide: 4, pointsPerBatch: 1024 },
    });
    assert.equal(errorCode(batch), 'LIMIT_EXCEEDED');
    // 32 x 32 points x 3 masks of 128 x 128 pixels is 50 M pixel-candidates, over the 13 M configured.
    const pixels = await gql(gw.url, EVERYTHING, { i: image(128), o: { pointsPerSide: 32 } });
    assert.equal(errorCode(pixels), 'LIMIT_EXCEEDED');
    assert.match(pixels.errors![0].message, /EVERYTHING_MAX_PIXEL_CANDIDATES/);
    const ok = await gql<{ segmentEverything: { pointsEvaluated: number } }>(gw.url, EVERYTHING, {
      i: image(64),
      o: { pointsPerSide: 4 },
    });
    assert.equal(ok.errors, undefined, JSON.stringify(ok.errors));
    assert.equal(ok.data!.segmentEverything.pointsEvaluated, 16);
  });

  test('a client that disconnects stops the run; a second run meanwhile is refused', async () => {
    const before = gw.services.sam.stats().decoderRequests;
    const controller = new AbortController();
    // 1,024 decoder calls of one point each: far more than run before the disconnect reaches the server.
    const running = fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: EVERYTHING,
        variables: { i: image(64, 9), o: { pointsPerSide: 32, pointsPerBatch: 1 } },
      }),
      signal: controller.signal,
    }).catch((err: unknown) => err);
    await until('the run to start decoding', () => gw.services.sam.stats().decoderRequests > before);
    const second = await gql(gw.url, EVERYTHING, { i: image(64), o: { pointsPerSide: 2 } });
    assert.equal(errorCode(second), 'RESOURCE_EXHAUSTED');
    controller.abort();
    await running;
    await until('the run to stop', () => logs.some((l) => l.msg === 'segmentEverything stopped'));
    const stoppedAt = gw.services.sam.stats().decoderRequests - before;
    assert.ok(stoppedAt < 1024, `stopped after ${stoppedAt} of 1024 decoder requests`);
    // The slot is free again.
    const after = await gql(gw.url, EVERYTHING, { i: image(64), o: { pointsPerSide: 2 } });
    assert.equal(after.errors, undefined, JSON.stringify(after.errors));
  });

  test('the embedded inference port is loopback only and refuses calls without the per-process token', async () => {
    assert.match(gw.inferenceAddress, /^127\.0\.0\.1:\d+$/);
    const stranger = KServeClient.connect(gw.inferenceAddress, { deadlineMs: 30_000 });
    try {
      await assert.rejects(
        stranger.infer({ modelName: 'sam_reference_decoder', inputs: [] }),
        (err: unknown) => /token|UNAUTHENTICATED|unauthenticated/i.test(String((err as Error).message)),
      );
      assert.equal(await stranger.serverLive().catch(() => false), false);
    } finally {
      stranger.close();
    }
    // The gateway's own client carries the token.
    assert.equal((await fetch(`${gw.url}/readyz`)).status, 200);
  });

  test('a run past its deadline stops with DEADLINE_EXCEEDED', async () => {
    const config = loadConfig({
      PORT: '0',
      DEFAULT_MODEL: 'sam_reference',
      MODEL_REPOSITORY: `${REPO_ROOT}triton-models`,
      STATE_DIR: join(tmp, 'deadline'),
      EVERYTHING_DEADLINE_MS: '1',
      LOG_LEVEL: 'silent',
    });
    const short = await startGateway(config);
    try {
      const r = await gql(short.url, EVERYTHING, {
        i: image(64),
        o: { pointsPerSide: 16, pointsPerBatch: 1 },
      });
      assert.equal(errorCode(r), 'DEADLINE_EXCEEDED', JSON.stringify(r.errors));
      assert.ok(short.services.sam.stats().decoderRequests < 256);
    } finally {
      await short.close();
    }
  });
});
