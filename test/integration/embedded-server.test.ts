/**
 * Embedded-server behaviour beyond the shared conformance suite: per-model load failures with reasons,
 * version policies, strict readiness, typed-contents requests, BYTES the ONNX string tensors cannot carry.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { EmbeddedInferenceServer } from '../../gateway/src/embedded/grpc-server.ts';
import { InferenceError } from '../../gateway/src/inference/errors.ts';
import { KServeClient } from '../../gateway/src/inference/kserve-client.ts';
import { inferenceService } from '../../gateway/src/protocol/proto.ts';
import { TEST_MODELS, createTestRepository, identityModel } from '../helpers/test-models.ts';
import { GraphBuilder, OnnxType, serializeModel } from '../../gateway/src/models/onnx-builder.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const addOne = (() => {
  const g = new GraphBuilder('a');
  g.input('X', OnnxType.FLOAT, ['n']);
  g.op1('Add', ['X', g.constF([1], [])], {}, 'Y');
  g.output('Y', OnnxType.FLOAT, ['n']);
  return serializeModel(g, { opset: 17, producerName: 't', producerVersion: '1' });
})();

const cfg = (name: string, extra = '') => `name: "${name}"
platform: "onnxruntime_onnx"
input [ { name: "X" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ -1 ] } ]
${extra}`;

describe('embedded server: repository loading', () => {
  let dir: string;
  let server: EmbeddedInferenceServer;
  let client: KServeClient;
  const lines: string[] = [];

  before(async () => {
    dir = tempDir('medseg-repo-');
    const model = (name: string, config: string, versions: number[] = [1]) => {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'config.pbtxt'), config);
      for (const v of versions) {
        mkdirSync(join(dir, name, String(v)), { recursive: true });
        writeFileSync(join(dir, name, String(v), 'model.onnx'), addOne);
      }
    };
    model('good', cfg('good'), [1, 2, 3]);
    model('all_versions', cfg('all_versions', 'version_policy { all { } }'), [1, 2]);
    model('custom_file', cfg('custom_file', 'default_model_filename: "net.onnx"'));
    writeFileSync(join(dir, 'custom_file', '1', 'net.onnx'), addOne);
    rmSync(join(dir, 'custom_file', '1', 'model.onnx'));
    model(
      'bad_syntax',
      'name: "bad_syntax"\nplatform: "onnxruntime_onnx"\ninput { name: "X" data_type: TYPE_FP32 dims: [ -1 }\n',
    );
    model('renamed', cfg('other_name'));
    model('tensorrt', cfg('tensorrt').replace('onnxruntime_onnx', 'tensorrt_plan'));
    model('no_versions', cfg('no_versions'), []);
    model(
      'ens_missing_step',
      `name: "ens_missing_step" platform: "ensemble"
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
ensemble_scheduling { step [ { model_name: "absent" model_version: -1 input_map { key: "X" value: "IN" } output_map { key: "Y" value: "OUT" } } ] }`,
      [],
    );
    model(
      'ens_unproduced',
      `name: "ens_unproduced" platform: "ensemble"
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
ensemble_scheduling { step [ { model_name: "good" model_version: -1 input_map { key: "X" value: "nowhere" } output_map { key: "Y" value: "OUT" } } ] }`,
      [],
    );
    server = await EmbeddedInferenceServer.start({
      repository: dir,
      logger: (l) => lines.push(l),
      strictReadiness: false,
    });
    client = KServeClient.connect(server.address);
  });
  after(async () => {
    client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports every failing model with its reason and serves the rest', async () => {
    const index = await client.repositoryIndex();
    const reason = (name: string) => index.find((r) => r.name === name)?.reason ?? '';
    assert.match(reason('bad_syntax'), /config\.pbtxt:3:\d+: expected/);
    assert.match(reason('renamed'), /name 'other_name' does not match the model folder 'renamed'/);
    assert.match(reason('tensorrt'), /platform 'tensorrt_plan' is not supported/);
    assert.match(reason('no_versions'), /no numeric version folder/);
    assert.match(reason('ens_missing_step'), /step 0 \('absent'\).*unknown model/);
    assert.match(reason('ens_unproduced'), /'nowhere' are never produced/);
    for (const bad of [
      'bad_syntax',
      'renamed',
      'tensorrt',
      'no_versions',
      'ens_missing_step',
      'ens_unproduced',
    ]) {
      assert.equal(index.find((r) => r.name === bad)?.state, 'UNAVAILABLE', bad);
    }
    assert.ok(lines.some((l) => /model renamed: UNAVAILABLE/.test(l)));
    // strictReadiness false: ready although some models failed.
    assert.equal(await client.serverReady(), true);
  });

  it('applies version policies and default_model_filename', async () => {
    const index = await client.repositoryIndex();
    assert.deepEqual(
      index.filter((r) => r.name === 'good').map((r) => r.version),
      ['3'],
    );
    assert.deepEqual(
      index.filter((r) => r.name === 'all_versions').map((r) => r.version),
      ['1', '2'],
    );
    assert.equal(await client.modelReady('all_versions', '1'), true);
    assert.equal(await client.modelReady('good', '1'), false);
    const res = await client.infer({
      modelName: 'custom_file',
      inputs: [{ name: 'X', datatype: 'FP32', shape: [1], data: Float32Array.from([1]) }],
    });
    assert.deepEqual([...(res.outputs[0].data as Float32Array)], [2]);
    const v1 = await client.infer({
      modelName: 'all_versions',
      modelVersion: '1',
      inputs: [{ name: 'X', datatype: 'FP32', shape: [1], data: Float32Array.from([1]) }],
    });
    assert.equal(v1.modelVersion, '1');
    const err = await client.modelMetadata('good', '9').catch((e: unknown) => e);
    assert.ok(err instanceof InferenceError && err.code === 'MODEL_NOT_FOUND', String(err));
  });
});

describe('embedded server: tensors', () => {
  let repo: ReturnType<typeof createTestRepository>;
  let server: EmbeddedInferenceServer;
  before(async () => {
    repo = createTestRepository();
    server = await EmbeddedInferenceServer.start({ repository: repo.dir });
  });
  after(async () => {
    await server.close();
    repo.cleanup();
  });

  const rawCall = (req: unknown) =>
    new Promise<{ err: grpc.ServiceError | null; res: Record<string, unknown> }>((resolve) => {
      const raw = new (inferenceService())(server.address, grpc.credentials.createInsecure());
      (
        raw as unknown as Record<
          string,
          (r: unknown, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void
        >
      ).ModelInfer(req, (err, res) => {
        raw.close();
        resolve({ err, res: res as Record<string, unknown> });
      });
    });

  it('accepts typed contents instead of raw contents', async () => {
    const { err, res } = await rawCall({
      modelName: TEST_MODELS.addOne,
      inputs: [{ name: 'X', datatype: 'FP32', shape: [2], contents: { fp32Contents: [1, 2] } }],
      rawInputContents: [],
    });
    assert.equal(err, null);
    const out = (res.rawOutputContents as Buffer[])[0];
    assert.deepEqual([out.readFloatLE(0), out.readFloatLE(4)], [2, 3]);
  });

  it('refuses BYTES that an ONNX string tensor would alter (NUL, invalid UTF-8)', async () => {
    const client = KServeClient.connect(server.address);
    try {
      for (const bad of [Uint8Array.from([97, 0, 98]), Uint8Array.from([0xff, 0xfe])]) {
        const err = await client
          .infer({
            modelName: identityModel('BYTES'),
            inputs: [{ name: 'INPUT0', datatype: 'BYTES', shape: [1], data: [bad] }],
          })
          .catch((e: unknown) => e);
        assert.ok(err instanceof InferenceError && err.code === 'INVALID_INPUT', String(err));
        assert.match(err.message, /BYTES element 0 of input 'INPUT0'/);
      }
    } finally {
      client.close();
    }
  });

  it('refuses a raw_input_contents count that does not match the inputs', async () => {
    const { err } = await rawCall({
      modelName: TEST_MODELS.addOne,
      inputs: [{ name: 'X', datatype: 'FP32', shape: [1] }],
      rawInputContents: [Buffer.alloc(4), Buffer.alloc(4)],
    });
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err?.details ?? '', /expected 1 raw_input_contents/);
  });

  it('refuses unknown datatypes and batch sizes over max_batch_size', async () => {
    const a = await rawCall({
      modelName: TEST_MODELS.addOne,
      inputs: [{ name: 'X', datatype: 'FLOAT', shape: [1] }],
      rawInputContents: [Buffer.alloc(4)],
    });
    assert.equal(a.err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(a.err?.details ?? '', /expected a KServe datatype .* got 'FLOAT'/);
    const b = await rawCall({
      modelName: TEST_MODELS.batch,
      inputs: [
        { name: 'X', datatype: 'FP32', shape: [9, 4] },
        { name: 'SCALE', datatype: 'FP32', shape: [9, 1] },
      ],
      rawInputContents: [Buffer.alloc(9 * 16), Buffer.alloc(9 * 4)],
    });
    assert.equal(b.err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(b.err?.details ?? '', /expected a batch size in 1..8, got 9/);
  });

  it('exposes statistics in process', () => {
    assert.ok(server.stats().length > 0);
    assert.equal(server.stats(TEST_MODELS.addOne)[0].name, TEST_MODELS.addOne);
  });
});
