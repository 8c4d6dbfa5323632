/** NIfTI decoding on the shared samples and synthetic headers, slicing on all three axes, malformed inputs. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';
import type { NiftiVolume } from '../../../gateway/src/imaging/nifti.ts';
import { axisCodes, decodeNifti, sliceVolume } from '../../../gateway/src/imaging/nifti.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const nii = resolve(repoRoot, '../shared/samples/nifti');
const read = (p: string): Uint8Array => new Uint8Array(readFileSync(resolve(nii, p)));

const isError = (code: string, pattern?: RegExp) => (e: unknown) =>
  e instanceof ImageError && e.code === code && (pattern === undefined || pattern.test(e.message));

/** A NIfTI-1 single file: 348-byte header, 4 bytes of extension flags, voxels at offset 352. */
function makeNifti(o: {
  dims: number[];
  datatype: number;
  bitpix: number;
  voxels: Uint8Array;
  little?: boolean;
  slope?: number;
  inter?: number;
  pixdim?: number[];
  magic?: string;
  voxOffset?: number;
}): Uint8Array {
  const little = o.little ?? true;
  const out = new Uint8Array(352 + o.voxels.length);
  const v = new DataView(out.buffer);
  v.setInt32(0, 348, little);
  o.dims.forEach((d, i) => v.setInt16(40 + 2 * i, d, little)); // dim[0] is the rank
  v.setInt16(70, o.datatype, little);
  v.setInt16(72, o.bitpix, little);
  const pixdim = o.pixdim ?? [1, 1, 1, 1];
  pixdim.forEach((p, i) => v.setFloat32(76 + 4 * i, p, little));
  v.setFloat32(108, o.voxOffset ?? 352, little);
  v.setFloat32(112, o.slope ?? 0, little);
  v.setFloat32(116, o.inter ?? 0, little);
  const magic = o.magic ?? 'n+1\0';
  for (let i = 0; i < 4; i++) out[344 + i] = magic.charCodeAt(i);
  out.set(o.voxels, 352);
  return out;
}

function bytesOf(values: number[], kind: 'i16' | 'u16' | 'f64' | 'u8' | 'i32', little = true): Uint8Array {
  const size = { i16: 2, u16: 2, f64: 8, u8: 1, i32: 4 }[kind];
  const out = new Uint8Array(values.length * size);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    if (kind === 'i16') v.setInt16(2 * i, x, little);
    else if (kind === 'u16') v.setUint16(2 * i, x, little);
    else if (kind === 'f64') v.setFloat64(8 * i, x, little);
    else if (kind === 'i32') v.setInt32(4 * i, x, little);
    else v.setUint8(i, x);
  });
  return out;
}

const countNonZero = (data: ArrayLike<number>): number => {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) n++;
  return n;
};

function sliceCounts(vol: NiftiVolume, axis: 0 | 1 | 2): number[] {
  return Array.from({ length: vol.dims[axis] }, (_, k) =>
    countNonZero(sliceVolume(vol, axis, k).raster.data),
  );
}

test('tiny fixture: big-endian int16 image and gzipped uint16 label with 330 voxels on one slice', () => {
  const image = decodeNifti(read('tiny-mri-fixture/anatomical.nii'));
  assert.deepEqual(image.dims, [33, 41, 25]);
  assert.deepEqual(image.spacing, [2, 2, 2]);
  assert.equal(image.datatype, 'int16');
  assert.equal(image.littleEndian, false);
  assert.ok(image.data instanceof Int16Array);
  // an independent big-endian read of voxel (x=16, y=20, z=12) straight from the file bytes
  const raw = Buffer.from(read('tiny-mri-fixture/anatomical.nii'));
  const offset = raw.readFloatBE(108);
  const at = 16 + 33 * (20 + 41 * 12);
  assert.equal(image.data[at], raw.readInt16BE(offset + 2 * at));

  const label = decodeNifti(read('tiny-mri-fixture/anatomical_label.nii.gz'));
  assert.equal(label.datatype, 'uint16');
  assert.deepEqual(label.dims, image.dims);
  assert.equal(countNonZero(label.data), 330);
  for (const axis of [0, 1, 2] as const) {
    const counts = sliceCounts(label, axis);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      330,
      `axis ${axis} slices add up to the volume`,
    );
  }
  const labelled = [0, 1, 2].map((a) => sliceCounts(label, a as 0 | 1 | 2).filter((c) => c > 0).length);
  assert.ok(labelled.includes(1), `one axis has all 330 voxels on a single slice (${labelled})`);
  assert.equal(Math.max(...sliceCounts(label, labelled.indexOf(1) as 0 | 1 | 2)), 330);
  // The image carries an sform and the label only a qform (quaternion with qfac -1): both must agree.
  assert.equal(image.orientationSource, 'sform');
  assert.equal(label.orientationSource, 'qform');
  assert.deepEqual(label.affine, image.affine);
  assert.deepEqual(image.affine, [
    [-2, 0, 0, 32],
    [0, 2, 0, -40],
    [0, 0, 2, -16],
    [0, 0, 0, 1],
  ]);
  assert.equal(label.axisCodes, 'LAS');
});

