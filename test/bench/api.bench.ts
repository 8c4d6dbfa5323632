/**
 * `npm run bench -- api`: (a) the overhead of GraphQL `segment` on a cached embedding against a direct
 * decoder ModelInfer with the same prompt (p50/p99, 1024x1024 output); (b) COCO RLE encode/decode of 1024x1024
 * masks per second; (c) decoder throughput through the whole API at 16 concurrent clients vs 1.
 */
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { decodeRle, encodeRle } from '../../gateway/src/core/rle.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { gql, startTestGateway } from '../helpers/gateway.ts';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(ms: number[]): { p50: number; p99: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: pct(s, 50), p99: pct(s, 99) };
}

const SEGMENT = `query ($input: SegmentInput!) { segment(input: $input) { results { masks { rle { counts } predictedIou area } } } }`;

export async function run(): Promise<void> {
  const gw = await startTestGateway();
  try {
    const size = 1024;
    const phantom = generatePhantom({ seed: 11, width: size, height: size, shapes: ['disc'] });
    const obj = phantom.objects[0].mask;
    let x0 = size,
      y0 = size,
      x1 = 0,
      y1 = 0;
    for (let i = 0; i < obj.data.length; i++) {
      if (!obj.data[i]) continue;
      const x = i % size,
        y = (i - x) / size;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
    }
    const box = { x0, y0, x1, y1 };
    const b64 = Buffer.from(encodePng(phantom.image)).toString('base64');
    const enc = await gql<{ encodeImage: { id: string } }>(
      gw.url,
      `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`,
      { i: { encoded: { base64: b64 } } },
    );
    const id = enc.data!.encodeImage.id;
    const embedding = gw.services.cache.get(id)!.tensors[0].data;
    const model = await gw.services.sam.resolve('sam_reference');
    const s = 1024 / size;
    const direct = (outputs?: string[]) =>
      gw.client.infer({
        modelName: model.decoder,
        inputs: [
          { name: 'image_embeddings', datatype: 'FP32', shape: [1, 256, 64, 64], data: embedding },
          {
            name: 'point_coords',
            datatype: 'FP32',
            shape: [1, 2, 2],
            data: Float32Array.from([x0 * s, y0 * s, x1 * s, y1 * s]),
          },
          { name: 'point_labels', datatype: 'FP32', shape: [1, 2], data: Float32Array.from([2, 3]) },
          { name: 'mask_input', datatype: 'FP32', shape: [1, 1, 256, 256], data: new Float32Array(65536) },
          { name: 'has_mask_input', datatype: 'FP32', shape: [1, 1], data: new Float32Array(1) },
          { name: 'orig_im_size', datatype: 'FP32', shape: [1, 2], data: Float32Array.from([size, size]) },
        ],
        ...(outputs ? { outputs } : {}),
      });
    const viaApi = () => gql(gw.url, SEGMENT, { input: { embeddingId: id, prompts: [{ box }] } });

    const n = 30;
    // The gateway asks the decoder for what it needs (low-res logits and scores) and post-processes the kept
    // candidate itself; the same ModelInfer is the baseline. The all-outputs call is shown for reference.
    const lowOnly = ['iou_predictions', 'low_res_masks'];
    for (let i = 0; i < 3; i++) {
      await direct(lowOnly);
      await viaApi();
    }
    const tDirect: number[] = [];
    const tFull: number[] = [];
    const tApi: number[] = [];
    for (let i = 0; i < n; i++) {
      let t = performance.now();
      await direct(lowOnly);
      tDirect.push(performance.now() - t);
      t = performance.now();
      await direct();
      tFull.push(performance.now() - t);
      t = performance.now();
      await viaApi();
      tApi.push(performance.now() - t);
    }
    const d = summary(tDirect);
    const full = summary(tFull);
    const a = summary(tApi);
    console.log(`(a) segment on a cached embedding, ${size}x${size} output, ${n} runs each, interleaved`);
    console.log(
      `    direct decoder ModelInfer (low-res outputs, as the gateway asks): p50 ${d.p50.toFixed(1)} ms  p99 ${d.p99.toFixed(1)} ms`,
    );
    console.log(
      `    direct decoder ModelInfer (all outputs incl. 4 full-size masks):  p50 ${full.p50.toFixed(1)} ms  p99 ${full.p99.toFixed(1)} ms`,
    );
    console.log(`    GraphQL segment:           p50 ${a.p50.toFixed(1)} ms  p99 ${a.p99.toFixed(1)} ms`);
    console.log(
      `    API overhead: p50 ${(a.p50 - d.p50).toFixed(1)} ms (target <= 2 ms), p99 ${(a.p99 - d.p99).toFixed(1)} ms; ratio p50 ${(a.p50 / d.p50).toFixed(2)}x`,
    );

    const rle = encodeRle(obj);
    const reps = 50;
    let t = performance.now();
    for (let i = 0; i < reps; i++) encodeRle(obj);
    const encPerS = reps / ((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < reps; i++) decodeRle(rle);
    const decPerS = reps / ((performance.now() - t) / 1000);
    console.log(
      `(b) COCO RLE 1024x1024: encode ${encPerS.toFixed(0)} masks/s, decode ${decPerS.toFixed(0)} masks/s`,
    );

    const total = 48;
    const throughput = async (clients: number): Promise<number> => {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < total) {
            next++;
            await viaApi();
          }
        }),
      );
      return total / ((performance.now() - t0) / 1000);
    };
    const s0 = gw.services.sam.stats();
    const one = await throughput(1);
    const s1 = gw.services.sam.stats();
    const sixteen = await throughput(16);
    const s2 = gw.services.sam.stats();
    console.log(`(c) decoder throughput through the API (${total} segment calls):`);
    console.log(
      `    1 client:   ${one.toFixed(1)} req/s (${s1.decoderCalls - s0.decoderCalls} decoder calls)`,
    );
    console.log(
      `    16 clients: ${sixteen.toFixed(1)} req/s (${s2.decoderCalls - s1.decoderCalls} decoder calls); ratio ${(sixteen / one).toFixed(2)}x`,
    );
  } finally {
    await gw.close();
  }
}
