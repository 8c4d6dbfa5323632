/**
 * Malicious image files against a running gateway (issue 11 A2): each is made here, small, and aimed at a
 * decoder's blind spot. Every one must come back as a typed error while the gateway keeps serving: a TIFF
 * whose directory chain loops, a truncated TIFF, a NIfTI gzip bomb behind a small header, a DICOM file that
 * dicom-parser rejects with an object instead of an Error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { errorCode, gql, startTestGateway } from '../helpers/gateway.ts';
import { encodeRle } from '../../gateway/src/core/rle.ts';
import { parseDicomPart10, stringValue } from '../../gateway/src/imaging/dicom-dataset.ts';
import { readDicomSeg } from '../../gateway/src/imaging/dicom-seg.ts';
import { makeDicom } from '../unit/imaging/synthetic-dicom.ts';
import { makeTiff } from '../unit/imaging/synthetic-images.ts';

const tmp = mkdtempSync(join(tmpdir(), 'medseg-decoders-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SEGMENT = `query Seg($image: ImageInput!) {
  segment(input: { image: $image, prompts: [{ box: { x0: 0, y0: 0, x1: 3, y1: 3 } }] }) { results { masks { area } } }
}`;
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

function greyTiff(width = 32, height = 32): Buffer {
  return Buffer.from(
    makeTiff({
      width,
      height,
      bits: 8,
      samplesPerPixel: 1,
      photometric: 1,
      samples: Array.from({ length: width * height }, (_, i) => i % 251),
    }),
  );
}

/** A NIfTI-1 header (uint8 voxels at offset 352) declaring `dims`. */
function niftiHeader(dims: [number, number, number]): Buffer {
  const h = Buffer.alloc(352);
  h.writeInt32LE(348, 0);
  [3, ...dims].forEach((d, i) => h.writeInt16LE(d, 40 + 2 * i));
  h.writeInt16LE(2, 70); // uint8
  h.writeInt16LE(8, 72);
  [1, 1, 1, 1].forEach((p, i) => h.writeFloatLE(p, 76 + 4 * i));
  h.writeFloatLE(352, 108);
  h.write('n+1\0', 344, 'latin1');
  return h;
}

