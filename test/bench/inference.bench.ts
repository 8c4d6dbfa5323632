/**
 * Inference layer benchmark (`npm run bench -- inference`):
 * (a) one round trip through the embedded KServe v2 server (gRPC on loopback, batch 1) vs. calling
 *     onnxruntime-node directly, same model, same thread count: the server's overhead as a ratio (target
 *     <= 1.10x). Uses triton-models/sam_reference_encoder (`medseg models generate`); skipped if absent.
 * (b) throughput of a decoder-like batchable model at 1, 4 and 16 concurrent callers, with dynamic batching
 *     on vs. off (two configs of the same ONNX file).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { EmbeddedInferenceServer } from '../../gateway/src/embedded/grpc-server.ts';
import { KServeClient } from '../../gateway/src/inference/kserve-client.ts';
import type { InferRequest } from '../../gateway/src/protocol/types.ts';
import { GraphBuilder, OnnxType, serializeModel } from '../../gateway/src/models/onnx-builder.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

async function roundTrip(): Promise<void> {
  const name = 'sam_reference_encoder';
  const src = join(repoRoot, 'triton-models', name);
  const file = join(src, '1', 'model.onnx');
  if (!existsSync(file)) {
    console.log(`(a) skipped: ${file} is missing; run 'medseg models generate' first`);
    return;
  }
  // A repository holding only the encoder, so the server loads nothing else.
  const repo = mkdtempSync(join(tmpdir(), 'medseg-bench-'));
  mkdirSync(join(repo, name, '1'), { recursive: true });
  writeFileSync(join(repo, name, 'config.pbtxt'), readFileSync(join(src, 'config.pbtxt')));
  writeFileSync(join(repo, name, '1', 'model.onnx'), readFileSync(file));
  const server = await EmbeddedInferenceServer.start({ repository: repo, intraOpThreads: 1 });
  const client = KServeClient.connect(server.address);
  const session = await ort.InferenceSession.create(readFileSync(file), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  });
  try {
    const meta = await client.modelMetadata(name);
    const input = meta.inputs[0];
    const shape = input.shape.map((d) => (d === -1 ? 1 : d));
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i += 1) data[i] = ((i * 2654435761) % 1000) / 100 - 5;
    const req: InferRequest = {
      modelName: name,
      inputs: [{ name: input.name, datatype: 'FP32', shape, data }],
    };
    const feeds = { [input.name]: new ort.Tensor('float32', data, shape) };
    const runs = 15;
    for (let i = 0; i < 3; i += 1) {
      await session.run(feeds);
      await client.infer(req);
    }
    const direct: number[] = [];
    const viaServer: number[] = [];
    // Interleaved, so that both see the same machine load.
    for (let i = 0; i < runs; i += 1) {
      let t0 = process.hrtime.bigint();
      await session.run(feeds);
      direct.push(ms(t0));
      t0 = process.hrtime.bigint();
      await client.infer(req);
      viaServer.push(ms(t0));
    }
    const d = median(direct);
    const s = median(viaServer);
    const inMiB = (data.byteLength / 2 ** 20).toFixed(1);
    console.log(`(a) ${name}, batch 1, input ${shape.join('x')} FP32 (${inMiB} MiB), median of ${runs}:`);
    console.log(`    onnxruntime-node direct      ${d.toFixed(2)} ms`);
    console.log(`    embedded server round trip   ${s.toFixed(2)} ms`);
    console.log(`    ratio server/direct          ${(s / d).toFixed(3)}x (target <= 1.10x)`);
    // The overhead is per call and grows with the tensor bytes, not with the model's compute: say what it
    // means for a model that computes for a second (a CPU SAM ViT-B encoder takes longer).
    console.log(
      `    overhead per call            ${(s - d).toFixed(1)} ms for ${inMiB} MiB in; ` +
        `the same overhead on a 1 s model would be ${((1000 + s - d) / 1000).toFixed(3)}x`,
    );
  } finally {
    client.close();
    await session.release();
    await server.close();
    rmSync(repo, { recursive: true, force: true });
  }
}

const WIDTH = 256;

/** Decoder-like: two dense layers with ReLU over [batch, 256]. Deterministic weights. */
function denseModel(): Uint8Array {
  const g = new GraphBuilder('bench_dense');
  const w = (seed: number) => {
    const a = new Float32Array(WIDTH * WIDTH);
    for (let i = 0; i < a.length; i += 1) a[i] = (((i * 7919 + seed * 104729) % 2001) - 1000) / 1e5;
    return g.constF(a, [WIDTH, WIDTH]);
  };
  g.input('X', OnnxType.FLOAT, ['batch', WIDTH]);
  const h = g.op1('Relu', [g.op1('MatMul', ['X', w(1)])]);
  const h2 = g.op1('Relu', [g.op1('MatMul', [h, w(2)])]);
  g.op1('MatMul', [h2, w(3)], {}, 'Y');
  g.output('Y', OnnxType.FLOAT, ['batch', WIDTH]);
  return serializeModel(g, { opset: 17, producerName: 'medseg bench', producerVersion: '1' });
}

