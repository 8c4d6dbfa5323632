/**
 * Decoding in the browser, as SAM's own demo does: the gateway hands over the model's decoder ONNX file once
 * per model and each image's embedding once (fp16, half of fp32's bytes); every prompt then runs the small
 * decoder here with onnxruntime-web (WebAssembly), so a click needs no round trip. The gateway stays the
 * source of truth for encoding, sessions and exports; without WebAssembly, or for a model whose decoder the
 * gateway does not hand out, the segment view decodes on the gateway instead.
 */
import type * as Ort from 'onnxruntime-web/wasm';
import { stabilityScore } from '../../gateway/src/core/everything.ts';
import { encodeRle } from '../../gateway/src/core/rle.ts';
import { mapPointToModel } from '../../gateway/src/core/sam-transform.ts';
import { fromFp16Array } from '../../gateway/src/protocol/tensor-codec.ts';
import { gql } from './api.ts';
import { fromBase64 } from './image-files.ts';
import type { RleJson } from './overlay.ts';

/** The WebAssembly runtime the build copies next to the bundle (web/build.ts). */
const WASM_URL = '/assets/ort-wasm-simd-threaded.wasm';

/** A loaded decoder: its session and the sizes prompts and priors are mapped to. */
export interface BrowserDecoder {
  model: string;
  session: Ort.InferenceSession;
  inputSize: number;
  maskInputSize: number;
  /** Whether has_mask_input and orig_im_size lead with a batch dimension (see the schema). */
  batchDimension: boolean;
}

/** An embedding in browser memory. */
export interface BrowserEmbedding {
  id: string;
  width: number;
  height: number;
  tensor: Ort.Tensor;
}

/** One candidate decoded here: the mask as RLE plus the low-res logits that refine the next prompt. */
export interface LocalCandidate {
  rle: RleJson;
  predictedIou: number;
  stabilityScore: number;
  area: number;
  lowRes: Float32Array;
}

/** Prompts in image pixels. */
export interface LocalPrompts {
  points: Array<{ x: number; y: number; positive: boolean }>;
  box: { x0: number; y0: number; x1: number; y1: number } | null;
}

/** True when this browser can run WebAssembly at all (a policy or flag can remove it). */
export function wasmAvailable(): boolean {
  return typeof WebAssembly === 'object' && typeof WebAssembly.instantiate === 'function';
}

/**
 * onnxruntime-web, evaluated on first use only: its module touches WebAssembly as it loads, and a browser
 * without WebAssembly must still run the rest of the app.
 */
let runtime: Promise<typeof Ort> | undefined;
function ortRuntime(): Promise<typeof Ort> {
  runtime ??= import('onnxruntime-web/wasm').then((ort) => {
    // One thread, no worker: pages are not cross-origin isolated, and the CSP allows no worker scripts.
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = { wasm: WASM_URL };
    return ort;
  });
  return runtime;
}

const decoders = new Map<string, Promise<BrowserDecoder | null>>();

/**
 * The decoder of `model`, loaded once per page: null when the gateway does not hand it out (another
 * profile, a remote repository) or this browser lacks WebAssembly. Rejects when loading fails.
 */
export function loadDecoder(model: string): Promise<BrowserDecoder | null> {
  let p = decoders.get(model);
  if (!p) {
    p = fetchDecoder(model);
    // A failure is not cached: the next image tries again.
    p.catch(() => decoders.delete(model));
    decoders.set(model, p);
  }
  return p;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as BufferSource);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function fetchDecoder(model: string): Promise<BrowserDecoder | null> {
  if (!wasmAvailable()) return null;
  const d = await gql<{
    browserDecoder: null | {
      model: string;
      sha256: string;
      onnx: string;
      inputSize: number;
      maskInputSize: number;
      batchDimension: boolean;
    };
  }>(
    'query Decoder($model: String!) { browserDecoder(model: $model) { model sha256 onnx inputSize maskInputSize batchDimension } }',
    { model },
  );
  const b = d.browserDecoder;
  if (!b) return null;
  const bytes = fromBase64(b.onnx);
  // crypto.subtle exists only in secure contexts (https, localhost); elsewhere the TLS-less transfer is
  // trusted as the page itself is.
  if (crypto.subtle && (await sha256Hex(bytes)) !== b.sha256)
    throw new Error(`the decoder of ${model} arrived damaged (SHA-256 mismatch)`);
  const ort = await ortRuntime();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  if (!session.outputNames.includes('masks') || !session.outputNames.includes('low_res_masks')) return null;
  return {
    model: b.model,
    session,
    inputSize: b.inputSize,
    maskInputSize: b.maskInputSize,
    batchDimension: b.batchDimension,
  };
}

