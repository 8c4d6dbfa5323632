/** decodeImage on PNG, JPEG and TIFF: pixel layouts, sniffing, media-type checks, limits and broken files. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage } from '../../../gateway/src/imaging/decode-image.ts';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';
import { sniffImageFormat } from '../../../gateway/src/imaging/image-format.ts';
import { hugePngHeader, makePng, makeTiff } from './synthetic-images.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const samples = resolve(repoRoot, '../shared/samples');
const read = (p: string): Uint8Array => new Uint8Array(readFileSync(resolve(samples, p)));

const isError = (code: string, pattern?: RegExp) => (e: unknown) =>
  e instanceof ImageError && e.code === code && (pattern === undefined || pattern.test(e.message));

test('PNG grey 8-bit and 16-bit keep their samples (16-bit as Uint16Array)', () => {
  const g8 = decodeImage(
    makePng({ width: 3, height: 2, colorType: 0, bitDepth: 8, samples: [0, 10, 20, 255, 128, 1] }),
  );
  assert.deepEqual([g8.width, g8.height, g8.channels], [3, 2, 1]);
  assert.deepEqual(g8.data, Uint8Array.from([0, 10, 20, 255, 128, 1]));
  const values = [0, 1, 4095, 65535, 30000, 257];
  const g16 = decodeImage(
    makePng({ width: 2, height: 3, colorType: 0, bitDepth: 16, samples: values }),
    'image/png',
  );
  assert.ok(g16.data instanceof Uint16Array);
  assert.deepEqual(Array.from(g16.data), values);
});

test('PNG grey+alpha, RGB, RGBA, 16-bit RGB and palette: alpha dropped, palette expanded', () => {
  const ga = decodeImage(
    makePng({ width: 2, height: 1, colorType: 4, bitDepth: 8, samples: [7, 0, 9, 255] }),
  );
  assert.deepEqual([ga.channels, ...ga.data], [1, 7, 9]);
  const rgb = decodeImage(
    makePng({ width: 2, height: 1, colorType: 2, bitDepth: 8, samples: [1, 2, 3, 4, 5, 6] }),
  );
  assert.deepEqual([rgb.channels, ...rgb.data], [3, 1, 2, 3, 4, 5, 6]);
  const rgba = decodeImage(
    makePng({ width: 2, height: 1, colorType: 6, bitDepth: 8, samples: [1, 2, 3, 0, 4, 5, 6, 100] }),
  );
  assert.deepEqual([rgba.channels, ...rgba.data], [3, 1, 2, 3, 4, 5, 6]);
  const rgb16 = decodeImage(
    makePng({ width: 1, height: 1, colorType: 2, bitDepth: 16, samples: [1000, 20000, 65535] }),
  );
  assert.ok(rgb16.data instanceof Uint16Array);
  assert.deepEqual(Array.from(rgb16.data), [1000, 20000, 65535]);
  const pal = decodeImage(
    makePng({
      width: 3,
      height: 1,
      colorType: 3,
      bitDepth: 8,
      samples: [2, 0, 1],
      palette: [
        [10, 20, 30],
        [40, 50, 60],
        [70, 80, 90],
      ],
    }),
  );
  assert.deepEqual([pal.channels, ...pal.data], [3, 70, 80, 90, 10, 20, 30, 40, 50, 60]);
});

test('real PNG and JPEG samples decode with the expected layout, matching pngjs for the PNG', () => {
  const ct = decodeImage(read('ct-multiorgan/images/amos_0004_75.png'));
  const reference = PNG.sync.read(Buffer.from(read('ct-multiorgan/images/amos_0004_75.png')));
  assert.deepEqual([ct.width, ct.height, ct.channels], [reference.width, reference.height, 3]);
  for (const i of [0, 777, 12345, ct.width * ct.height - 1]) {
    assert.deepEqual(
      Array.from(ct.data.subarray(i * 3, i * 3 + 3)),
      Array.from(reference.data.subarray(i * 4, i * 4 + 3)),
    );
  }
  const xray = decodeImage(read('xray-lungs/images/1.jpg'), 'image/jpeg');
  assert.deepEqual([xray.width, xray.height, xray.channels], [512, 512, 1]);
  const rgbJpeg = decodeImage(
    new Uint8Array(jpeg.encode({ data: new Uint8Array(8 * 8 * 4).fill(200), width: 8, height: 8 }, 90).data),
  );
  assert.equal(rgbJpeg.channels, 3);
  assert.ok(Array.from(rgbJpeg.data).every((v) => Math.abs(v - 200) <= 2));
});

test('TIFF: 8/16-bit grey in both byte orders, int16, float32, WhiteIsZero, RGB and RGBA', () => {
  const grey8 = decodeImage(
    makeTiff({ width: 2, height: 2, bits: 8, samplesPerPixel: 1, photometric: 1, samples: [1, 2, 3, 4] }),
    'image/tiff',
  );
  assert.deepEqual([grey8.channels, ...grey8.data], [1, 1, 2, 3, 4]);
  for (const littleEndian of [true, false]) {
    const g16 = decodeImage(
      makeTiff({
        width: 3,
        height: 1,
        bits: 16,
        samplesPerPixel: 1,
        photometric: 1,
        samples: [1, 300, 65535],
        littleEndian,
      }),
    );
    assert.ok(g16.data instanceof Uint16Array);
    assert.deepEqual(Array.from(g16.data), [1, 300, 65535]);
  }
  const s16 = decodeImage(
    makeTiff({
      width: 2,
      height: 1,
      bits: 16,
      samplesPerPixel: 1,
      photometric: 1,
      sampleFormat: 2,
      samples: [-1000, 2000],
    }),
  );
  assert.ok(s16.data instanceof Int16Array);
  assert.deepEqual(Array.from(s16.data), [-1000, 2000]);
  for (const littleEndian of [true, false]) {
    const f32 = decodeImage(
      makeTiff({
        width: 2,
        height: 1,
        bits: 32,
        samplesPerPixel: 1,
        photometric: 1,
        sampleFormat: 3,
        samples: [0.5, -2.25],
        littleEndian,
      }),
    );
    assert.deepEqual(Array.from(f32.data), [0.5, -2.25]);
  }
  const white = decodeImage(
    makeTiff({ width: 2, height: 1, bits: 8, samplesPerPixel: 1, photometric: 0, samples: [0, 200] }),
  );
  assert.deepEqual(Array.from(white.data), [255, 55]);
  const rgb = decodeImage(
    makeTiff({
      width: 1,
      height: 2,
      bits: 8,
      samplesPerPixel: 3,
      photometric: 2,
      samples: [1, 2, 3, 4, 5, 6],
    }),
  );
  assert.deepEqual([rgb.channels, ...rgb.data], [3, 1, 2, 3, 4, 5, 6]);
  const rgba = decodeImage(
    makeTiff({
      width: 2,
      height: 1,
      bits: 8,
      samplesPerPixel: 4,
      photometric: 2,
      samples: [1, 2, 3, 9, 4, 5, 6, 9],
    }),
  );
  assert.deepEqual([rgba.channels, ...rgba.data], [3, 1, 2, 3, 4, 5, 6]);
});

test('formats are sniffed from magic bytes and must agree with a declared media type', () => {
  const png = makePng({ width: 1, height: 1, colorType: 0, bitDepth: 8, samples: [1] });
  assert.equal(sniffImageFormat(png), 'png');
  assert.equal(sniffImageFormat(read('xray-lungs/images/1.jpg')), 'jpeg');
  assert.equal(
    sniffImageFormat(read('dicom/small-ct-mr/CT_small.dcm')),
    'dicom',
    'the TIFF-like preamble does not fool it',
  );
  assert.equal(sniffImageFormat(read('nifti/tiny-mri-fixture/anatomical.nii')), 'nifti');
  assert.deepEqual(decodeImage(png, 'image/png; charset=binary').data, Uint8Array.of(1));
  assert.deepEqual(decodeImage(png, 'application/octet-stream').data, Uint8Array.of(1));
  assert.throws(
    () => decodeImage(png, 'image/jpeg'),
    isError('BAD_IMAGE', /declared media type image\/jpeg but the bytes are PNG/),
  );
  assert.throws(() => decodeImage(png, 'image/gif'), isError('UNSUPPORTED_FORMAT', /image\/gif/));
  assert.throws(
    () => decodeImage(Uint8Array.from([0x47, 0x49, 0x46, 0x38, 0x39, 0x61])),
    isError('BAD_IMAGE', /starting 47 49 46 38/),
  );
  assert.throws(() => decodeImage(new Uint8Array(0)), isError('BAD_IMAGE', /<empty>/));
  assert.throws(
    () => decodeImage(read('nifti/tiny-mri-fixture/anatomical.nii')),
    isError('UNSUPPORTED_FORMAT', /decodeNifti/),
  );
});

test('pixel limits are enforced from the header before any pixel is decoded', () => {
  assert.throws(
    () => decodeImage(hugePngHeader(100_000, 100_000)),
    isError('IMAGE_TOO_LARGE', /100000x100000/),
  );
  // A JPEG whose frame header claims 60000x60000 but holds no scan at all.
  const sof = Uint8Array.from([
    0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0xea, 0x60, 0xea, 0x60, 0x01, 0x01, 0x11, 0x00, 0xff, 0xd9,
  ]);
  assert.throws(() => decodeImage(sof), isError('IMAGE_TOO_LARGE', /60000x60000/));
  const tiff = makeTiff({
    width: 4,
    height: 4,
    bits: 8,
    samplesPerPixel: 1,
    photometric: 1,
    samples: new Array(16).fill(0),
  });
  assert.throws(() => decodeImage(tiff, undefined, { maxPixels: 15 }), isError('IMAGE_TOO_LARGE', /4x4/));
  assert.equal(decodeImage(tiff, undefined, { maxPixels: 16 }).width, 4);
  const xray = read('xray-lungs/images/1.jpg');
  assert.throws(() => decodeImage(xray, undefined, { maxPixels: 512 * 511 }), isError('IMAGE_TOO_LARGE'));
});

test('truncated, corrupt and unsupported images are typed errors', () => {
  const png = makePng({ width: 4, height: 4, colorType: 0, bitDepth: 8, samples: new Array(16).fill(3) });
  assert.throws(() => decodeImage(png.subarray(0, 20)), isError('BAD_IMAGE', /truncated/));
  assert.throws(() => decodeImage(png.subarray(0, png.length - 20)), isError('BAD_IMAGE'));
  const corrupt = Uint8Array.from(png);
  corrupt[40] ^= 0xff;
  assert.throws(() => decodeImage(corrupt), isError('BAD_IMAGE'));
  const xray = read('xray-lungs/images/1.jpg');
  assert.throws(() => decodeImage(xray.subarray(0, 100)), isError('BAD_IMAGE'));
  const lossless = Uint8Array.from([
    0xff, 0xd8, 0xff, 0xc3, 0x00, 0x0b, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00,
  ]);
  assert.throws(() => decodeImage(lossless), isError('UNSUPPORTED_FORMAT', /SOF3/));
  const planar = makeTiff({ width: 1, height: 1, bits: 8, samplesPerPixel: 1, photometric: 2, samples: [1] });
  assert.throws(() => decodeImage(planar), isError('BAD_IMAGE', /1 samples per pixel/));
  assert.throws(
    () => decodeImage(Uint8Array.from([0x49, 0x49, 0x2a, 0x00, 0xff, 0xff, 0xff, 0x0f])),
    isError('BAD_IMAGE'),
  );
});