describe('malicious files are typed errors, and the gateway keeps serving', () => {
  let gw: RunningGateway;
  before(async () => {
    // Decoding happens before any backend call: a dead backend address keeps the gateway cheap, and a
    // file that decodes is recognisable by the BACKEND_UNAVAILABLE that follows.
    gw = await startTestGateway({ tritonUrl: '127.0.0.1:1', stateDir: join(tmp, 'state') });
  });
  after(async () => gw?.close());

  const alive = async () => assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);

  test('a TIFF whose next-directory offset points at itself', async () => {
    const tiff = greyTiff();
    const entries = tiff.readUInt16LE(8);
    tiff.writeUInt32LE(8, 8 + 2 + entries * 12);
    assert.ok(tiff.length < 4096);
    const r = await gql(gw.url, SEGMENT, { image: { encoded: { base64: b64(tiff) } } });
    assert.equal(errorCode(r), 'BAD_IMAGE', JSON.stringify(r.errors));
    assert.match(r.errors![0].message, /loops/);
    await alive();
  });

  test('a TIFF chain of directories that point at each other, and offsets past the end', async () => {
    const tiff = greyTiff();
    const entries = tiff.readUInt16LE(8);
    // The second directory is a copy of the first whose next offset leads back to the first.
    const second = tiff.length;
    const dir = Buffer.from(tiff.subarray(8, 8 + 2 + entries * 12 + 4));
    dir.writeUInt32LE(8, 2 + entries * 12);
    const looped = Buffer.concat([tiff, dir]);
    looped.writeUInt32LE(second, 8 + 2 + entries * 12);
    const r1 = await gql(gw.url, SEGMENT, { image: { encoded: { base64: b64(looped) } } });
    assert.equal(errorCode(r1), 'BAD_IMAGE');
    const outside = Buffer.from(tiff);
    outside.writeUInt32LE(0x7fffff00, 4);
    const r2 = await gql(gw.url, SEGMENT, { image: { encoded: { base64: b64(outside) } } });
    assert.equal(errorCode(r2), 'BAD_IMAGE');
    assert.match(r2.errors![0].message, /outside/);
    await alive();
  });

  test('a truncated TIFF is BAD_IMAGE, not an image with zero pixels', async () => {
    const whole = greyTiff();
    const ok = await gql(gw.url, SEGMENT, { image: { encoded: { base64: b64(whole) } } });
    assert.equal(errorCode(ok), 'BACKEND_UNAVAILABLE', 'the intact file decodes');
    const cut = whole.subarray(0, whole.length - 500);
    const r = await gql(gw.url, SEGMENT, { image: { encoded: { base64: b64(cut) } } });
    assert.equal(errorCode(r), 'BAD_IMAGE', JSON.stringify(r.errors));
    assert.match(r.errors![0].message, /truncated/);
  });

  test('a NIfTI gzip bomb behind a small header stops at the declared size', async () => {
    const bomb = gzipSync(Buffer.concat([niftiHeader([4, 4, 4]), Buffer.alloc(50_000_000)]));
    assert.ok(bomb.length < 100_000, `${bomb.length} bytes`);
    const r = await gql(gw.url, SEGMENT, { image: { nifti: { base64: b64(bomb), slice: 0 } } });
    assert.equal(errorCode(r), 'BAD_IMAGE', JSON.stringify(r.errors));
    assert.match(r.errors![0].message, /inflates past the 416 bytes its header declares/);
    const declaresTooMuch = gzipSync(niftiHeader([30000, 30000, 1]));
    const big = await gql(gw.url, SEGMENT, { image: { nifti: { base64: b64(declaresTooMuch), slice: 0 } } });
    assert.equal(errorCode(big), 'IMAGE_TOO_LARGE');
    await alive();
  });

  test('a corrupt DICOM gets a readable message', async () => {
    const good = makeDicom({ rows: 4, columns: 4, bitsAllocated: 8, pixelData: new Uint8Array(16) });
    const cut = good.subarray(0, Math.floor(good.length * 0.7));
    const r = await gql(gw.url, SEGMENT, { image: { dicom: { base64: b64(cut) } } });
    assert.equal(errorCode(r), 'BAD_IMAGE');
    assert.doesNotMatch(r.errors![0].message, /object Object/);
    assert.match(r.errors![0].message, /could not be parsed: \S+/);
  });

  test('a DICOM that declares more frames than its pixel data holds', async () => {
    const lying = makeDicom({
      rows: 4,
      columns: 4,
      bitsAllocated: 8,
      frames: 1000,
      pixelData: new Uint8Array(16),
    });
    const r = await gql(gw.url, SEGMENT, { image: { dicom: { base64: b64(lying) } } });
    assert.equal(errorCode(r), 'BAD_IMAGE', JSON.stringify(r.errors));
    assert.match(r.errors![0].message, /1000 frames/);
  });

  test('DICOM SEG texts follow the LO rules: refused when broken, never cut inside or left with a backslash', async () => {
    const source = b64(
      makeDicom({ rows: 16, columns: 16, bitsAllocated: 8, pixelData: new Uint8Array(256) }),
    );
    const mask = { width: 16, height: 16, data: new Uint8Array(256).fill(1) };
    const exportSeg = (seg: Record<string, unknown>) =>
      gql<{ exportDicomSeg: { base64: string } }>(
        gw.url,
        'mutation ($in: DicomSegExportInput!) { exportDicomSeg(input: $in) { base64 } }',
        { in: { source: { dicom: [source] }, masks: [{ sourceIndex: 0, rle: encodeRle(mask) }], seg } },
      );
    const long = await exportSeg({ label: `${'x'.repeat(60)}\\${'y'.repeat(10)}` });
    assert.equal(errorCode(long), 'BAD_REQUEST', JSON.stringify(long.errors));
    assert.match(long.errors![0].message, /label is 71 characters/);
    const slash = await exportSeg({ label: 'Liver', seriesDescription: 'a\\b' });
    assert.equal(errorCode(slash), 'BAD_REQUEST');
    assert.match(slash.errors![0].message, /backslash/);
    // A 64-character label makes a derived Series Description of 68: it is cut to 64 characters.
    const label = `${'x'.repeat(63)}z`;
    const ok = await exportSeg({ label });
    assert.equal(ok.errors, undefined, JSON.stringify(ok.errors));
    const bytes = new Uint8Array(Buffer.from(ok.data!.exportDicomSeg.base64, 'base64'));
    assert.equal(readDicomSeg(bytes).segments[0].label, label);
    const description = stringValue(parseDicomPart10(bytes).dataSet, 'x0008103e') ?? '';
    assert.ok([...description].length <= 64 && !description.includes('\\'), description);
  });

  test('decodes at once are bounded: past MAX_DECODES and DECODE_QUEUE a request is RESOURCE_EXHAUSTED', async () => {
    const tight = await startTestGateway({
      tritonUrl: '127.0.0.1:1',
      stateDir: join(tmp, 'tight'),
      maxDecodes: 1,
      decodeQueue: 0,
    });
    try {
      const image = { encoded: { base64: b64(greyTiff()) } };
      // The test holds the only slot, as a long decode would.
      const release = await tight.services.decodes.acquire();
      const refused = await gql(tight.url, SEGMENT, { image });
      assert.equal(errorCode(refused), 'RESOURCE_EXHAUSTED', JSON.stringify(refused.errors));
      release();
      const served = await gql(tight.url, SEGMENT, { image });
      assert.equal(errorCode(served), 'BACKEND_UNAVAILABLE', 'decoded once the slot was free');
      assert.equal(tight.services.decodes.active, 0, 'a failed request gives its slot back');
    } finally {
      await tight.close();
    }
  });
});
