/**
 * The GraphQL API end to end over real HTTP, against the embedded KServe v2 server (real gRPC on loopback)
 * serving the generated reference models.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiKeyStore } from '../../gateway/src/security/api-keys.ts';
import { ERROR_CODES } from '../../gateway/src/api/errors.ts';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';
import { StoreError } from '../../gateway/src/store/state-store.ts';
import { dice } from '../../gateway/src/core/metrics.ts';
import { emptyMask, type BinaryMask } from '../../gateway/src/core/mask.ts';
import { nextClick } from '../../gateway/src/core/interactive.ts';
import { generatePhantom, type Phantom } from '../../gateway/src/core/phantoms.ts';
import { decodeRle } from '../../gateway/src/core/rle.ts';
import { decodeImage } from '../../gateway/src/imaging/decode-image.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { errorCode, gql, startTestGateway } from '../helpers/gateway.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { openWs, wsErrorCode } from '../helpers/ws-client.ts';
import { makeDicom } from '../unit/imaging/synthetic-dicom.ts';
import { SessionStore } from '../../gateway/src/api/annotation-sessions.ts';

const SEGMENT = `query ($input: SegmentInput!) {
  segment(input: $input) {
    embedding { id cached width height }
    results { promptIndex masks { rle { size counts } png polygons predictedIou stabilityScore area bbox { x y width height } lowResId
      provenance { model modelVersion profile encoder decoder usedPreviousMask candidateIndex points { x y positive } box { x0 y0 x1 y1 } } } }
  }
}`;

interface MaskOut {
  rle: { size: [number, number]; counts: string };
  png: string | null;
  polygons: number[][] | null;
  predictedIou: number;
  stabilityScore: number;
  area: number;
  bbox: { x: number; y: number; width: number; height: number };
  lowResId: string;
  provenance: Record<string, unknown>;
}
interface SegmentOut {
  segment: {
    embedding: { id: string; cached: boolean; width: number; height: number };
    results: Array<{ promptIndex: number; masks: MaskOut[] }>;
  };
}

function bbox(mask: BinaryMask): { x0: number; y0: number; x1: number; y1: number } {
  let x0 = Infinity,
    y0 = Infinity,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < mask.height; y++)
    for (let x = 0; x < mask.width; x++)
      if (mask.data[y * mask.width + x]) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
  return { x0, y0, x1, y1 };
}

/** The object's most interior pixel (distance-transform maximum), where a person would click. */
function centroidInside(mask: BinaryMask): { x: number; y: number } {
  const click = nextClick(emptyMask(mask.width, mask.height), mask);
  assert.ok(click);
  return { x: click.x + 0.5, y: click.y + 0.5 };
}

const maskOf = (m: MaskOut) => decodeRle(m.rle);

/** Every public code a test of this file has seen answered to a real request; the last test checks all are. */
const driven = new Set<string>();

/** Asserts the answer's first error code and records it as driven. */
function expectCode(r: Awaited<ReturnType<typeof gql>>, expected: string, what: string): void {
  assert.equal(errorCode(r), expected, `${what}: ${JSON.stringify(r.errors)}`);
  driven.add(expected);
}