function denseConfig(name: string, batching: boolean): string {
  return `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 16
input [ { name: "X" data_type: TYPE_FP32 dims: [ ${WIDTH} ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ ${WIDTH} ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
${batching ? 'dynamic_batching { max_queue_delay_microseconds: 500 }' : ''}
`;
}

async function throughput(): Promise<void> {
  const repo = mkdtempSync(join(tmpdir(), 'medseg-bench-'));
  const onnx = denseModel();
  for (const [name, batching] of [
    ['dense_batched', true],
    ['dense_unbatched', false],
  ] as const) {
    mkdirSync(join(repo, name, '1'), { recursive: true });
    writeFileSync(join(repo, name, 'config.pbtxt'), denseConfig(name, batching));
    writeFileSync(join(repo, name, '1', 'model.onnx'), onnx);
  }
  const server = await EmbeddedInferenceServer.start({ repository: repo, intraOpThreads: 1 });
  const client = KServeClient.connect(server.address);
  const request = (model: string, i: number): InferRequest => ({
    modelName: model,
    inputs: [{ name: 'X', datatype: 'FP32', shape: [1, WIDTH], data: new Float32Array(WIDTH).fill(i % 7) }],
  });
  const total = 600;
  const measure = async (model: string, callers: number) => {
    const before = (await client.modelStatistics(model))[0];
    const t0 = process.hrtime.bigint();
    let next = 0;
    await Promise.all(
      Array.from({ length: callers }, async () => {
        while (next < total) {
          next += 1;
          await client.infer(request(model, next));
        }
      }),
    );
    const elapsed = ms(t0);
    const after = (await client.modelStatistics(model))[0];
    return {
      rps: (total / elapsed) * 1000,
      perExec:
        (after.inferenceCount - before.inferenceCount) /
        Math.max(1, after.executionCount - before.executionCount),
    };
  };
  try {
    for (const m of ['dense_batched', 'dense_unbatched']) await measure(m, 4); // warm up
    console.log(`(b) dense ${WIDTH}x${WIDTH} x3 model, ${total} requests of batch 1 per setting:`);
    for (const callers of [1, 4, 16]) {
      const on = await measure('dense_batched', callers);
      const off = await measure('dense_unbatched', callers);
      console.log(
        `    ${String(callers).padStart(2)} callers: batching on ${on.rps.toFixed(0)} req/s (${on.perExec.toFixed(1)} req/exec), ` +
          `off ${off.rps.toFixed(0)} req/s, ratio on/off ${(on.rps / off.rps).toFixed(2)}x`,
      );
    }
  } finally {
    client.close();
    await server.close();
    rmSync(repo, { recursive: true, force: true });
  }
}

/** Runs both parts. */
export async function run(): Promise<void> {
  await roundTrip();
  await throughput();
}
