/** Misuse: truncated and byte-flipped real files must fail with ImageError only (no crash, no hang). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeImage } from '../../../gateway/src/imaging/decode-image.ts';
import { decodeDicom } from '../../../gateway/src/imaging/dicom.ts';
import { readDicomSeg } from '../../../gateway/src/imaging/dicom-seg.ts';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';
import { decodeNifti } from '../../../gateway/src/imaging/nifti.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (p: string): Uint8Array =>
  new Uint8Array(readFileSync(resolve(repoRoot, '../shared/samples', p)));

const cases: [string, (b: Uint8Array) => unknown, string][] = [
  ['DICOM', (b) => decodeDicom(b), 'dicom/small-ct-mr/MR_small.dcm'],
  ['DICOM SEG', (b) => readDicomSeg(b), 'dicom/ct-3slice-liver-seg/liver.dcm'],
  ['NIfTI', (b) => decodeNifti(b), 'nifti/tiny-mri-fixture/anatomical.nii'],
  ['NIfTI gz', (b) => decodeNifti(b), 'nifti/tiny-mri-fixture/anatomical_label.nii.gz'],
  ['PNG', (b) => decodeImage(b), 'ct-multiorgan/images/s0619_32.png'],
  ['JPEG', (b) => decodeImage(b), 'xray-lungs/images/1.jpg'],
];

for (const [name, decode, path] of cases) {
  test(`${name}: 60 truncated or corrupted variants fail only with ImageError`, () => {
    const original = read(path);
    let seed = 20_240_601;
    const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff) / 0x7fffffff;
    for (let k = 0; k < 60; k++) {
      let bytes = Uint8Array.from(original);
      if (k % 3 === 0) bytes = bytes.subarray(0, Math.floor(random() * bytes.length));
      else {
        // every other variant hits the header region, where parsers are most fragile
        const span = k % 3 === 1 ? Math.min(bytes.length, 1200) : bytes.length;
        for (let j = 0; j < 1 + Math.floor(random() * 8); j++)
          bytes[Math.floor(random() * span)] = Math.floor(random() * 256);
      }
      try {
        decode(bytes);
      } catch (err) {
        assert.ok(
          err instanceof ImageError,
          `variant ${k}: ${(err as Error).name}: ${(err as Error).message}`,
        );
      }
    }
  });
}
