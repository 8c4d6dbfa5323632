/**
 * Compressed DICOM transfer syntaxes: JPEG-LS and JPEG Lossless copies of a real CT slice written by dcmtk
 * (an independent encoder), JPEG 2000 codestreams written by OpenJPEG's encoder, and corrupt codestreams.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeDicom } from '../../../gateway/src/imaging/dicom.ts';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';
import { le16, makeDicom } from './synthetic-dicom.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ct01 = resolve(repoRoot, '../shared/samples/dicom/ct-3slice-liver-seg/01.dcm');
const read = (p: string): Uint8Array => new Uint8Array(readFileSync(p));

const isBadImage = (e: unknown): boolean => e instanceof ImageError && e.code === 'BAD_IMAGE';

/** Runs a dcmtk compressor (dcmcjpls, dcmcjpeg) on a file and returns the compressed file. */
function dcmtk(tool: string, options: string[], input: string | Uint8Array): Uint8Array {
  const dir = tempDir('medseg-codecs-');
  try {
    const source = typeof input === 'string' ? input : join(dir, 'in.dcm');
    if (typeof input !== 'string') writeFileSync(source, input);
    const output = join(dir, 'out.dcm');
    const r = spawnSync(tool, [...options, source, output], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${tool} ${options.join(' ')} failed (${r.status}): ${r.stderr}`);
    return read(output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const reference = decodeDicom(read(ct01));

test('JPEG-LS lossless (dcmcjpls) CT slice decodes to exactly the uncompressed HU', () => {
  const img = decodeDicom(dcmtk('dcmcjpls', ['+el'], ct01));
  assert.equal(img.metadata.transferSyntaxUid, '1.2.840.10008.1.2.4.80');
  assert.equal(maxAbsDiff(img.raster.data, reference.raster.data), 0);
  assert.deepEqual(img.display.data, reference.display.data);
  assert.deepEqual(img.spacing, reference.spacing);
});

test('JPEG-LS near-lossless (NEAR 2 and 5) stays within NEAR of the source samples', () => {
  // dcmcjpls encodes near-lossless only for unsigned samples: a 12-bit unsigned copy of the CT (HU + 1024).
  const hu = reference.raster.data;
  const source = Uint16Array.from(hu, (v) => Math.min(4095, Math.max(0, v + 1024)));
  const plain = makeDicom({
    rows: 512,
    columns: 512,
    bitsAllocated: 16,
    bitsStored: 12,
    rescaleIntercept: -1024,
    pixelData: le16(source),
  });
  for (const near of [2, 5]) {
    const img = decodeDicom(dcmtk('dcmcjpls', ['+en', '+md', String(near)], plain));
    assert.equal(img.metadata.transferSyntaxUid, '1.2.840.10008.1.2.4.81');
    const expected = Float32Array.from(source, (v) => v - 1024);
    const diff = maxAbsDiff(img.raster.data, expected);
    assert.ok(diff <= near, `NEAR ${near}: max deviation ${diff}`);
    assert.ok(diff > 0, `NEAR ${near}: expected a lossy result`);
  }
});

test('JPEG Lossless process 14, selection values 1 (.70) and 6 (.57), decode to exactly the uncompressed HU', () => {
  for (const [option, uid] of [
    ['+e1', '1.2.840.10008.1.2.4.70'],
    ['+el', '1.2.840.10008.1.2.4.57'],
  ] as const) {
    const img = decodeDicom(dcmtk('dcmcjpeg', [option], ct01));
    assert.equal(img.metadata.transferSyntaxUid, uid);
    assert.equal(maxAbsDiff(img.raster.data, reference.raster.data), 0, option);
  }
});

test('8-bit RGB through JPEG-LS (interleaved and one plane per scan) and JPEG Lossless decodes exactly', () => {
  const rgb = new Uint8Array(64 * 48 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 29 + (i >> 6) * 7) & 0xff;
  const plain = makeDicom({
    rows: 48,
    columns: 64,
    bitsAllocated: 8,
    samplesPerPixel: 3,
    photometric: 'RGB',
    pixelData: rgb,
  });
  for (const [tool, options] of [
    ['dcmcjpls', ['+el']],
    ['dcmcjpls', ['+el', '+in']],
    ['dcmcjpeg', ['+e1']],
  ] as const) {
    const img = decodeDicom(dcmtk(tool, [...options], plain));
    assert.equal(img.raster.channels, 3);
    assert.deepEqual(img.raster.data, rgb, `${tool} ${options.join(' ')}`);
  }
});

interface J2kEncoder {
  getDecodedBuffer(info: Record<string, unknown>): Uint8Array;
  setQuality(lossless: boolean, quality: number): void;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete(): void;
}
const openJpegEncoder = (await (
  createRequire(import.meta.url)('@cornerstonejs/codec-openjpeg/wasmjs') as (
    m: Record<string, unknown>,
  ) => Promise<{ J2KEncoder: new () => J2kEncoder }>
)({ printErr: () => {} })) as { J2KEncoder: new () => J2kEncoder };

/** A reversible (lossless) JPEG 2000 codestream of the given samples, written by OpenJPEG's encoder. */
function encodeJ2k(
  samples: Uint8Array,
  width: number,
  height: number,
  bits: 8 | 16,
  components: 1 | 3,
  signed: boolean,
): Uint8Array {
  const encoder = new openJpegEncoder.J2KEncoder();
  try {
    const input = encoder.getDecodedBuffer({
      width,
      height,
      bitsPerSample: bits,
      componentCount: components,
      isSigned: signed,
      isUsingColorTransform: components === 3,
    });
    input.set(samples);
    encoder.setQuality(true, 0);
    encoder.encode();
    return encoder.getEncodedBuffer().slice();
  } finally {
    encoder.delete();
  }
}

// A 128x128 crop of the CT's stored values (signed 16-bit).
const crop = 128;
const cropStored = new Int16Array(crop * crop);
for (let y = 0; y < crop; y++) {
  for (let x = 0; x < crop; x++)
    cropStored[y * crop + x] = reference.raster.data[(200 + y) * 512 + 200 + x] + 1024;
}

test('JPEG 2000 lossless signed 16-bit CT crop decodes to exactly its source', () => {
  const codestream = encodeJ2k(le16(cropStored), crop, crop, 16, 1, true);
  for (const uid of ['1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91']) {
    const img = decodeDicom(
      makeDicom({
        rows: crop,
        columns: crop,
        bitsAllocated: 16,
        pixelRepresentation: 1,
        rescaleIntercept: -1024,
        transferSyntaxUid: uid,
        pixelData: [codestream],
      }),
    );
    assert.equal(
      maxAbsDiff(
        img.raster.data,
        Float32Array.from(cropStored, (v) => v - 1024),
      ),
      0,
    );
  }
});

test('JPEG 2000 8-bit colour with the reversible colour transform (YBR_RCT) decodes to the RGB source', () => {
  const rgb = new Uint8Array(64 * 64 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + (i >> 7) * 11) & 0xff;
  const img = decodeDicom(
    makeDicom({
      rows: 64,
      columns: 64,
      bitsAllocated: 8,
      samplesPerPixel: 3,
      photometric: 'YBR_RCT',
      transferSyntaxUid: '1.2.840.10008.1.2.4.90',
      pixelData: [encodeJ2k(rgb, 64, 64, 8, 3, false)],
    }),
  );
  assert.equal(img.raster.channels, 3);
  assert.deepEqual(img.raster.data, rgb);
});

test('a JPEG 2000 codestream whose size differs from Rows/Columns is BAD_IMAGE', () => {
  const codestream = encodeJ2k(le16(cropStored), crop, crop, 16, 1, true);
  const file = makeDicom({
    rows: 64,
    columns: 64,
    bitsAllocated: 16,
    pixelRepresentation: 1,
    transferSyntaxUid: '1.2.840.10008.1.2.4.90',
    pixelData: [codestream],
  });
  assert.throws(
    () => decodeDicom(file),
    (e: unknown) => isBadImage(e) && /128x128x1/.test((e as Error).message),
  );
});

test('corrupt JPEG-LS, JPEG Lossless and JPEG 2000 data are BAD_IMAGE (or decode), never a crash or hang', () => {
  const cases: [string, string, Uint8Array, 8 | 16, 0 | 1][] = [
    ['JPEG-LS', '1.2.840.10008.1.2.4.80', encapsulated(dcmtk('dcmcjpls', ['+el'], ct01)), 16, 1],
    ['JPEG Lossless', '1.2.840.10008.1.2.4.70', encapsulated(dcmtk('dcmcjpeg', ['+e1'], ct01)), 16, 1],
    ['JPEG 2000', '1.2.840.10008.1.2.4.90', encodeJ2k(le16(cropStored), crop, crop, 16, 1, true), 16, 1],
  ];
  const started = Date.now();
  for (const [name, uid, stream, bits, signed] of cases) {
    const size = name === 'JPEG 2000' ? crop : 512;
    const wrap = (bytes: Uint8Array): Uint8Array =>
      makeDicom({
        rows: size,
        columns: size,
        bitsAllocated: bits,
        pixelRepresentation: signed,
        transferSyntaxUid: uid,
        pixelData: [bytes.length % 2 === 1 ? concat(bytes, new Uint8Array(1)) : bytes],
      });
    const mutants: [string, Uint8Array][] = [
      ['truncated to 40 bytes', stream.slice(0, 40)],
      ['random bytes', Uint8Array.from({ length: 4000 }, (_, i) => (i * 2654435761) >>> 24)],
      ['header only', stream.slice(0, 2)],
    ];
    for (const [what, bytes] of mutants) {
      assert.throws(() => decodeDicom(wrap(bytes)), isBadImage, `${name}: ${what}`);
    }
    for (const at of [20, 100, 400, Math.floor(stream.length / 2)]) {
      const flipped = stream.slice();
      for (let k = 0; k < 16; k++) flipped[at + k] ^= 0x5a;
      try {
        decodeDicom(wrap(flipped));
      } catch (e) {
        assert.ok(isBadImage(e), `${name}: bytes ${at}.. flipped gave ${String(e)}`);
      }
    }
    // The codec still works after the failures above.
    assert.doesNotThrow(() => decodeDicom(wrap(stream)), name);
  }
  // A hang bound, not a speed figure: a decoder looping on corrupt input would never finish.
  assert.ok(Date.now() - started < 120_000, 'corrupt inputs took too long');
});

/** The single frame of an encapsulated file, read back through dcmtk's own file. */
function encapsulated(file: Uint8Array): Uint8Array {
  // Item tags (FFFE,E000) follow the Pixel Data header: the first is the empty Basic Offset Table.
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let items = 0;
  for (let i = file.length - 8; i >= 0; i--) {
    if (view.getUint16(i, true) === 0x7fe0 && view.getUint16(i + 2, true) === 0x0010) {
      let pos = i + 12;
      const parts: Uint8Array[] = [];
      while (view.getUint16(pos, true) === 0xfffe && view.getUint16(pos + 2, true) === 0xe000) {
        const length = view.getUint32(pos + 4, true);
        if (items++ > 0) parts.push(file.subarray(pos + 8, pos + 8 + length));
        pos += 8 + length;
      }
      return concat(...parts);
    }
  }
  throw new Error('no Pixel Data element');
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
