/** Volumes from bytes (imaging/medical-volume.ts): a real CT series sorted along its normal, NIfTI slicing, refusals. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ImageError, ImageRequestError } from '../../../gateway/src/imaging/image-error.ts';
import { readDicomSeriesVolume, readNiftiVolumeSlices } from '../../../gateway/src/imaging/medical-volume.ts';
import { le16, makeDicom } from './synthetic-dicom.ts';
import { makeNiftiVolume } from './synthetic-images.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ctDir = resolve(repoRoot, '../shared/samples/dicom/ct-3slice-liver-seg');
const ct = ['01.dcm', '02.dcm', '03.dcm'].map((f) => new Uint8Array(readFileSync(resolve(ctDir, f))));

describe('readDicomSeriesVolume', () => {
  it('sorts a real CT series along its slice normal whatever the file order, and keeps its SEG references', () => {
    const inOrder = readDicomSeriesVolume(ct, undefined, 1 << 26);
    const shuffled = readDicomSeriesVolume([ct[2], ct[0], ct[1]], undefined, 1 << 26, 'orthanc');
    assert.equal(inOrder.kind, 'dicom');
    assert.deepEqual([inOrder.width, inOrder.height, inOrder.depth], [512, 512, 3]);
    assert.deepEqual(
      shuffled.dicom!.sources.map((s) => s.sopInstanceUid),
      inOrder.dicom!.sources.map((s) => s.sopInstanceUid),
    );
    assert.equal(shuffled.dicom!.pacs, 'orthanc');
    for (let z = 0; z < 3; z++) assert.deepEqual(shuffled.slice(z).data, inOrder.slice(z).data);
    // Slice positions rise along the normal, and the spacing's third value is their distance.
    const z = inOrder.dicom!.sources.map((s) => s.imagePositionPatient![2]);
    assert.ok(z[0] < z[1] && z[1] < z[2], `positions ${z}`);
    assert.ok(Math.abs(inOrder.spacing![2] - (z[2] - z[0]) / 2) < 1e-6);
  });

  it('writes masks back into a label volume in slice order', () => {
    const v = readDicomSeriesVolume(ct, undefined, 1 << 26);
    const mask = { width: 512, height: 512, data: new Uint8Array(512 * 512) };
    mask.data[5 + 512 * 7] = 1;
    const labels = v.labelVolume(new Map([[2, mask]]), 3);
    assert.deepEqual(labels.dims, [512, 512, 3]);
    assert.equal(labels.data[2 * 512 * 512 + 5 + 512 * 7], 3);
    assert.equal(
      labels.data.reduce((a, b) => a + b, 0),
      3,
    );
  });

  it('refuses an empty list, mixed sizes and too many voxels with typed errors', () => {
    assert.throws(() => readDicomSeriesVolume([], undefined, 1 << 26), ImageRequestError);
    const small = makeDicom({ rows: 1, columns: 2, bitsAllocated: 16, pixelData: le16([1, 2]) });
    assert.throws(
      () => readDicomSeriesVolume([ct[0], small], undefined, 1 << 26),
      (e: unknown) =>
        e instanceof ImageRequestError && /instance 1 is 2x1, instance 0 is 512x512/.test(e.message),
    );
    assert.throws(
      () => readDicomSeriesVolume(ct, undefined, 512 * 512 * 2),
      (e: unknown) => e instanceof ImageError && e.code === 'IMAGE_TOO_LARGE',
    );
    assert.throws(
      () => readDicomSeriesVolume([ct[0], new Uint8Array(200)], undefined, 1 << 26),
      (e: unknown) =>
        e instanceof ImageError && e.code === 'BAD_IMAGE' && /^DICOM instance 1: /.test(e.message),
    );
  });
});

describe('readNiftiVolumeSlices', () => {
  it('slices along each axis under one window for the whole volume', () => {
    const v = readNiftiVolumeSlices(makeNiftiVolume(), 2, undefined, 1000);
    assert.deepEqual([v.width, v.height, v.depth], [4, 2, 3]);
    assert.deepEqual(
      [...v.slice(1).data],
      [8, 9, 10, 11, 12, 13, 14, 15].map((x) => Math.round((x * 255) / 23)),
    );
    const sagittal = readNiftiVolumeSlices(makeNiftiVolume(), 0, { minMax: true }, 1000);
    assert.deepEqual([sagittal.width, sagittal.height, sagittal.depth], [2, 3, 4]);
  });

  it("refuses a malformed window as the asker's mistake and too many voxels as IMAGE_TOO_LARGE", () => {
    assert.throws(
      () => readNiftiVolumeSlices(makeNiftiVolume(), 2, { minMax: true, fromFile: true }, 1000),
      ImageRequestError,
    );
    assert.throws(
      () => readNiftiVolumeSlices(makeNiftiVolume(), 2, undefined, 10),
      (e: unknown) => e instanceof ImageError && e.code === 'IMAGE_TOO_LARGE',
    );
  });
});
