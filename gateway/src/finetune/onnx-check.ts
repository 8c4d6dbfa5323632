/**
 * Runs a SAM decoder ONNX file with ONNX Runtime on given inputs and compares its outputs with the trainer's
 * PyTorch outputs (max absolute difference per output). Used before publishing a fine-tuned decoder and by
 * the parity test. ONNX Runtime's native binding loads once per process, and the embedded server may already
 * hold it in a worker thread, so the gateway runs this in a child process (`medseg finetune check-onnx`).
 */
import ort from 'onnxruntime-node';
import type { FileTensor } from './tensor-file.ts';

/** The served decoder's inputs and outputs, by name. */
export const DECODER_INPUTS = [
  'image_embeddings',
  'point_coords',
  'point_labels',
  'mask_input',
  'has_mask_input',
  'orig_im_size',
] as const;
/** The served decoder's outputs, by name. */
export const DECODER_OUTPUTS = ['masks', 'iou_predictions', 'low_res_masks'] as const;

/** Max absolute difference per output (and the shapes) between ONNX Runtime and the expected tensors. */
export interface DecoderComparison {
  maxAbsDiff: Record<string, number>;
  /** Largest magnitude of each expected output (the scale of its logits). */
  maxAbs: Record<string, number>;
  shapes: Record<string, { onnx: number[]; expected: number[] }>;
}

/** Runs the ONNX file on `tensors`' `input.*` entries and compares with its `output.*` entries. */
export async function compareDecoder(
  onnxPath: string,
  tensors: Record<string, FileTensor>,
): Promise<DecoderComparison> {
  const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: 2 });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of DECODER_INPUTS) {
      const t = tensors[`input.${name}`];
      if (!t || t.dtype !== 'F32') throw new Error(`probe lacks FP32 input.${name}`);
      feeds[name] = new ort.Tensor('float32', t.data, t.shape);
    }
    const out = await session.run(feeds);
    const result: DecoderComparison = { maxAbsDiff: {}, maxAbs: {}, shapes: {} };
    for (const name of DECODER_OUTPUTS) {
      const got = out[name];
      const want = tensors[`output.${name}`];
      if (!got || !want) throw new Error(`missing output ${name}`);
      const a = got.data as Float32Array;
      const b = want.data as Float32Array;
      result.shapes[name] = { onnx: [...got.dims], expected: want.shape };
      let max = a.length === b.length ? 0 : Infinity;
      let scale = 0;
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        const d = Math.abs(a[i] - b[i]);
        if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
        scale = Math.max(scale, Math.abs(b[i]));
      }
      result.maxAbsDiff[name] = max;
      result.maxAbs[name] = scale;
    }
    return result;
  } finally {
    await session.release();
  }
}