/** A local HTTP server answering every request with `status`; a PACS that fails. */
async function failingServer(status: number): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('internal failure at /srv/pacs/db');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** A loopback port nobody listens on. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('GraphQL API over the embedded backend', () => {
  let gw: RunningGateway;
  let phantom: Phantom;
  let b64: string;
  let dataRoot: string;
  let pacs: Server;

  before(async () => {
    dataRoot = tempDir('medseg-api-');
    pacs = await failingServer(500);
    gw = await startTestGateway({
      dataRoots: [dataRoot],
      maxPixels: 4_000_000,
      pacsEndpoints: {
        nowhere: { baseUrl: `http://127.0.0.1:${await deadPort()}/dicom-web` },
        failing: { baseUrl: `http://127.0.0.1:${(pacs.address() as AddressInfo).port}/dicom-web` },
      },
    });
    phantom = generatePhantom({ seed: 7, width: 320, height: 256, shapes: ['disc', 'ellipse', 'ring'] });
    const png = encodePng(phantom.image);
    b64 = Buffer.from(png).toString('base64');
    await writeFile(join(dataRoot, 'phantom.png'), png);
  });
  after(async () => {
    await gw?.close();
    await new Promise((resolve) => pacs?.close(resolve));
  });

  test('lists the reference model as ready, with its profile; servable models only, each with its reason', async () => {
    const r = await gql<{
      models: Array<{
        name: string;
        ready: boolean;
        reason: string;
        encoder: string;
        decoder: string;
        profile: { name: string; inputSize: number } | null;
      }>;
    }>(gw.url, '{ models { name ready reason encoder decoder profile { name inputSize } } }');
    assert.equal(r.errors, undefined);
    const names = r.data!.models.map((m) => m.name);
    // No component of a listed model is listed on its own (sam_vit_b_encoder, medsam_vit_b_decoder...).
    const parts = new Set(r.data!.models.flatMap((m) => [m.encoder, m.decoder].filter((p) => p !== m.name)));
    assert.deepEqual(
      names.filter((n) => parts.has(n)),
      [],
    );
    // The production configs without weights are listed, not ready, saying which file is missing.
    const medsam = r.data!.models.find((m) => m.name === 'medsam_vit_b');
    assert.ok(medsam && !medsam.ready, JSON.stringify(r.data));
    assert.match(medsam.reason, /medsam_vit_b_encoder unavailable: .*model\.onnx/);
    for (const m of r.data!.models) assert.equal(m.ready, m.reason === '', `${m.name}: ${m.reason}`);
    const ref = r.data!.models.find((m) => m.name === 'sam_reference');
    assert.ok(ref, JSON.stringify(r.data));
    assert.equal(ref.ready, true);
    assert.equal(ref.encoder, 'sam_reference_encoder');
    assert.equal(ref.decoder, 'sam_reference_decoder');
    assert.deepEqual(ref.profile, { name: 'sam', inputSize: 1024 });
  });

  test('box, point, box+point and refinement reach the Dice thresholds; a cache hit makes no encoder call', async () => {
    const image = { encoded: { base64: b64, mediaType: 'image/png' } };
    const before = gw.services.sam.stats().encoderCalls;
    for (const obj of phantom.objects) {
      const box = bbox(obj.mask);
      const point = centroidInside(obj.mask);
      const r = await gql<SegmentOut>(gw.url, SEGMENT, {
        input: {
          image,
          prompts: [
            { box },
            { points: [{ ...point, positive: true }] },
            { box, points: [{ ...point, positive: true }] },
          ],
          options: { outputs: ['PNG', 'POLYGONS'] },
        },
      });
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      const [boxRes, pointRes, bothRes] = r.data!.segment.results;
      const dBox = dice(maskOf(boxRes.masks[0]), obj.mask);
      const dPoint = dice(maskOf(pointRes.masks[0]), obj.mask);
      const dBoth = dice(maskOf(bothRes.masks[0]), obj.mask);
      assert.ok(dBox >= 0.9, `${obj.label}: box Dice ${dBox}`);
      assert.ok(dPoint >= 0.8, `${obj.label}: point Dice ${dPoint}`);
      assert.ok(dBoth >= 0.9, `${obj.label}: box+point Dice ${dBoth}`);
      // The PNG and the RLE are the same mask; the polygon encloses the bbox.
      const png = decodeImage(Buffer.from(boxRes.masks[0].png!, 'base64'));
      const rle = maskOf(boxRes.masks[0]);
      let same = 0;
      for (let i = 0; i < rle.data.length; i++) same += (png.data[i] > 0 ? 1 : 0) === rle.data[i] ? 1 : 0;
      assert.equal(same, rle.data.length);
      assert.ok(boxRes.masks[0].polygons!.length >= 1);
      assert.equal(boxRes.masks[0].provenance.model, 'sam_reference');
      assert.equal(boxRes.masks[0].provenance.profile, 'sam');

      // Refinement: feed the point mask back with the box.
      const refined = await gql<SegmentOut>(gw.url, SEGMENT, {
        input: {
          embeddingId: r.data!.segment.embedding.id,
          prompts: [{ box, previousMask: { lowResId: pointRes.masks[0].lowResId } }],
        },
      });
      assert.equal(refined.errors, undefined, JSON.stringify(refined.errors));
      assert.equal(refined.data!.segment.results[0].masks[0].provenance.usedPreviousMask, true);
      const dRefined = dice(maskOf(refined.data!.segment.results[0].masks[0]), obj.mask);
      assert.ok(dRefined >= 0.9, `${obj.label}: refined Dice ${dRefined}`);
    }
    assert.equal(gw.services.sam.stats().encoderCalls - before, 1, 'one image, one encoder call');
  });

  test('an encoder with preprocessing inside ([H,W,3] raw RGB, profile sam_hwc) segments as well', async () => {
    const obj = phantom.objects[0];
    const r = await gql<SegmentOut>(gw.url, SEGMENT, {
      input: {
        image: { encoded: { base64: b64 } },
        model: 'sam_reference_hwc_encoder',
        prompts: [{ box: bbox(obj.mask) }],
      },
    });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const m = r.data!.segment.results[0].masks[0];
    assert.equal(m.provenance.profile, 'sam_hwc');
    assert.equal(m.provenance.encoder, 'sam_reference_hwc_encoder');
    assert.ok(dice(maskOf(m), obj.mask) >= 0.9, `Dice ${dice(maskOf(m), obj.mask)}`);
  });

  test('encodeImage is content-addressed: the same pixels give the same id from the cache', async () => {
    const m = `mutation ($image: ImageInput!) { encodeImage(image: $image) { id cached width height expiresAt } }`;
    const a = await gql<{ encodeImage: { id: string; cached: boolean; width: number } }>(gw.url, m, {
      image: { path: 'phantom.png' },
    });
    const b = await gql<{ encodeImage: { id: string; cached: boolean } }>(gw.url, m, {
      image: { encoded: { base64: b64 } },
    });
    assert.equal(a.errors, undefined, JSON.stringify(a.errors));
    assert.equal(a.data!.encodeImage.id, b.data!.encodeImage.id);
    assert.equal(b.data!.encodeImage.cached, true);
    assert.equal(a.data!.encodeImage.width, 320);
  });

  test('concurrent segment calls on one embedding are batched into fewer decoder calls', async () => {
    const enc = await gql<{ encodeImage: { id: string } }>(
      gw.url,
      `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`,
      { i: { encoded: { base64: b64 } } },
    );
    const id = enc.data!.encodeImage.id;
    const s0 = gw.services.sam.stats();
    const obj = phantom.objects[0];
    const box = bbox(obj.mask);
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        gql<SegmentOut>(gw.url, SEGMENT, { input: { embeddingId: id, prompts: [{ box }] } }),
      ),
    );
    const s1 = gw.services.sam.stats();
    for (const r of results) assert.equal(r.errors, undefined);
    const counts = new Set(results.map((r) => r.data!.segment.results[0].masks[0].rle.counts));
    assert.equal(counts.size, 1, 'every caller gets the same mask');
    assert.equal(s1.decoderRequests - s0.decoderRequests, 12);
    assert.ok(
      s1.decoderCalls - s0.decoderCalls < 12,
      `decoder calls ${s1.decoderCalls - s0.decoderCalls} for 12 requests`,
    );
    assert.equal(s1.encoderCalls, s0.encoderCalls);
  });

  test('everything mode finds each object of a multi-object phantom', async () => {
    const r = await gql<{
      segmentEverything: { masks: MaskOut[]; pointsEvaluated: number; candidatesConsidered: number };
    }>(
      gw.url,
      `query ($i: ImageInput!) { segmentEverything(image: $i, options: { pointsPerSide: 12 }) { pointsEvaluated candidatesConsidered masks { rle { size counts } predictedIou stabilityScore area } } }`,
      { i: { encoded: { base64: b64 } } },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const out = r.data!.segmentEverything;
    assert.equal(out.pointsEvaluated, 144);
    assert.ok(out.candidatesConsidered >= 144);
    for (const obj of phantom.objects) {
      const best = Math.max(...out.masks.map((m) => dice(maskOf(m), obj.mask)));
      assert.ok(best >= 0.8, `${obj.label}: best everything-mode Dice ${best}`);
    }
    for (const m of out.masks) {
      assert.ok(m.predictedIou > 0.88);
      assert.ok(m.stabilityScore >= 0.95);
    }
    // Options left undefined (a GraphQL null) fall back to SAM's defaults instead of disabling the filters.
    const id = (
      await gql<{ encodeImage: { id: string } }>(
        gw.url,
        `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`,
        {
          i: { encoded: { base64: b64 } },
        },
      )
    ).data!.encodeImage.id;
    const direct = await gw.services.sam.everything(id, {
      pointsPerSide: 6,
      predIouThresh: undefined,
      boxNmsThresh: undefined,
    });
    assert.ok(direct.masks.length >= 1);
    for (const m of direct.masks) assert.ok(m.predictedIou > 0.88);
  });

  test('an annotation session clicks, undoes, exports and closes', async () => {
    const obj = phantom.objects[1];
    const p = centroidInside(obj.mask);
    const start = await gql<{ startSession: { id: string; clickCount: number; mask: null } }>(
      gw.url,
      `mutation ($i: ImageInput!) { startSession(image: $i) { id clickCount mask { area } } }`,
      { i: { encoded: { base64: b64 } } },
    );
    assert.equal(start.errors, undefined, JSON.stringify(start.errors));
    const id = start.data!.startSession.id;
    assert.equal(start.data!.startSession.mask, null);
    const click = `mutation ($s: ID!, $x: Float!, $y: Float!, $p: Boolean!) { addClick(session: $s, x: $x, y: $y, positive: $p) { clickCount elapsedMs mask { rle { size counts } area } } }`;
    const c1 = await gql<{ addClick: { clickCount: number; mask: MaskOut } }>(gw.url, click, {
      s: id,
      x: p.x,
      y: p.y,
      p: true,
    });
    assert.equal(c1.errors, undefined, JSON.stringify(c1.errors));
    assert.equal(c1.data!.addClick.clickCount, 1);
    assert.ok(dice(maskOf(c1.data!.addClick.mask), obj.mask) >= 0.8);
    // A negative click far away in the background must not break the mask.
    const c2 = await gql<{ addClick: { clickCount: number; mask: MaskOut } }>(gw.url, click, {
      s: id,
      x: 2,
      y: 2,
      p: false,
    });
    assert.equal(c2.data!.addClick.clickCount, 2);
    const u = await gql<{ undo: { clickCount: number; mask: MaskOut } }>(
      gw.url,
      `mutation ($s: ID!) { undo(session: $s) { clickCount mask { rle { size counts } } } }`,
      { s: id },
    );
    assert.equal(u.data!.undo.clickCount, 1);
    assert.equal(u.data!.undo.mask.rle.counts, c1.data!.addClick.mask.rle.counts);
    const ex = await gql<{ exportSession: { format: string; png: string; rle: { counts: string } } }>(
      gw.url,
      `mutation ($s: ID!) { exportSession(session: $s, format: PNG) { format png rle { counts } } }`,
      { s: id },
    );
    assert.equal(ex.data!.exportSession.format, 'PNG');
    assert.equal(decodeImage(Buffer.from(ex.data!.exportSession.png, 'base64')).width, 320);
    const closed = await gql<{ closeSession: boolean }>(
      gw.url,
      `mutation ($s: ID!) { closeSession(session: $s) }`,
      { s: id },
    );
    assert.equal(closed.data!.closeSession, true);
    const gone = await gql(gw.url, `mutation ($s: ID!) { undo(session: $s) { clickCount } }`, { s: id });
    assert.equal(errorCode(gone), 'SESSION_NOT_FOUND');
  });

  test('every bad request gets its error code', async () => {
    const seg = (input: Record<string, unknown>) => gql(gw.url, SEGMENT, { input });
    const image = { encoded: { base64: b64 } };
    const png1x1Header = Buffer.from(
      encodePng({ width: 1, height: 1, channels: 1, data: new Uint8Array(1) }),
    );
    // Rewrite the IHDR to claim 100000 x 100000 pixels: the limit is checked before decoding.
    png1x1Header.writeUInt32BE(100000, 16);
    png1x1Header.writeUInt32BE(100000, 20);
    const cases: Array<[string, Promise<unknown>]> = [
      [
        'BAD_IMAGE',
        seg({
          image: { encoded: { base64: Buffer.from('\x89PNG\r\n\x1a\nbroken').toString('base64') } },
          prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }],
        }),
      ],
      [
        'BAD_IMAGE',
        seg({ image: { encoded: { base64: '!!!' } }, prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }] }),
      ],
      [
        'UNSUPPORTED_FORMAT',
        seg({
          image: {
            encoded: { base64: Buffer.from('GIF89a....').toString('base64'), mediaType: 'image/gif' },
          },
          prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }],
        }),
      ],
      [
        'IMAGE_TOO_LARGE',
        seg({
          image: { encoded: { base64: png1x1Header.toString('base64') } },
          prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }],
        }),
      ],
      ['BAD_PROMPT', seg({ image, prompts: [] })],
      ['BAD_PROMPT', seg({ image, prompts: [{ points: [] }] })],
      ['BAD_PROMPT', seg({ image, prompts: [{ points: [{ x: 400, y: 10, positive: true }] }] })],
      ['BAD_PROMPT', seg({ image, prompts: [{ box: { x0: 50, y0: 10, x1: 20, y1: 40 } }] })],
      [
        'BAD_PROMPT',
        seg({
          image,
          prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 }, previousMask: { lowResId: 'lr_nope' } }],
        }),
      ],
      ['BAD_REQUEST', seg({ prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }] })],
      [
        'MODEL_NOT_FOUND',
        seg({ image, model: 'no_such_model', prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }] }),
      ],
      [
        'MODEL_NOT_READY',
        seg({ image, model: 'sam_vit_b', prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }] }),
      ],
      [
        'EMBEDDING_NOT_FOUND',
        seg({ embeddingId: 'unknown', prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }] }),
      ],
      [
        'PATH_NOT_ALLOWED',
        seg({ image: { path: '../../etc/passwd' }, prompts: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }] }),
      ],
      [
        'LIMIT_EXCEEDED',
        seg({ image, prompts: Array.from({ length: 65 }, () => ({ box: { x0: 1, y0: 1, x1: 5, y1: 5 } })) }),
      ],
      ['SESSION_NOT_FOUND', gql(gw.url, `mutation { reset(session: "sess_nope") { id } }`)],
    ];
    for (const [expected, pending] of cases) {
      const r = (await pending) as Awaited<ReturnType<typeof gql>>;
      expectCode(r, expected, expected);
    }
  });

  test('every bad request below the resolvers gets the code of its error class, on HTTP and WebSocket', async () => {
    const box = { box: { x0: 1, y0: 1, x1: 5, y1: 5 } };
    const seg = (image: Record<string, unknown>, prompts: unknown[] = [box]) =>
      gql(gw.url, SEGMENT, { input: { image, prompts } });
    // Imaging: a DICOM whose compression is not decoded (ImageError).
    const mpeg2 = makeDicom({
      rows: 2,
      columns: 2,
      bitsAllocated: 8,
      transferSyntaxUid: '1.2.840.10008.1.2.4.100',
      pixelData: [new Uint8Array(8)],
    });
    expectCode(
      await seg({ dicom: { base64: Buffer.from(mpeg2).toString('base64') } }),
      'UNSUPPORTED_TRANSFER_SYNTAX',
      'MPEG2 DICOM',
    );
    // DICOMweb (DicomWebError): nobody listens; the PACS answers 500; a UID that is no UID.
    const ref = { studyUID: '1.2.3', seriesUID: '1.2.3.4', instanceUID: '1.2.3.4.5' };
    expectCode(await seg({ dicomweb: { pacs: 'nowhere', ...ref } }), 'PACS_UNAVAILABLE', 'dead PACS');
    const failed = await seg({ dicomweb: { pacs: 'failing', ...ref } });
    expectCode(failed, 'PACS_ERROR', 'PACS answering 500');
    assert.doesNotMatch(JSON.stringify(failed.errors), /srv\/pacs/, "the PACS's own words stay in the log");
    expectCode(
      await seg({ dicomweb: { pacs: 'failing', ...ref, studyUID: '../x' } }),
      'BAD_REQUEST',
      'bad UID',
    );
    // A malformed RLE is BAD_REQUEST as a segment prior and as a mask to export (RleError).
    const rle = { size: [256, 320], counts: '~~~~' };
    expectCode(
      await seg({ encoded: { base64: b64 } }, [{ ...box, previousMask: { rle } }]),
      'BAD_REQUEST',
      'bad RLE prior',
    );
    const ct = Buffer.from(
      makeDicom({ rows: 2, columns: 2, bitsAllocated: 8, pixelData: [new Uint8Array(4)] }),
    );
    expectCode(
      await gql(
        gw.url,
        `mutation ($d: String!, $rle: RleInput!) { exportDicomSeg(input: { source: { dicom: [$d] }, masks: [{ sourceIndex: 0, rle: $rle }] }) { __typename } }`,
        { d: ct.toString('base64'), rle: { size: [2, 2], counts: '~~~~' } },
      ),
      'BAD_REQUEST',
      'bad RLE mask',
    );
    // Missing jobs of every kind are NOT_FOUND.
    for (const q of [
      `mutation { cancelBenchmark(id: "missing") { id } }`,
      `mutation { resumeBenchmark(id: "missing") { id } }`,
      `mutation { cancelVolume(jobId: "missing") }`,
      `mutation { cancelFineTune(id: "missing") { id } }`,
      `mutation { resumeFineTune(id: "missing") { id } }`,
    ])
      expectCode(await gql(gw.url, q), 'NOT_FOUND', q);
    // Datasets (DatasetError) and fine-tuning (FineTuneError, SplitError) on synthetic data under the root.
    writeSyntheticDataset({
      dir: join(dataRoot, 'synth'),
      images: 3,
      width: 64,
      height: 64,
      classes: { 100: 'a' },
      seed: 1,
      writeJson: true,
    });
    mkdirSync(join(dataRoot, 'blank', 'images'), { recursive: true });
    mkdirSync(join(dataRoot, 'blank', 'labels'), { recursive: true });
    const grey = { width: 32, height: 32, channels: 1 as const, data: new Uint8Array(32 * 32).fill(90) };
    writeFileSync(join(dataRoot, 'blank', 'images', 'b_1_1.png'), encodePng(grey));
    writeFileSync(
      join(dataRoot, 'blank', 'labels', 'b_1_1.png'),
      encodePng({ ...grey, data: new Uint8Array(32 * 32) }),
    );
    const register = (path: string, id: string) =>
      gql(
        gw.url,
        `mutation ($p: String!, $id: ID!) { registerDataset(input: { path: $p, id: $id, modality: "MRI", classes: [{ value: 100, name: "a" }] }) { id } }`,
        { p: path, id },
      );
    for (const [path, id] of [
      ['synth', 'synth'],
      ['blank', 'blank'],
    ]) {
      const r = await register(path, id);
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    }
    expectCode(await register('blank', 'synth'), 'ALREADY_EXISTS', 'a dataset id taken by another folder');
    const fineTune = (input: Record<string, unknown>) =>
      gql(gw.url, `mutation ($in: StartFineTuneInput!) { startFineTune(input: $in) { id } }`, {
        in: { baseModel: 'sam_reference', epochs: 1, ...input },
      });
    expectCode(await fineTune({ dataset: 'synth', split: 'bogus' }), 'BAD_SPLIT', 'split clause');
    expectCode(await fineTune({ dataset: 'synth', split: 'val=' }), 'EMPTY_DATASET', 'empty training part');
    expectCode(await fineTune({ dataset: 'blank' }), 'NO_OBJECTS', 'no objects');
    expectCode(
      await fineTune({ dataset: 'synth', modelName: 'sam_reference' }),
      'ALREADY_EXISTS',
      'model name',
    );
    // The WebSocket goes through the same mapping: unknown jobs are NOT_FOUND there too.
    const open = await openWs(gw.url);
    assert.equal(open.kind, 'open', JSON.stringify(open));
    if (open.kind !== 'open') return;
    try {
      for (const [id, q] of [
        ['v', 'subscription { volumeProgress(jobId: "missing") { done } }'],
        ['b', 'subscription { benchmarkProgress(id: "missing") { type } }'],
        ['f', 'subscription { fineTuneProgress(id: "missing") { type } }'],
      ]) {
        const m = await open.connection.subscribe(id, q);
        assert.equal(wsErrorCode(m), 'NOT_FOUND', `${q}: ${JSON.stringify(m)}`);
      }
      const m = await open.connection.subscribe(
        'p',
        'subscription { volumeProgress(jobId: "missing") { done } }',
      );
      assert.match(
        JSON.stringify(m.payload),
        /requestId/,
        'WebSocket errors carry the connection request id',
      );
    } finally {
      open.connection.close();
    }
  });
});

