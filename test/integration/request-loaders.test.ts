/**
 * Per-request loaders on a running gateway (embedded KServe server, real gRPC on loopback): what one
 * operation asks for several times is read once. Encoder runs are counted by the inference server itself
 * (ModelStatistics over gRPC), model resolutions and job reads by wrapping the gateway's own services.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { errorCode, gql, startTestGateway } from '../helpers/gateway.ts';
import { openWs, wsErrorCode, type WsConnection } from '../helpers/ws-client.ts';

/** Wraps `obj[name]` so that its calls are counted; returns the counter and a function that unwraps it. */
function countCalls<T extends object, K extends keyof T>(
  obj: T,
  name: K,
): { calls: () => number; restore: () => void } {
  const original = obj[name] as (...args: unknown[]) => unknown;
  let calls = 0;
  obj[name] = ((...args: unknown[]) => {
    calls += 1;
    return original.apply(obj, args);
  }) as T[K];
  return {
    calls: () => calls,
    restore: () => {
      obj[name] = original as T[K];
    },
  };
}

interface SegmentAnswer {
  embedding: { id: string; cached: boolean };
  results: Array<{ masks: Array<{ area: number }> }>;
}

describe('per-request loaders', () => {
  let gw: RunningGateway;
  let image: { encoded: { base64: string; mediaType: string } };
  let encoder: string;

  before(async () => {
    gw = await startTestGateway();
    const phantom = generatePhantom({ seed: 3, width: 96, height: 80, shapes: ['disc', 'ellipse'] });
    image = {
      encoded: { base64: Buffer.from(encodePng(phantom.image)).toString('base64'), mediaType: 'image/png' },
    };
    encoder = (await gw.services.sam.resolve('sam_reference')).encoder;
  });
  after(async () => gw?.close());

  /** Encoder inferences the gRPC server has answered, all versions. */
  const encoderRuns = async () =>
    (await gw.client.modelStatistics(encoder)).reduce((n, s) => n + s.inferenceCount, 0);

  const THREE_ALIASES = `query ($image: ImageInput!) {
    a: segment(input: { image: $image, prompts: [{ box: { x0: 10, y0: 10, x1: 50, y1: 40 } }] }) { ...S }
    b: segment(input: { image: $image, prompts: [{ points: [{ x: 30, y: 25, positive: true }] }] }) { ...S }
    c: segment(input: { image: $image, model: "sam_reference", prompts: [{ box: { x0: 5, y0: 5, x1: 90, y1: 70 } }] }) { ...S }
  }
  fragment S on SegmentResult { embedding { id cached } results { masks { area } } }`;

  test('several aliased segment fields on one image: one read, one model resolution, one encoder run', async () => {
    const resolves = countCalls(gw.services.sam, 'resolve');
    try {
      const runs = await encoderRuns();
      const lookups = gw.services.cache.stats();
      const r = await gql<Record<'a' | 'b' | 'c', SegmentAnswer>>(gw.url, THREE_ALIASES, { image });
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      const answers = [r.data!.a, r.data!.b, r.data!.c];
      assert.equal(new Set(answers.map((s) => s.embedding.id)).size, 1, 'one embedding');
      for (const s of answers) assert.ok(s.results[0].masks[0].area > 0);
      assert.equal((await encoderRuns()) - runs, 1, 'the inference server ran the encoder once');
      const after = gw.services.cache.stats();
      assert.equal(
        after.hits + after.misses - (lookups.hits + lookups.misses),
        1,
        'the image was read, decoded and looked up once, not once per field',
      );
      assert.equal(resolves.calls(), 1, 'the model was resolved once for the three fields and their decodes');

      // A new request has loaders of its own: the embedding comes from the session's cache, not the loader.
      const again = await gql<Record<'a' | 'b' | 'c', SegmentAnswer>>(gw.url, THREE_ALIASES, { image });
      assert.equal(again.errors, undefined, JSON.stringify(again.errors));
      assert.equal(again.data!.a.embedding.cached, true);
      assert.equal((await encoderRuns()) - runs, 1, 'no encoder run for a cached image');
      assert.equal(resolves.calls(), 2, 'one resolution per request');
    } finally {
      resolves.restore();
    }
  });

  test('embeddings by id are read once per distinct id; bad images and models keep their typed errors', async () => {
    const encoded = await gql<{ encodeImage: { id: string } }>(
      gw.url,
      'mutation ($image: ImageInput!) { encodeImage(image: $image) { id } }',
      { image },
    );
    const id = encoded.data!.encodeImage.id;
    const peeks = countCalls(gw.services.sam, 'embedding');
    try {
      const r = await gql<Record<string, { id: string } | null>>(
        gw.url,
        `query ($id: ID!) { a: embedding(id: $id) { id } b: embedding(id: $id) { id } c: embedding(id: "nope") { id } }`,
        { id },
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      assert.deepEqual(r.data, { a: { id }, b: { id }, c: null });
      assert.equal(peeks.calls(), 2, 'one read per distinct id');
    } finally {
      peeks.restore();
    }
    // An unreadable image is a typed error (segment is non-null: the first failing field ends the query).
    const bad = { encoded: { base64: Buffer.from('not an image').toString('base64') } };
    const r = await gql(
      gw.url,
      `query ($image: ImageInput!) {
        a: segment(input: { image: $image, prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }] }) { embedding { id } }
        b: segment(input: { image: $image, prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }] }) { embedding { id } }
      }`,
      { image: bad },
    );
    assert.equal(errorCode(r), 'BAD_IMAGE', JSON.stringify(r.errors));
    assert.equal(r.data, null);
    // An unknown model is refused with its own code.
    const unknown = await gql(
      gw.url,
      `query ($image: ImageInput!) { segment(input: { image: $image, model: "no_such_model", prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }] }) { embedding { id } } }`,
      { image },
    );
    assert.equal(errorCode(unknown), 'MODEL_NOT_FOUND', JSON.stringify(unknown.errors));
  });

  test('models asked for by name under several aliases share one listing of the repository', async () => {
    const listings = countCalls(gw.services.sam, 'listModels');
    try {
      const r = await gql(
        gw.url,
        `{ a: model(name: "sam_reference") { name ready } b: model(name: "sam_reference") { name }
           c: model(name: "no_such_model") { name } }`,
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      assert.deepEqual(r.data, {
        a: { name: 'sam_reference', ready: true },
        b: { name: 'sam_reference' },
        c: null,
      });
      assert.equal(listings.calls(), 1);
    } finally {
      listings.restore();
    }
  });

  test('jobs by id are read once per request on HTTP, and once per subscription on WebSocket', async () => {
    const bench = countCalls(gw.services.benchmark, 'job');
    const tune = countCalls(gw.services.finetune, 'job');
    const volume = countCalls(gw.services.medical.volumeJobs, 'findShared');
    let ws: WsConnection | undefined;
    try {
      const r = await gql(
        gw.url,
        `{ b1: benchmark(id: "j1") { id } b2: benchmark(id: "j1") { id } b3: benchmark(id: "j2") { id }
           f1: fineTuneJob(id: "t1") { id } f2: fineTuneJob(id: "t1") { id }
           v1: volumeJob(jobId: "v1") { jobId } v2: volumeJob(jobId: "v1") { jobId } }`,
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      assert.deepEqual(r.data, { b1: null, b2: null, b3: null, f1: null, f2: null, v1: null, v2: null });
      assert.deepEqual([bench.calls(), tune.calls(), volume.calls()], [2, 1, 1]);

      const opened = await openWs(gw.url);
      assert.equal(opened.kind, 'open', JSON.stringify(opened));
      ws = (opened as { connection: WsConnection }).connection;
      for (const id of ['s1', 's2']) {
        const m = await ws.subscribe(id, 'subscription { fineTuneProgress(id: "t1") { jobId } }');
        assert.equal(wsErrorCode(m), 'NOT_FOUND', JSON.stringify(m));
      }
      assert.equal(tune.calls(), 3, 'each subscription has loaders of its own');
      const m = await ws.subscribe('s3', 'subscription { benchmarkProgress(id: "j1") { jobId } }');
      assert.equal(wsErrorCode(m), 'NOT_FOUND', JSON.stringify(m));
      assert.equal(bench.calls(), 3);
    } finally {
      ws?.close();
      bench.restore();
      tune.restore();
      volume.restore();
    }
  });
});