test('BraTS FLAIR and its labels: 240x240x155 float32, labels {0..4}, slices on every axis', () => {
  const flair = decodeNifti(read('brats2015-flair/brats_2013_pat0006_1/Flair_subtrMeanDivStd.nii.gz'));
  const labels = decodeNifti(read('brats2015-flair/brats_2013_pat0006_1/OTMultiClass.nii.gz'));
  for (const v of [flair, labels]) {
    assert.deepEqual(v.dims, [240, 240, 155]);
    assert.deepEqual(v.spacing, [1, 1, 1]);
    assert.equal(v.datatype, 'float32');
  }
  assert.deepEqual([...new Set(labels.data)].sort(), [0, 1, 2, 3, 4]);
  assert.equal(labels.axisCodes, 'LPS');
  const total = countNonZero(labels.data);
  for (const axis of [0, 1, 2] as const) {
    assert.equal(
      sliceCounts(labels, axis).reduce((a, b) => a + b, 0),
      total,
    );
  }
  const axial = sliceVolume(flair, 2, 77);
  assert.deepEqual([axial.raster.width, axial.raster.height], [240, 240]);
  const sagittal = sliceVolume(flair, 0, 120);
  assert.deepEqual([sagittal.raster.width, sagittal.raster.height, ...sagittal.spacing], [240, 155, 1, 1]);
  assert.equal(sagittal.raster.data[5 + 240 * 70], flair.data[120 + 240 * (5 + 240 * 70)]);
  const coronal = sliceVolume(flair, 1, 100);
  assert.deepEqual([coronal.raster.width, coronal.raster.height], [240, 155]);
  assert.equal(coronal.raster.data[7 + 240 * 60], flair.data[7 + 240 * (100 + 240 * 60)]);
});

test('datatypes, endianness, scl_slope/scl_inter (slope 0 = none) and slice spacing on synthetic files', () => {
  const values = [-3, -1, 0, 1, 2, 300, -300, 7, 8, 9, 10, 11];
  const be = decodeNifti(
    makeNifti({
      dims: [3, 3, 2, 2],
      datatype: 4,
      bitpix: 16,
      voxels: bytesOf(values, 'i16', false),
      little: false,
      slope: 2,
      inter: -1,
      pixdim: [1, 0.5, 0.75, 3],
    }),
  );
  assert.ok(be.data instanceof Float32Array);
  assert.deepEqual(
    Array.from(be.data),
    values.map((x) => 2 * x - 1),
  );
  assert.deepEqual([be.sclSlope, be.sclInter], [2, -1]);
  assert.deepEqual(sliceVolume(be, 2, 1).spacing, [0.75, 0.5]);
  assert.deepEqual(sliceVolume(be, 1, 0).spacing, [3, 0.5]);
  assert.deepEqual(sliceVolume(be, 0, 2).spacing, [3, 0.75]);
  assert.deepEqual(Array.from(sliceVolume(be, 0, 2).raster.data), [-1, 599, 15, 21]);

  const none = decodeNifti(
    makeNifti({
      dims: [3, 2, 2, 1],
      datatype: 512,
      bitpix: 16,
      voxels: bytesOf([1, 2, 3, 65535], 'u16'),
      slope: 0,
      inter: 5,
    }),
  );
  assert.ok(none.data instanceof Uint16Array);
  assert.deepEqual(Array.from(none.data), [1, 2, 3, 65535]);
  const f64 = decodeNifti(
    makeNifti({ dims: [3, 2, 1, 1], datatype: 64, bitpix: 64, voxels: bytesOf([0.25, -1e10], 'f64') }),
  );
  assert.deepEqual(Array.from(f64.data), [0.25, -1e10]);
  assert.ok(sliceVolume(f64, 2, 0).raster.data instanceof Float32Array);
  const i32 = decodeNifti(
    makeNifti({ dims: [3, 2, 1, 1], datatype: 8, bitpix: 32, voxels: bytesOf([-70000, 70000], 'i32') }),
  );
  assert.deepEqual(Array.from(i32.data), [-70000, 70000]);
  const u8 = decodeNifti(
    gzipSync(makeNifti({ dims: [2, 2, 2], datatype: 2, bitpix: 8, voxels: bytesOf([9, 8, 7, 6], 'u8') })),
  );
  assert.deepEqual(Array.from(u8.data), [9, 8, 7, 6]);
  assert.equal(u8.orientationSource, 'pixdim');
  assert.equal(u8.axisCodes, 'RAS');
  const fourD = makeNifti({
    dims: [4, 2, 1, 1, 2],
    datatype: 2,
    bitpix: 8,
    voxels: bytesOf([1, 2, 3, 4], 'u8'),
  });
  assert.deepEqual(Array.from(decodeNifti(fourD, { volumeIndex: 1 }).data), [3, 4]);
  assert.equal(decodeNifti(fourD).volumes, 2);
});