describe('annotation session expiry', () => {
  test('an idle session expires and answers SESSION_NOT_FOUND; the bound on open sessions holds', async () => {
    const gw = await startTestGateway();
    // The sessions' clock is the test's, so expiry does not depend on how fast requests run on this machine.
    let clock = Date.now();
    gw.services.sessions = new SessionStore({ maxSessions: 1, ttlMs: 60_000, now: () => clock });
    try {
      const img = {
        encoded: {
          base64: Buffer.from(encodePng(generatePhantom({ seed: 2, width: 64, height: 48 }).image)).toString(
            'base64',
          ),
        },
      };
      const start = `mutation ($i: ImageInput!) { startSession(image: $i) { id expiresAt } }`;
      const first = await gql<{ startSession: { id: string } }>(gw.url, start, { i: img });
      assert.equal(first.errors, undefined, JSON.stringify(first.errors));
      assert.equal(errorCode(await gql(gw.url, start, { i: img })), 'LIMIT_EXCEEDED');
      clock += 60_001;
      const late = await gql(
        gw.url,
        `mutation ($s: ID!) { addClick(session: $s, x: 5, y: 5, positive: true) { clickCount } }`,
        {
          s: first.data!.startSession.id,
        },
      );
      assert.equal(errorCode(late), 'SESSION_NOT_FOUND');
      const again = await gql(gw.url, start, { i: img });
      assert.equal(again.errors, undefined, 'the expired session no longer counts against the bound');
    } finally {
      await gw.close();
    }
  });
});

