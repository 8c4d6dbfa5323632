/**
 * Runs the reference SAM encoder and decoder directly with onnxruntime-node (no gRPC), with the official
 * preprocessing from sam-transform.ts. Shared by the model tests and the reference-quality benchmark.
 */
import * as ort from 'onnxruntime-node';
import type { Raster } from '../../../gateway/src/core/raster.ts';
import { mapPointToModel, preprocessSam } from '../../../gateway/src/core/sam-transform.ts';
import { buildReferenceDecoder } from '../../../gateway/src/models/reference/decoder.ts';
import { buildReferenceEncoder } from '../../../gateway/src/models/reference/encoder.ts';

/** A prompt in original pixel coordinates: points (label 1 positive, 0 negative) and an optional box. */
export interface TestPrompt {
  points?: Array<{ x: number; y: number; label: 0 | 1 }>;
  box?: [number, number, number, number];
}

/** One decoder result for one prompt: 4 candidate masks (0/1, H x W), scores and low-res logits. */
export interface DecodeResult {
  masks: Uint8Array[];
  logits: Float32Array;
  iou: number[];
  lowRes: Float32Array;
  /** Index of the candidate with the highest iou_predictions. */
  best: number;
}

/** The decoder feeds for a batch of prompts (padded with label -1 points to the longest). */
export function decoderFeeds(
  embedding: ort.Tensor,
  prompts: TestPrompt[],
  h: number,
  w: number,
  maskInput?: Float32Array[],
): Record<string, ort.Tensor> {
  const rows = prompts.map((p) => {
    const coords: number[] = [];
    const labels: number[] = [];
    for (const pt of p.points ?? []) {
      coords.push(...mapPointToModel(pt.x, pt.y, h, w));
      labels.push(pt.label);
    }
    if (p.box) {
      coords.push(...mapPointToModel(p.box[0], p.box[1], h, w), ...mapPointToModel(p.box[2], p.box[3], h, w));
      labels.push(2, 3);
    } else {
      coords.push(0, 0);
      labels.push(-1);
    }
    return { coords, labels };
  });
  const n = Math.max(...rows.map((r) => r.labels.length));
  const b = prompts.length;
  const coords = new Float32Array(b * n * 2);
  const labels = new Float32Array(b * n).fill(-1);
  rows.forEach((r, i) => {
    coords.set(r.coords, i * n * 2);
    labels.set(r.labels, i * n);
  });
  const embDims = embedding.dims;
  const embData = embedding.data as Float32Array;
  const embBatch = new Float32Array(b * embData.length);
  for (let i = 0; i < b; i++) embBatch.set(embData, i * embData.length);
  const mask = new Float32Array(b * 65536);
  const has = new Float32Array(b);
  maskInput?.forEach((m, i) => {
    mask.set(m, i * 65536);
    has[i] = 1;
  });
  return {
    image_embeddings: new ort.Tensor('float32', embBatch, [b, ...embDims.slice(1)]),
    point_coords: new ort.Tensor('float32', coords, [b, n, 2]),
    point_labels: new ort.Tensor('float32', labels, [b, n]),
    mask_input: new ort.Tensor('float32', mask, [b, 1, 256, 256]),
    has_mask_input: new ort.Tensor('float32', has, [b, 1]),
    orig_im_size: new ort.Tensor('float32', Float32Array.from(prompts.flatMap(() => [h, w])), [b, 2]),
  };
}

/** Sessions over freshly generated reference models, single-threaded. */
export class ReferenceRunner {
  private constructor(
    readonly encoder: ort.InferenceSession,
    readonly decoder: ort.InferenceSession,
  ) {}

  static async create(): Promise<ReferenceRunner> {
    const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1 };
    return new ReferenceRunner(
      await ort.InferenceSession.create(buildReferenceEncoder(), opts),
      await ort.InferenceSession.create(buildReferenceDecoder(), opts),
    );
  }

  /** The image embedding [1,256,64,64] of a raster (0-255 scale). */
  async embed(image: Raster): Promise<ort.Tensor> {
    const pre = preprocessSam(image);
    const out = await this.encoder.run({ x: new ort.Tensor('float32', pre.data, [1, 3, 1024, 1024]) });
    return out.image_embeddings;
  }

  /** Decodes a batch of prompts on one embedding; one result per prompt. */
  async decode(
    embedding: ort.Tensor,
    prompts: TestPrompt[],
    h: number,
    w: number,
    maskInput?: Float32Array[],
  ): Promise<DecodeResult[]> {
    const out = await this.decoder.run(decoderFeeds(embedding, prompts, h, w, maskInput));
    const masks = out.masks.data as Float32Array;
    const iou = out.iou_predictions.data as Float32Array;
    const low = out.low_res_masks.data as Float32Array;
    return prompts.map((_, i) => {
      const scores = Array.from(iou.subarray(i * 4, i * 4 + 4));
      const logits = masks.slice(i * 4 * h * w, (i + 1) * 4 * h * w);
      const bin = [0, 1, 2, 3].map((c) =>
        Uint8Array.from(logits.subarray(c * h * w, (c + 1) * h * w), (v) => (v > 0 ? 1 : 0)),
      );
      const best = scores.indexOf(Math.max(...scores));
      return { masks: bin, logits, iou: scores, lowRes: low.slice(i * 4 * 65536, (i + 1) * 4 * 65536), best };
    });
  }
}
