/**
 * Medical inputs and outputs through GraphQL over real HTTP and the embedded backend: a CT slice as DICOM
 * with a window preset, NIfTI slices along different axes, DICOM SEG export from masks, typed errors for bad
 * inputs, and logs free of patient identifiers.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../gateway/src/config.ts';
import type { BinaryMask } from '../../gateway/src/core/mask.ts';
import { dice } from '../../gateway/src/core/metrics.ts';
import { decodeRle, encodeRle } from '../../gateway/src/core/rle.ts';
import { decodeNifti } from '../../gateway/src/imaging/nifti.ts';
import { readDicomSeg, segSourceFromDicom } from '../../gateway/src/imaging/dicom-seg.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/main.ts';
import { freePort } from '../helpers/orthanc.ts';
import { errorCode, gql, REPO_ROOT, startTestGateway } from '../helpers/gateway.ts';
import { le16, makeDicom } from '../unit/imaging/synthetic-dicom.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const samples = resolve(REPO_ROOT, '../shared/samples');
const ctFile = (n: string) => readFileSync(resolve(samples, 'dicom/ct-3slice-liver-seg', n));
const tinyMri = readFileSync(resolve(samples, 'nifti/tiny-mri-fixture/anatomical.nii'));
const tinyLabel = readFileSync(resolve(samples, 'nifti/tiny-mri-fixture/anatomical_label.nii.gz'));

const SEGMENT = `query ($i: ImageInput!, $p: [PromptSetInput!]!) {
  segment(input: { image: $i, prompts: $p }) {
    embedding { id width height spacing }
    results { masks { rle { size counts } area predictedIou } }
  }
}`;

interface SegmentOut {
  segment: {
    embedding: { id: string; width: number; height: number; spacing: number[] | null };
    results: Array<{ masks: Array<{ rle: { size: [number, number]; counts: string }; area: number }> }>;
  };
}

function box(mask: BinaryMask) {
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
  return { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

describe('medical inputs through GraphQL', () => {
  let gw: RunningGateway;
  let deadPort: number;

  before(async () => {
    deadPort = await freePort();
    gw = await startTestGateway({
      pacsEndpoints: { nowhere: { baseUrl: `http://127.0.0.1:${deadPort}/dicom-web` } },
      pacsTimeoutMs: 2000,
    });
  });
  after(async () => {
    await gw?.close();
  });

  test('a CT slice as DICOM with the soft-tissue preset and a box gives the liver, with pixel spacing', async () => {
    const liver = readDicomSeg(new Uint8Array(ctFile('liver.dcm')));
    const ct = new Uint8Array(ctFile('01.dcm'));
    const uid = segSourceFromDicom(ct).source.sopInstanceUid;
    const truth = liver.frames.find((f) => f.sourceSopInstanceUids.includes(uid))!.mask;
    const r = await gql<SegmentOut>(gw.url, SEGMENT, {
      i: { dicom: { base64: Buffer.from(ct).toString('base64'), window: { preset: 'CT_SOFT_TISSUE' } } },
      p: [{ box: box(truth) }],
    });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const { embedding, results } = r.data!.segment;
    assert.deepEqual([embedding.width, embedding.height], [512, 512]);
    assert.deepEqual(embedding.spacing, [0.810547, 0.810547]);
    const mask = decodeRle(results[0].masks[0].rle);
    const d = dice(mask, truth);
    assert.ok(d > 0.5, `liver Dice ${d.toFixed(3)}`);

    // The same pixels with another window are another image (another embedding); the file's own window
    // is the default.
    const lung = await gql<SegmentOut>(gw.url, SEGMENT, {
      i: { dicom: { base64: Buffer.from(ct).toString('base64'), window: { preset: 'CT_LUNG' } } },
      p: [{ box: box(truth) }],
    });
    assert.notEqual(lung.data!.segment.embedding.id, embedding.id);
    const own = await gql<SegmentOut>(gw.url, SEGMENT, {
      i: { dicom: { base64: Buffer.from(ct).toString('base64'), window: { fromFile: true } } },
      p: [{ box: box(truth) }],
    });
    const dflt = await gql<SegmentOut>(gw.url, SEGMENT, {
      i: { dicom: { base64: Buffer.from(ct).toString('base64') } },
      p: [{ box: box(truth) }],
    });
    assert.equal(own.data!.segment.embedding.id, dflt.data!.segment.embedding.id);
    // spacing is remembered for the embedding id
    const byId = await gql<{ embedding: { spacing: number[] } }>(
      gw.url,
      `query ($id: ID!) { embedding(id: $id) { spacing } }`,
      { id: embedding.id },
    );
    assert.deepEqual(byId.data!.embedding.spacing, [0.810547, 0.810547]);
  });

  test('NIfTI slices along axis 2 and axis 0 have the expected sizes, spacing and object', async () => {
    const label = decodeNifti(new Uint8Array(tinyLabel));
    const [nx, ny] = label.dims;
    const truth: BinaryMask = { width: nx, height: ny, data: new Uint8Array(nx * ny) };
    for (let i = 0; i < nx * ny; i++) truth.data[i] = label.data[i + nx * ny * 12] ? 1 : 0;
    const b64 = tinyMri.toString('base64');
    const r = await gql<SegmentOut>(gw.url, SEGMENT, {
      i: { nifti: { base64: b64, axis: 2, slice: 12, window: { percentiles: { low: 0.5, high: 99.5 } } } },
      p: [{ box: box(truth) }],
    });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const seg = r.data!.segment;
    assert.deepEqual([seg.embedding.width, seg.embedding.height], [33, 41]);
    assert.deepEqual(seg.embedding.spacing, [2, 2]);
    assert.ok(seg.results[0].masks[0].area > 0);

    const sag = await gql<SegmentOut>(gw.url, SEGMENT, {
      i: { nifti: { base64: b64, axis: 0, slice: 16 } },
      p: [{ points: [{ x: 20, y: 12, positive: true }] }],
    });
    assert.equal(sag.errors, undefined, JSON.stringify(sag.errors));
    assert.deepEqual([sag.data!.segment.embedding.width, sag.data!.segment.embedding.height], [41, 25]);
  });

  test('exportDicomSeg writes a SEG over DICOM files that references them', async () => {
    const files = ['01.dcm', '02.dcm', '03.dcm'].map((f) => new Uint8Array(ctFile(f)));
    const masks = files.map((_, k) => {
      const m: BinaryMask = { width: 512, height: 512, data: new Uint8Array(512 * 512) };
      for (let y = 200; y < 260 + k * 10; y++) for (let x = 250; x < 330; x++) m.data[y * 512 + x] = 1;
      return m;
    });
    const empty: BinaryMask = { width: 512, height: 512, data: new Uint8Array(512 * 512) };
    const r = await gql<{
      exportDicomSeg: { base64: string; frames: number; sopInstanceUID: string; stored: null };
    }>(
      gw.url,
      `mutation ($in: DicomSegExportInput!) { exportDicomSeg(input: $in) { base64 frames sopInstanceUID stored { pacs } } }`,
      {
        in: {
          source: { dicom: files.map((f) => Buffer.from(f).toString('base64')) },
          masks: [
            ...masks.map((m, i) => ({ sourceIndex: i, rle: encodeRle(m) })),
            { sourceIndex: 1, rle: encodeRle(empty) },
          ],
          seg: { label: 'Liver', type: 'LIVER' },
        },
      },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const out = r.data!.exportDicomSeg;
    assert.equal(out.frames, 3);
    assert.equal(out.stored, null);
    const seg = readDicomSeg(new Uint8Array(Buffer.from(out.base64, 'base64')));
    assert.equal(seg.sopInstanceUid, out.sopInstanceUID);
    assert.equal(seg.segments[0].label, 'Liver');
    assert.deepEqual(
      seg.frames.map((f) => f.sourceSopInstanceUids[0]),
      files.map((f) => segSourceFromDicom(f).source.sopInstanceUid),
    );
    seg.frames.forEach((f, i) => assert.deepEqual(f.mask.data, masks[i].data));

    const wrongSize = await gql(
      gw.url,
      `mutation ($in: DicomSegExportInput!) { exportDicomSeg(input: $in) { frames } }`,
      {
        in: {
          source: { dicom: [Buffer.from(files[0]).toString('base64')] },
          masks: [
            { sourceIndex: 0, rle: encodeRle({ width: 4, height: 4, data: new Uint8Array(16).fill(1) }) },
          ],
        },
      },
    );
    assert.equal(errorCode(wrongSize), 'BAD_REQUEST');
  });

  test('bad medical inputs get typed codes', async () => {
    const ct = ctFile('01.dcm');
    const p = [{ box: { x0: 1, y0: 1, x1: 20, y1: 20 } }];
    const code = async (i: unknown) => errorCode(await gql(gw.url, SEGMENT, { i, p }));
    assert.equal(await code({ dicom: { base64: ct.subarray(0, 2000).toString('base64') } }), 'BAD_IMAGE');
    assert.equal(
      await code({ dicom: { base64: ct.subarray(0, ct.length - 5000).toString('base64') } }),
      'BAD_IMAGE',
    );
    assert.equal(await code({ dicom: { base64: ct.toString('base64'), frame: 1 } }), 'BAD_REQUEST');
    assert.equal(await code({ dicom: { base64: ct.toString('base64'), frame: -1 } }), 'BAD_REQUEST');
    assert.equal(
      await code({
        dicom: { base64: ct.toString('base64'), window: { centerWidth: { center: 40, width: 0 } } },
      }),
      'BAD_REQUEST',
    );
    const wrongMagic = Buffer.from(tinyMri);
    wrongMagic.write('x+9\0', 344, 'latin1');
    assert.equal(await code({ nifti: { base64: wrongMagic.toString('base64'), slice: 0 } }), 'BAD_IMAGE');
    assert.equal(await code({ nifti: { base64: tinyMri.toString('base64'), slice: 25 } }), 'BAD_REQUEST');
    assert.equal(
      await code({ nifti: { base64: tinyMri.toString('base64'), axis: 3, slice: 0 } }),
      'BAD_REQUEST',
    );
    const ref = { studyUID: '1.2.3', seriesUID: '1.2.3.4', instanceUID: '1.2.3.4.5' };
    assert.equal(await code({ dicomweb: { pacs: 'elsewhere', ...ref } }), 'BAD_REQUEST');
    assert.equal(await code({ dicomweb: { pacs: 'nowhere', ...ref } }), 'PACS_UNAVAILABLE');
    assert.equal(await code({ dicomweb: { pacs: 'nowhere', ...ref, studyUID: '../x' } }), 'BAD_REQUEST');
    // @oneOf: two variants at once are refused by GraphQL validation itself
    const two = await gql(gw.url, SEGMENT, { i: { dicom: { base64: 'AAAA' }, path: 'x' }, p });
    assert.ok(two.errors && two.errors.length > 0);
  });
});

test('a DICOM with a patient name and id leaves no trace of them in the logs', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const config = loadConfig({
    PORT: '0',
    MODEL_REPOSITORY: `${REPO_ROOT}triton-models`,
    STATE_DIR: tempDir('medseg-test-state-'),
    LOG_LEVEL: 'debug',
  });
  const gw = await startGateway(config, pino({ level: 'debug' }, sink));
  try {
    const w = 48;
    const px = new Array<number>(w * w).fill(100);
    for (let y = 14; y < 34; y++) for (let x = 12; x < 36; x++) px[y * w + x] = 900;
    const dcm = makeDicom({
      rows: w,
      columns: w,
      bitsAllocated: 16,
      pixelData: le16(px),
      pixelSpacing: [0.7, 0.7],
      extra: { PatientName: 'Doe^Jane', PatientID: 'PID-4711-XY', PatientBirthDate: '19700101' },
    });
    const b64 = Buffer.from(dcm).toString('base64');
    const ok = await gql<SegmentOut>(gw.url, SEGMENT, {
      i: { dicom: { base64: b64 } },
      p: [{ box: { x0: 10, y0: 12, x1: 38, y1: 36 } }],
    });
    assert.equal(ok.errors, undefined, JSON.stringify(ok.errors));
    assert.ok(ok.data!.segment.results[0].masks[0].area > 0);
    const bad = await gql(gw.url, SEGMENT, {
      i: { dicom: { base64: b64, frame: 3 } },
      p: [{ box: { x0: 1, y0: 1, x1: 5, y1: 5 } }],
    });
    assert.equal(errorCode(bad), 'BAD_REQUEST');
    const log = lines.join('');
    assert.ok(log.includes('graphql operation'), 'operations were logged');
    for (const secret of ['Doe^Jane', 'Doe', 'Jane', 'PID-4711-XY', '19700101'])
      assert.ok(!log.includes(secret), `log contains ${secret}`);
  } finally {
    await gw.close();
  }
});

test('PACS endpoints come from PACS_ENDPOINTS or PACS_ENDPOINTS_FILE and are validated', () => {
  const inline = loadConfig({
    PACS_ENDPOINTS: '{"main": {"baseUrl": "https://pacs.example/dicom-web", "authHeader": "Bearer t"}}',
  });
  assert.deepEqual(inline.pacsEndpoints, {
    main: { baseUrl: 'https://pacs.example/dicom-web', authHeader: 'Bearer t' },
  });
  const file = resolve(tempDir('medseg-pacs-'), 'pacs.json');
  writeFileSync(file, '{"a": {"baseUrl": "http://127.0.0.1:8042/dicom-web"}}');
  assert.deepEqual(Object.keys(loadConfig({ PACS_ENDPOINTS_FILE: file }).pacsEndpoints), ['a']);
  assert.deepEqual(loadConfig({}).pacsEndpoints, {});
  for (const bad of ['[1]', '{"a": {"baseUrl": "ftp://x"}}', '{"a b": {"baseUrl": "http://x"}}', 'nope']) {
    assert.throws(() => loadConfig({ PACS_ENDPOINTS: bad }), ConfigError, bad);
  }
  assert.throws(() => loadConfig({ PACS_ENDPOINTS: '{}', PACS_ENDPOINTS_FILE: file }), ConfigError);
  assert.throws(() => loadConfig({ PACS_ENDPOINTS_FILE: '/nonexistent/pacs.json' }), ConfigError);
});