test('axis codes follow the dominant direction of each affine column', () => {
  assert.equal(
    axisCodes([
      [-1, 0, 0, 0],
      [0, -1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ]),
    'LPS',
  );
  assert.equal(
    axisCodes([
      [0, 0, 2, 0],
      [1.9, 0.1, 0, 0],
      [0, -3, 0, 0],
      [0, 0, 0, 1],
    ]),
    'AIR',
  );
});

test('malformed NIfTI inputs are typed errors, never crashes or giant allocations', () => {
  const good = makeNifti({ dims: [3, 4, 4, 4], datatype: 2, bitpix: 8, voxels: new Uint8Array(64) });
  assert.throws(() => decodeNifti(good.subarray(0, 200)), isError('BAD_IMAGE', /magic/));
  assert.throws(
    () => decodeNifti(good.subarray(0, 380)),
    isError('BAD_IMAGE', /voxel data needs bytes 352\.\.416/),
  );
  assert.throws(
    () =>
      decodeNifti(
        makeNifti({ dims: [3, 4, 4, 4], datatype: 2, bitpix: 8, voxels: new Uint8Array(64), magic: 'xyz\0' }),
      ),
    isError('BAD_IMAGE', /magic/),
  );
  assert.throws(
    () =>
      decodeNifti(
        makeNifti({ dims: [3, 30000, 30000, 30000], datatype: 16, bitpix: 32, voxels: new Uint8Array(8) }),
      ),
    isError('IMAGE_TOO_LARGE', /30000x30000x30000/),
  );
  assert.throws(
    () => decodeNifti(makeNifti({ dims: [3, 4, -4, 4], datatype: 2, bitpix: 8, voxels: new Uint8Array(64) })),
    isError('BAD_IMAGE'),
  );
  assert.throws(
    () =>
      decodeNifti(
        makeNifti({
          dims: [3, 4, 4, 4],
          datatype: 2,
          bitpix: 8,
          voxels: new Uint8Array(64),
          voxOffset: 100000,
        }),
      ),
    isError('BAD_IMAGE', /vox_offset 100000/),
  );
  assert.throws(
    () =>
      decodeNifti(makeNifti({ dims: [3, 4, 4, 4], datatype: 32, bitpix: 64, voxels: new Uint8Array(64) })),
    isError('UNSUPPORTED_FORMAT', /datatype 32/),
  );
  assert.throws(
    () => decodeNifti(makeNifti({ dims: [3, 4, 4, 4], datatype: 4, bitpix: 8, voxels: new Uint8Array(64) })),
    isError('BAD_IMAGE', /bitpix 8 contradicts datatype int16/),
  );
  const gz = gzipSync(good);
  assert.throws(() => decodeNifti(gz.subarray(0, gz.length - 10)), isError('BAD_IMAGE', /gzip/));
  assert.throws(
    () => decodeNifti(gzipSync(new Uint8Array(4_000_000)), { maxVoxels: 1000 }),
    isError('BAD_IMAGE', /magic/),
  );
  // A gzip bomb behind a small, valid header: inflation stops at the size the header declares.
  const small = makeNifti({ dims: [3, 4, 4, 4], datatype: 2, bitpix: 8, voxels: new Uint8Array(64) });
  const bomb = gzipSync(Buffer.concat([small, new Uint8Array(50_000_000)]));
  assert.ok(bomb.length < 100_000);
  assert.throws(
    () => decodeNifti(bomb),
    isError('BAD_IMAGE', /inflates past the \d+ bytes its header declares/),
  );
  // A header that declares more voxels than allowed is refused before the big inflate.
  const huge = makeNifti({ dims: [3, 4, 4, 4], datatype: 2, bitpix: 8, voxels: new Uint8Array(64) });
  new DataView(huge.buffer, huge.byteOffset).setInt16(42, 2000, true);
  assert.throws(() => decodeNifti(gzipSync(huge), { maxVoxels: 1000 }), isError('IMAGE_TOO_LARGE', /NIfTI/));
  const vol = decodeNifti(good);
  assert.throws(() => sliceVolume(vol, 2, 4), isError('BAD_IMAGE', /outside 0..3/));
});
