import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';
import {
  ImageRequestError,
  readMedicalImage,
  windowChoice,
} from '../../../gateway/src/imaging/medical-image.ts';
import { le16, makeDicom } from './synthetic-dicom.ts';
import { makeNiftiVolume } from './synthetic-images.ts';

const request = (pattern: RegExp) => (e: unknown) =>
  e instanceof ImageRequestError && pattern.test(e.message);

describe('readMedicalImage: one call from file bytes to pixels, spacing and provenance', () => {
  it('reads a NIfTI slice with one min-max mapping over the whole volume', () => {
    const img = readMedicalImage({ format: 'nifti', bytes: makeNiftiVolume(), slice: 1 }, undefined, {
      maxPixels: 1000,
    });
    // Slice z=1 holds 8..15 of a 0..23 volume: min-max over the volume maps them to 85..166, not 0..255.
    assert.deepEqual(
      [...img.raster.data],
      [8, 9, 10, 11, 12, 13, 14, 15].map((x) => Math.round((x * 255) / 23)),
    );
    assert.deepEqual([img.raster.width, img.raster.height, img.raster.channels], [4, 2, 1]);
    assert.deepEqual(img.raster.spacing, [0.25, 0.5]);
    assert.deepEqual(img.provenance, {
      format: 'nifti',
      index: 1,
      count: 3,
      axis: 2,
      window: { kind: 'min-max' },
    });
  });

  it('reads a DICOM frame with the window asked for, or the file window by default', () => {
    const bytes = makeDicom({
      rows: 1,
      columns: 4,
      frames: 2,
      bitsAllocated: 16,
      windowCenter: '100',
      windowWidth: '200',
      pixelSpacing: [0.7, 0.8],
      pixelData: le16([0, 100, 200, 300, 0, 50, 100, 150]),
    });
    const own = readMedicalImage({ format: 'dicom', bytes, frame: 1 }, null, { maxPixels: 100 });
    assert.deepEqual(own.provenance, { format: 'dicom', index: 1, count: 2, window: { kind: 'file' } });
    assert.deepEqual(own.raster.spacing, [0.7, 0.8]);
    const wide = readMedicalImage(
      { format: 'dicom', bytes, frame: 1 },
      { centerWidth: { center: 75, width: 151 } },
      { maxPixels: 100 },
    );
    // DICOM's linear VOI function (PS3.3 C.11.2.1.2.1) with c 75, w 151 on frame 1's 0, 50, 100, 150.
    assert.deepEqual([...wide.raster.data], [1, 86, 171, 255]);
    assert.notDeepEqual([...own.raster.data], [...wide.raster.data]);
  });

  it('refuses what the file cannot satisfy as a request error, and a broken file as an image error', () => {
    const nifti = makeNiftiVolume();
    const limits = { maxPixels: 1000 };
    assert.throws(
      () => readMedicalImage({ format: 'nifti', bytes: nifti, slice: 3 }, null, limits),
      request(/slice 3 is outside 0\.\.2 along axis 2 of a 4x2x3 volume/),
    );
    assert.throws(
      () => readMedicalImage({ format: 'nifti', bytes: nifti, axis: 3, slice: 0 }, null, limits),
      request(/axis must be 0, 1 or 2, got 3/),
    );
    const dicom = makeDicom({ rows: 1, columns: 1, bitsAllocated: 8, pixelData: new Uint8Array([7]) });
    assert.throws(
      () => readMedicalImage({ format: 'dicom', bytes: dicom, frame: 1 }, null, limits),
      request(/frame 1 is outside 0\.\.0 \(0-based\) of a 1-frame DICOM/),
    );
    assert.throws(
      () => readMedicalImage({ format: 'dicom', bytes: dicom }, { minMax: true, fromFile: true }, limits),
      request(/window needs exactly one of/),
    );
    assert.throws(
      () => readMedicalImage({ format: 'dicom', bytes: new Uint8Array(200) }, null, limits),
      (e: unknown) => e instanceof ImageError && !(e instanceof ImageRequestError),
    );
    assert.throws(
      () => readMedicalImage({ format: 'nifti', bytes: nifti, slice: 0 }, null, { maxPixels: 23 }),
      (e: unknown) => e instanceof ImageError && e.code === 'IMAGE_TOO_LARGE',
    );
  });

  it('windowChoice checks every kind of window', () => {
    const fallback = { kind: 'file' } as const;
    assert.deepEqual(windowChoice(undefined, fallback), fallback);
    assert.deepEqual(windowChoice({ preset: 'ct-lung' }, fallback), { kind: 'preset', preset: 'ct-lung' });
    assert.deepEqual(windowChoice({ percentiles: {} }, fallback), {
      kind: 'percentiles',
      low: 0.5,
      high: 99.5,
    });
    assert.deepEqual(windowChoice({ minMax: true, preset: null }, fallback), { kind: 'min-max' });
    assert.throws(
      () => windowChoice({ centerWidth: { center: 0, width: 0.5 } }, fallback),
      request(/width >= 1/),
    );
    assert.throws(
      () => windowChoice({ centerWidth: { center: NaN, width: 10 } }, fallback),
      request(/finite/),
    );
    assert.throws(
      () => windowChoice({ percentiles: { low: 60, high: 40 } }, fallback),
      request(/0 <= low < high/),
    );
    assert.throws(() => windowChoice({ minMax: false }, fallback), request(/may only be true/));
    assert.throws(() => windowChoice({}, fallback), request(/got 0/));
  });
});
