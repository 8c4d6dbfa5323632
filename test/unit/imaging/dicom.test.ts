/** DICOM decoding checked against dcmtk (dcmdump raw pixel bytes, dcm2pnm renderings) and synthetic files. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { decodeImage } from '../../../gateway/src/imaging/decode-image.ts';
import { decodeDicom, readDicomMetadata } from '../../../gateway/src/imaging/dicom.ts';
import { encodeRleFrame } from '../../../gateway/src/imaging/dicom-rle.ts';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';
import { dcm2pnm, dcmconv, dcmdumpPixelBytes } from './dcmtk.ts';
import { le16, makeDicom } from './synthetic-dicom.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const samples = resolve(repoRoot, '../shared/samples');
const ct01 = resolve(samples, 'dicom/ct-3slice-liver-seg/01.dcm');
const ctSmall = resolve(samples, 'dicom/small-ct-mr/CT_small.dcm');
const mrSmall = resolve(samples, 'dicom/small-ct-mr/MR_small.dcm');
const read = (p: string): Uint8Array => new Uint8Array(readFileSync(p));

const isError = (code: string, pattern?: RegExp) => (e: unknown) =>
  e instanceof ImageError && e.code === code && (pattern === undefined || pattern.test(e.message));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

function int16le(bytes: Uint8Array): Int16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Int16Array.from({ length: bytes.length / 2 }, (_, i) => view.getInt16(2 * i, true));
}

test('CT slice (Implicit VR LE): HU equal dcmdump stored values plus the rescale intercept at every pixel', () => {
  const img = decodeDicom(read(ct01));
  const stored = int16le(dcmdumpPixelBytes(ct01));
  assert.ok(img.raster.data instanceof Float32Array);
  assert.equal(img.raster.data.length, 512 * 512);
  for (const i of [0, 1000, 131_328, 200_000, 262_143]) assert.equal(img.raster.data[i], stored[i] - 1024);
  assert.equal(
    maxAbsDiff(
      img.raster.data,
      stored.map((v) => v - 1024),
    ),
    0,
  );
  assert.deepEqual(img.spacing, [0.810547, 0.810547]);
  assert.deepEqual(img.window, { center: 40, width: 400 });
  const m = img.metadata;
  assert.equal(m.transferSyntaxUid, '1.2.840.10008.1.2');
  assert.equal(m.modality, 'CT');
  assert.equal(m.sopInstanceUid, '1.2.392.200103.20080913.113635.2.2009.6.22.21.43.10.23431.1');
  assert.equal(m.seriesInstanceUid, '1.2.392.200103.20080913.113635.1.2009.6.22.21.43.10.23430.1');
  assert.equal(m.studyInstanceUid, '1.2.392.200103.20080913.113635.0.2009.6.22.21.43.10.22941.1');
  assert.equal(m.frameOfReferenceUid, '1.2.392.200103.20080913.113635.3.2009.6.22.21.44.34.23882.1');
  assert.deepEqual([m.rows, m.columns, m.numberOfFrames], [512, 512, 1]);
  assert.deepEqual(m.imagePositionPatient, [-235.199997, -226.800003, -126.690002]);
  assert.deepEqual(m.imageOrientationPatient, [1, 0, 0, 0, 1, 0]);
  assert.equal(m.sliceThickness, 1.25);
  assert.deepEqual([m.rescaleSlope, m.rescaleIntercept], [1, -1024]);
  assert.equal(m.patient, undefined);
  assert.ok(!JSON.stringify(m).includes('JANCT'), 'no patient name in metadata by default');
});

test('patient identifiers only appear when asked for', () => {
  const m = readDicomMetadata(read(ct01), { includePatient: true });
  assert.deepEqual(m.patient, { name: 'JANCT000', id: '99000' });
});

test('windowed display matches dcm2pnm within 1 for the file window and for the lung preset', () => {
  const bytes = read(ct01);
  const fileWindow = decodeDicom(bytes).display;
  assert.ok(maxAbsDiff(fileWindow.data, dcm2pnm(ct01, ['+Wi', '1']).data) <= 1);
  const lung = decodeDicom(bytes, { display: { kind: 'preset', preset: 'ct-lung' } });
  assert.deepEqual(lung.window, { center: -600, width: 1500 });
  assert.ok(maxAbsDiff(lung.display.data, dcm2pnm(ct01, ['+Ww', '-600', '1500']).data) <= 1);
});

test('Explicit VR LE CT and MR samples: stored values match dcmdump, MR window matches dcm2pnm', () => {
  const ct = decodeDicom(read(ctSmall));
  assert.equal(ct.metadata.transferSyntaxUid, '1.2.840.10008.1.2.1');
  assert.equal(
    maxAbsDiff(
      ct.raster.data,
      int16le(dcmdumpPixelBytes(ctSmall)).map((v) => v - 1024),
    ),
    0,
  );
  const brain = decodeDicom(read(ctSmall), {
    display: { kind: 'window', window: { center: 40, width: 80 } },
  });
  assert.ok(maxAbsDiff(brain.display.data, dcm2pnm(ctSmall, ['+Ww', '40', '80']).data) <= 1);
  const mr = decodeDicom(read(mrSmall));
  assert.ok(mr.raster.data instanceof Int16Array, 'no rescale: stored signed values kept as Int16Array');
  assert.equal(maxAbsDiff(mr.raster.data, int16le(dcmdumpPixelBytes(mrSmall))), 0);
  assert.deepEqual(mr.window, { center: 600, width: 1600 });
  assert.ok(maxAbsDiff(mr.display.data, dcm2pnm(mrSmall, ['+Wi', '1']).data) <= 1);
});

test('percentile display clips to the 0.5-99.5 percentiles', () => {
  const mr = decodeDicom(read(mrSmall), { display: { kind: 'percentiles', low: 0.5, high: 99.5 } });
  const sorted = Array.from(mr.raster.data).sort((a, b) => a - b);
  const hi = sorted[Math.floor(0.995 * (sorted.length - 1))];
  let atTop = 0;
  for (let i = 0; i < sorted.length; i++)
    if (mr.raster.data[i] >= hi) atTop += mr.display.data[i] === 255 ? 1 : 0;
  assert.ok(atTop >= 0.004 * sorted.length);
  assert.equal(mr.window, undefined);
});

test('MONOCHROME1, unsigned 12-of-16 bits: high bits masked, display inverted like dcm2pnm', () => {
  const values = Array.from({ length: 6 * 8 }, (_, i) => (i * 85) % 4096);
  values[0] = 0xf123; // garbage above Bits Stored must be ignored
  const file = makeDicom({
    rows: 6,
    columns: 8,
    bitsAllocated: 16,
    bitsStored: 12,
    photometric: 'MONOCHROME1',
    windowCenter: '2048',
    windowWidth: '4096',
    pixelData: le16(values),
  });
  const img = decodeDicom(file);
  assert.ok(img.raster.data instanceof Uint16Array);
  assert.equal(img.raster.data[0], 0x123);
  assert.equal(img.raster.data[5], 425);
  assert.ok(maxAbsDiff(img.display.data, dcm2pnm(file, ['+Wi', '1']).data) <= 1);
  assert.ok(img.display.data[1] > img.display.data[2], 'brighter stored value is darker in MONOCHROME1');
});

test('signed 12-of-16 bits are sign-extended from bit 11, slope/intercept give Float32 values', () => {
  const stored = [-100, 0, 2047, -2048, 5, -1];
  const file = makeDicom({
    rows: 2,
    columns: 3,
    bitsAllocated: 16,
    bitsStored: 12,
    pixelRepresentation: 1,
    rescaleSlope: 0.5,
    rescaleIntercept: 10,
    pixelData: le16(stored.map((v) => v & 0xfff)),
  });
  const img = decodeDicom(file);
  assert.deepEqual(
    Array.from(img.raster.data),
    stored.map((v) => v * 0.5 + 10),
  );
  const plain = decodeDicom(
    makeDicom({
      rows: 2,
      columns: 3,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelRepresentation: 1,
      pixelData: le16(stored.map((v) => v & 0xfff)),
    }),
  );
  assert.deepEqual(Array.from(plain.raster.data), stored);
});

test('8-bit RGB in both planar configurations matches dcm2pnm exactly', () => {
  const w = 5;
  const h = 3;
  const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
  const planar = new Uint8Array(rgb.length);
  for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) planar[c * w * h + p] = rgb[p * 3 + c];
  for (const [config, data] of [
    [0, rgb],
    [1, planar],
  ] as const) {
    const file = makeDicom({
      rows: h,
      columns: w,
      samplesPerPixel: 3,
      photometric: 'RGB',
      bitsAllocated: 8,
      planarConfiguration: config,
      pixelData: data,
    });
    const img = decodeDicom(file);
    assert.equal(img.raster.channels, 3);
    assert.deepEqual(img.raster.data, rgb);
    assert.deepEqual(img.display.data, dcm2pnm(file).data);
  }
});

const frameValues = (f: number): number[] => Array.from({ length: 4 * 5 }, (_, i) => (i - 10) * 50 * (f + 1));

test('multi-frame native and RLE files decode each requested frame like dcm2pnm', () => {
  const frames = [0, 1, 2].map(frameValues);
  const native = makeDicom({
    rows: 4,
    columns: 5,
    frames: 3,
    bitsAllocated: 16,
    pixelRepresentation: 1,
    pixelData: le16(frames.flat()),
  });
  const rle = makeDicom({
    rows: 4,
    columns: 5,
    frames: 3,
    bitsAllocated: 16,
    pixelRepresentation: 1,
    transferSyntaxUid: '1.2.840.10008.1.2.5',
    pixelData: frames.map((f) => encodeRleFrame(le16(f), 1, 16)),
  });
  for (const file of [native, rle]) {
    for (let f = 0; f < 3; f++) {
      const img = decodeDicom(file, {
        frameIndex: f,
        display: { kind: 'window', window: { center: 0, width: 1000 } },
      });
      assert.equal(img.metadata.numberOfFrames, 3);
      assert.deepEqual(Array.from(img.raster.data), frames[f]);
      assert.ok(
        maxAbsDiff(img.display.data, dcm2pnm(file, ['+F', String(f + 1), '+Ww', '0', '1000']).data) <= 1,
      );
    }
    assert.throws(() => decodeDicom(file, { frameIndex: 3 }), isError('BAD_IMAGE', /frame index 3/));
  }
});

test('enhanced multi-frame geometry, rescale and window come from the functional groups', () => {
  const file = makeDicom({
    rows: 2,
    columns: 2,
    frames: 2,
    bitsAllocated: 16,
    pixelData: le16([0, 10, 20, 30, 40, 50, 60, 70]),
    extra: {
      SharedFunctionalGroupsSequence: [
        {
          PixelMeasuresSequence: [{ PixelSpacing: ['0.5', '0.25'], SliceThickness: '3' }],
          PixelValueTransformationSequence: [
            { RescaleSlope: '2', RescaleIntercept: '-100', RescaleType: 'HU' },
          ],
          FrameVOILUTSequence: [{ WindowCenter: '0', WindowWidth: '100' }],
        },
      ],
      PerFrameFunctionalGroupsSequence: [0, 1].map((f) => ({
        PlanePositionSequence: [{ ImagePositionPatient: ['1', '2', String(10 + 5 * f)] }],
        PlaneOrientationSequence: [{ ImageOrientationPatient: ['1', '0', '0', '0', '1', '0'] }],
      })),
    },
  });
  const img = decodeDicom(file, { frameIndex: 1 });
  assert.deepEqual(img.spacing, [0.5, 0.25]);
  assert.equal(img.metadata.sliceThickness, 3);
  assert.deepEqual(img.metadata.imagePositionPatient, [1, 2, 15]);
  assert.deepEqual(img.metadata.imageOrientationPatient, [1, 0, 0, 0, 1, 0]);
  assert.deepEqual(Array.from(img.raster.data), [-20, 0, 20, 40]);
  assert.deepEqual(img.window, { center: 0, width: 100 });
  assert.deepEqual(decodeDicom(file).metadata.imagePositionPatient, [1, 2, 10]);
});

test('RLE 8-bit RGB decodes to the original samples and matches dcm2pnm', () => {
  const rgb = Uint8Array.from({ length: 7 * 3 * 3 }, (_, i) => (i < 30 ? 200 : (i * 11) % 256));
  const file = makeDicom({
    rows: 3,
    columns: 7,
    samplesPerPixel: 3,
    photometric: 'RGB',
    bitsAllocated: 8,
    transferSyntaxUid: '1.2.840.10008.1.2.5',
    pixelData: [encodeRleFrame(rgb, 3, 8)],
  });
  const img = decodeDicom(file);
  assert.deepEqual(img.raster.data, rgb);
  assert.deepEqual(img.display.data, dcm2pnm(file).data);
});

test('JPEG Baseline: grey X-ray and RGB frames decode close to dcm2pnm', () => {
  const xray = read(resolve(samples, 'xray-lungs/images/1.jpg'));
  const grey = makeDicom({
    rows: 512,
    columns: 512,
    bitsAllocated: 8,
    transferSyntaxUid: '1.2.840.10008.1.2.4.50',
    pixelData: [xray],
  });
  const g = decodeDicom(grey);
  assert.equal(g.raster.channels, 1);
  assert.ok(maxAbsDiff(g.raster.data, dcm2pnm(grey, [], true).data) <= 2);

  const w = 16;
  const h = 8;
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([(i * 8) % 256, 255 - ((i * 8) % 256), 128, 255], i * 4);
  const encoded = jpeg.encode({ data: rgba, width: w, height: h }, 95).data;
  const colour = makeDicom({
    rows: h,
    columns: w,
    samplesPerPixel: 3,
    photometric: 'YBR_FULL_422',
    bitsAllocated: 8,
    transferSyntaxUid: '1.2.840.10008.1.2.4.50',
    pixelData: [new Uint8Array(encoded)],
  });
  const c = decodeDicom(colour);
  assert.equal(c.raster.channels, 3);
  assert.ok(maxAbsDiff(c.raster.data, dcm2pnm(colour, [], true).data) <= 3);
});

test('Explicit VR Big Endian and Deflated files written by dcmconv decode to the same values', () => {
  const values = [1, -2, 300, -400, 5, 32767, -32768, 0];
  const source = makeDicom({
    rows: 2,
    columns: 4,
    bitsAllocated: 16,
    pixelRepresentation: 1,
    rescaleIntercept: -10,
    rescaleSlope: 1,
    pixelData: le16(values),
  });
  for (const [option, uid] of [
    ['+tb', '1.2.840.10008.1.2.2'],
    ['+td', '1.2.840.10008.1.2.1.99'],
  ]) {
    const img = decodeDicom(dcmconv(source, option));
    assert.equal(img.metadata.transferSyntaxUid, uid);
    assert.deepEqual(
      Array.from(img.raster.data),
      values.map((v) => v - 10),
    );
  }
});

test('unsupported transfer syntaxes are named by UID and name', () => {
  const cases: [string, RegExp][] = [
    [
      '1.2.840.10008.1.2.4.201',
      /1\.2\.840\.10008\.1\.2\.4\.201 \(High-Throughput JPEG 2000 \(Lossless Only\)\)/,
    ],
    ['1.2.840.10008.1.2.4.51', /JPEG Extended/],
    ['1.2.840.10008.1.2.4.100', /MPEG2/],
    ['1.2.3.4', /unknown transfer syntax/],
  ];
  for (const [uid, message] of cases) {
    const file = makeDicom({
      rows: 2,
      columns: 2,
      bitsAllocated: 8,
      transferSyntaxUid: uid,
      pixelData: [new Uint8Array(8)],
    });
    assert.throws(() => decodeDicom(file), isError('UNSUPPORTED_TRANSFER_SYNTAX', message));
  }
});

test('malformed and oversized DICOM inputs are typed errors', () => {
  assert.throws(() => decodeDicom(new Uint8Array(200)), isError('BAD_IMAGE', /DICM/));
  const good = read(ctSmall);
  assert.throws(() => decodeDicom(good.subarray(0, good.length - 1000)), isError('BAD_IMAGE'));
  assert.throws(() => decodeDicom(good, { maxPixels: 100 }), isError('IMAGE_TOO_LARGE', /128x128/));
  const shortPixels = makeDicom({ rows: 10, columns: 10, bitsAllocated: 16, pixelData: new Uint8Array(20) });
  assert.throws(() => decodeDicom(shortPixels), isError('BAD_IMAGE', /Pixel Data holds 20 bytes/));
  const badRle = makeDicom({
    rows: 4,
    columns: 4,
    bitsAllocated: 8,
    transferSyntaxUid: '1.2.840.10008.1.2.5',
    pixelData: [new Uint8Array(64)],
  });
  assert.throws(() => decodeDicom(badRle), isError('BAD_IMAGE', /RLE header declares 0 segments/));
});

test('decodeImage hands back the windowed display image of a DICOM file', () => {
  const raster = decodeImage(read(ct01), 'application/dicom');
  assert.equal(raster.channels, 1);
  assert.ok(raster.data instanceof Uint8Array);
  assert.deepEqual(raster.spacing, [0.810547, 0.810547]);
  assert.throws(
    () => decodeImage(read(ct01), 'image/png'),
    isError('BAD_IMAGE', /declared media type image\/png but the bytes are DICOM/),
  );
});