describe('backend faults', () => {
  test('a gateway whose backend is down answers BACKEND_UNAVAILABLE and is not ready', async () => {
    const gw = await startTestGateway({ tritonUrl: '127.0.0.1:1', backendDeadlineMs: 2000 });
    try {
      const r = await gql(gw.url, '{ models { name } }');
      expectCode(r, 'BACKEND_UNAVAILABLE', 'dead backend');
      const ready = await fetch(`${gw.url}/readyz`);
      assert.equal(ready.status, 503);
      const health = await fetch(`${gw.url}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      await gw.close();
    }
  });

  test('a backend call past its deadline answers DEADLINE_EXCEEDED', async () => {
    const gw = await startTestGateway({ backendDeadlineMs: 1 });
    try {
      const img = generatePhantom({ seed: 3, width: 64, height: 64 }).image;
      const r = await gql(gw.url, `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`, {
        i: { encoded: { base64: Buffer.from(encodePng(img)).toString('base64') } },
      });
      expectCode(r, 'DEADLINE_EXCEEDED', 'deadline');
    } finally {
      await gw.close();
    }
  });
});

describe('every public error code', () => {
  test('overload, store faults, credentials and roles have their codes; anything else is INTERNAL, masked', async () => {
    const tmp = tempDir('medseg-codes-');
    // A dead backend and one decode slot without a waiting line: the gateway starts without the embedded server.
    const faults = await startTestGateway({ tritonUrl: '127.0.0.1:1', maxDecodes: 1, decodeQueue: 0 });
    try {
      const image = {
        encoded: {
          base64: Buffer.from(encodePng(generatePhantom({ seed: 2, width: 32, height: 32 }).image)).toString(
            'base64',
          ),
        },
      };
      const encode = `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`;
      // The test holds the only decode slot, as a long decode would (SemaphoreFullError).
      const release = await faults.services.decodes.acquire();
      const refused = await gql(faults.url, encode, { i: image });
      release();
      expectCode(refused, 'RESOURCE_EXHAUSTED', 'full decode line');
      assert.equal(refused.errors![0].extensions!.retryAfterSeconds, 1);
      // The shared store failing under a request (StoreError): the benchmark list reads it.
      const jobs = faults.services.benchmark.jobs.bind(faults.services.benchmark);
      for (const [storeCode, expected] of [
        ['UNAVAILABLE', 'STORE_UNAVAILABLE'],
        ['CONFLICT', 'CONFLICT'],
      ] as const) {
        faults.services.benchmark.jobs = () => Promise.reject(new StoreError('the store said no', storeCode));
        expectCode(await gql(faults.url, '{ benchmarks { id } }'), expected, storeCode);
      }
      // An error no row of the table takes: INTERNAL, with the request id, and nothing of the server.
      faults.services.benchmark.jobs = () =>
        Promise.reject(new Error('cannot open /srv/secret/bench.sqlite'));
      const res = await fetch(`${faults.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'req-internal-1' },
        body: JSON.stringify({ query: '{ benchmarks { id } }' }),
      });
      const body = (await res.json()) as Awaited<ReturnType<typeof gql>>;
      expectCode({ ...body, status: res.status }, 'INTERNAL', 'unknown error');
      assert.equal(body.errors![0].message, 'internal error');
      assert.equal(body.errors![0].extensions!.requestId, 'req-internal-1');
      assert.doesNotMatch(JSON.stringify(body), /secret|sqlite|stack/);
      faults.services.benchmark.jobs = jobs;
    } finally {
      await faults.close();
    }

    // Credentials and roles (the gateway's own refusals keep their codes through the same formatter).
    const file = join(tmp, 'keys.json');
    const segmentKey = new ApiKeyStore(file).create('seg', ['segment']).key;
    const stateDir = join(tmp, 'state');
    const guarded = await startTestGateway({
      tritonUrl: '127.0.0.1:1',
      stateDir,
      security: loadSecurityConfig({ API_KEYS_FILE: file, RATE_LIMIT_RPS: '0' }, stateDir),
    });
    try {
      expectCode(await gql(guarded.url, '{ benchmarks { id } }'), 'UNAUTHENTICATED', 'no credential');
      const res = await fetch(`${guarded.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${segmentKey}` },
        body: JSON.stringify({ query: '{ benchmarks { id } }' }),
      });
      expectCode({ ...((await res.json()) as object), status: res.status }, 'FORBIDDEN', 'segment role');
    } finally {
      await guarded.close();
    }
  });

  test('every code of the table was driven by a request in this file', () => {
    const missing = Object.keys(ERROR_CODES).filter((c) => !driven.has(c));
    assert.deepEqual(missing, [], `codes no request earned: ${missing.join(', ')}`);
  });
});