/** Fetches an embedding once (fp16 over the wire, fp32 in memory); null when the gateway lost it. */
export async function loadEmbedding(id: string): Promise<BrowserEmbedding | null> {
  const d = await gql<{
    embeddingTensor: null | { id: string; width: number; height: number; shape: number[]; fp16: string };
  }>('query Tensor($id: ID!) { embeddingTensor(id: $id) { id width height shape fp16 } }', { id });
  const t = d.embeddingTensor;
  if (!t) return null;
  const raw = fromBase64(t.fp16);
  const half = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  const values = fromFp16Array(half);
  const ort = await ortRuntime();
  return { id: t.id, width: t.width, height: t.height, tensor: new ort.Tensor('float32', values, t.shape) };
}

/**
 * One decoder run on the embedding, exactly the inputs the gateway builds (SAM's ONNX export convention):
 * points mapped by the longest side, a box as labels 2 and 3, a padding point without a box, the previous
 * candidate's low-res logits as mask_input. Returns SAM's three multimask candidates, best predicted IoU
 * first, as the gateway's `selection: ALL` does.
 */
export async function decodeLocally(
  dec: BrowserDecoder,
  emb: BrowserEmbedding,
  prompts: LocalPrompts,
  prior: Float32Array | undefined,
): Promise<LocalCandidate[]> {
  const { width: w, height: h } = emb;
  const pts: number[][] = prompts.points.map((p) => [
    ...mapPointToModel(p.x, p.y, h, w, dec.inputSize),
    p.positive ? 1 : 0,
  ]);
  if (prompts.box) {
    const b = prompts.box;
    pts.push([...mapPointToModel(b.x0, b.y0, h, w, dec.inputSize), 2]);
    pts.push([...mapPointToModel(b.x1, b.y1, h, w, dec.inputSize), 3]);
  } else pts.push([0, 0, -1]);
  const ort = await ortRuntime();
  const n = pts.length;
  const m = dec.maskInputSize;
  const feeds: Record<string, Ort.Tensor> = {
    image_embeddings: emb.tensor,
    point_coords: new ort.Tensor('float32', Float32Array.from(pts.flatMap((p) => [p[0], p[1]])), [1, n, 2]),
    point_labels: new ort.Tensor('float32', Float32Array.from(pts.map((p) => p[2])), [1, n]),
    mask_input: new ort.Tensor('float32', prior ?? new Float32Array(m * m), [1, 1, m, m]),
    has_mask_input: new ort.Tensor(
      'float32',
      Float32Array.of(prior ? 1 : 0),
      dec.batchDimension ? [1, 1] : [1],
    ),
    orig_im_size: new ort.Tensor('float32', Float32Array.of(h, w), dec.batchDimension ? [1, 2] : [2]),
  };
  const out = await dec.session.run(feeds);
  const masks = out.masks.data as Float32Array;
  const iou = out.iou_predictions.data as Float32Array;
  const low = out.low_res_masks.data as Float32Array;
  const count = iou.length;
  const plane = w * h;
  const lowPlane = m * m;
  // SAM's multimask outputs are 1-3 of four; a single-output decoder gives its one.
  const indices = count === 4 ? [1, 2, 3] : [...Array(count).keys()];
  const candidates = indices.map((index) => {
    const logits = masks.subarray(index * plane, (index + 1) * plane);
    const data = new Uint8Array(plane);
    let area = 0;
    for (let i = 0; i < plane; i++) {
      if (logits[i] > 0) {
        data[i] = 1;
        area++;
      }
    }
    const rle = encodeRle({ width: w, height: h, data });
    return {
      rle: { size: [rle.size[0], rle.size[1]], counts: rle.counts },
      predictedIou: iou[index],
      stabilityScore: stabilityScore(logits, 0, 1),
      area,
      lowRes: Float32Array.from(low.subarray(index * lowPlane, (index + 1) * lowPlane)),
    };
  });
  for (const t of Object.values(out)) t.dispose();
  return candidates.sort((a, b) => b.predictedIou - a.predictedIou);
}
