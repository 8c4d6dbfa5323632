/**
 * `npm run bench -- imaging`: decode times of a 512x512 CT slice (DICOM, Implicit VR LE, int16 -> HU and
 * windowed display), the 240x240x155 BraTS FLAIR NIfTI (.nii.gz, float32), a 512x512 PNG, and PNG encoding.
 * Medians of repeated runs, measured side by side in one process.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { decodeImage } from '../../gateway/src/imaging/decode-image.ts';
import { decodeDicom } from '../../gateway/src/imaging/dicom.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { decodeNifti, sliceVolume } from '../../gateway/src/imaging/nifti.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const samples = resolve(repoRoot, '../shared/samples');

function median(runs: number, fn: () => unknown): number {
  fn(); // warm-up: JIT and lazy module work out of the timings
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

/** Prints the figures. */
export async function run(): Promise<void> {
  const ct = new Uint8Array(readFileSync(resolve(samples, 'dicom/ct-3slice-liver-seg/01.dcm')));
  const flair = new Uint8Array(
    readFileSync(resolve(samples, 'nifti/brats2015-flair/brats_2013_pat0006_1/Flair_subtrMeanDivStd.nii.gz')),
  );
  const png = new Uint8Array(readFileSync(resolve(samples, 'ct-multiorgan/images/amos_0004_75.png')));

  const dicomMs = median(30, () => decodeDicom(ct));
  const dicomLungMs = median(30, () => decodeDicom(ct, { display: { kind: 'preset', preset: 'ct-lung' } }));
  const dicomPctMs = median(15, () =>
    decodeDicom(ct, { display: { kind: 'percentiles', low: 0.5, high: 99.5 } }),
  );
  const gunzipMs = median(5, () => gunzipSync(flair));
  const niftiMs = median(5, () => decodeNifti(flair));
  const volume = decodeNifti(flair);
  const sliceMs = median(30, () => sliceVolume(volume, 2, 77));
  const sagittalMs = median(30, () => sliceVolume(volume, 0, 120));
  const pngMs = median(20, () => decodeImage(png));
  const decoded = decodeImage(png);
  const encodeMs = median(20, () => encodePng(decoded));

  console.log(`DICOM CT 512x512 int16 -> HU + file window (W400/L40): median ${fmt(dicomMs)} (30 runs)`);
  console.log(`DICOM CT 512x512 with lung preset:                  median ${fmt(dicomLungMs)}`);
  console.log(
    `DICOM CT 512x512 with 0.5-99.5 percentiles:         median ${fmt(dicomPctMs)} (${(dicomPctMs / dicomMs).toFixed(2)}x the window)`,
  );
  console.log(
    `NIfTI 240x240x155 float32 .nii.gz (${(flair.length / 1e6).toFixed(1)} MB): median ${fmt(niftiMs)} (5 runs), of which gunzip ${fmt(gunzipMs)} (${((100 * gunzipMs) / niftiMs).toFixed(0)}%)`,
  );
  console.log(`NIfTI slice 240x240: axial ${fmt(sliceMs)}, sagittal 240x155 ${fmt(sagittalMs)}`);
  console.log(
    `PNG ${decoded.width}x${decoded.height} RGB decode: median ${fmt(pngMs)}; encode: median ${fmt(encodeMs)}`,
  );
}
