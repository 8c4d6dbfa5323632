/**
 * The KServe v2 conformance suite: every RPC, a round trip of every datatype, tensors over 4 MiB, an
 * ensemble, dynamic batching (concurrent requests run in fewer executions with the same answers) and every
 * error code, run through KServeClient against any server that serves the repository written by
 * `writeConformanceRepository` (test/helpers/test-models.ts): the embedded server, or a real Triton.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { InferenceError, type InferenceErrorCode } from '../../gateway/src/inference/errors.ts';
import { KServeClient } from '../../gateway/src/inference/kserve-client.ts';
import { inferenceService } from '../../gateway/src/protocol/proto.ts';
import { float32ToFp16, toFp16Array } from '../../gateway/src/protocol/tensor-codec.ts';
import type { InferRequest, Tensor, TensorData } from '../../gateway/src/protocol/types.ts';
import { IDENTITY_DATATYPES, LARGE_ELEMENTS, TEST_MODELS, identityModel } from '../helpers/test-models.ts';

/** What a backend under test provides. */
export interface ConformanceTarget {
  address: string;
  cleanup(): Promise<void>;
}

const enc = new TextEncoder();

/**
 * Sample data per datatype with edge values (extremes, NaN/Inf, empty and non-ASCII byte strings). BYTES
 * samples are NUL-free UTF-8: the embedded server hands BYTES to ONNX Runtime as string tensors, which end
 * at the first NUL byte.
 */
export function sampleData(dt: (typeof IDENTITY_DATATYPES)[number]): TensorData {
  switch (dt) {
    case 'BOOL':
      return Uint8Array.from([1, 0, 1, 1, 0]);
    case 'UINT8':
      return Uint8Array.from([0, 1, 127, 128, 255]);
    case 'UINT16':
      return Uint16Array.from([0, 1, 32767, 32768, 65535]);
    case 'UINT32':
      return Uint32Array.from([0, 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]);
    case 'UINT64':
      return BigUint64Array.from([0n, 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]);
    case 'INT8':
      return Int8Array.from([-128, -1, 0, 1, 127]);
    case 'INT16':
      return Int16Array.from([-32768, -1, 0, 1, 32767]);
    case 'INT32':
      return Int32Array.from([-(2 ** 31), -1, 0, 1, 2 ** 31 - 1]);
    case 'INT64':
      return BigInt64Array.from([-(2n ** 63n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]);
    case 'FP16':
      return Uint16Array.from([float32ToFp16(1.5), 0x7c00, 0xfc00, 0x0001, 0x8000]);
    case 'FP32':
      return Float32Array.from([1.5, -0, Infinity, -Infinity, 3.4028234663852886e38]);
    case 'FP64':
      return Float64Array.from([Math.PI, -0, Infinity, -Infinity, Number.MIN_VALUE]);
    case 'BYTES':
      return [
        enc.encode('hello'),
        new Uint8Array(0),
        enc.encode('héllo wörld ✓'),
        enc.encode('tab\tnewline\n'),
        enc.encode('z'),
      ];
    default:
      return dt satisfies never;
  }
}

async function expectCode(
  p: Promise<unknown>,
  code: InferenceErrorCode,
  text?: RegExp,
): Promise<InferenceError> {
  const err = await p.then(
    () => assert.fail(`expected ${code}, the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof InferenceError, `expected an InferenceError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (text) assert.match(err.message, text);
  return err;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function batchRequest(row: number[], scale: number): InferRequest {
  return {
    modelName: TEST_MODELS.batch,
    inputs: [
      { name: 'X', datatype: 'FP32', shape: [1, 4], data: Float32Array.from(row) },
      { name: 'SCALE', datatype: 'FP32', shape: [1, 1], data: Float32Array.from([scale]) },
    ],
  };
}

/** Registers the suite under `name`; `setup` starts (or points at) the server once for the whole suite. */
export function defineConformanceSuite(name: string, setup: () => Promise<ConformanceTarget>): void {
  describe(`KServe v2 conformance: ${name}`, () => {
    let target: ConformanceTarget;
    let client: KServeClient;

    before(async () => {
      target = await setup();
      client = KServeClient.connect(target.address, { deadlineMs: 20_000 });
    });
    after(async () => {
      client?.close();
      await target?.cleanup();
    });

    it('ServerLive, ServerReady and ServerMetadata answer', async () => {
      assert.equal(await client.serverLive(), true);
      // Strict readiness: the repository holds two broken models on purpose.
      assert.equal(await client.serverReady(), false);
      const meta = await client.serverMetadata();
      assert.ok(meta.name.length > 0);
      assert.ok(Array.isArray(meta.extensions));
    });

    it('RepositoryIndex lists ready and unavailable models with reasons', async () => {
      const index = await client.repositoryIndex();
      const byName = new Map(index.map((m) => [m.name, m]));
      assert.equal(byName.get(identityModel('FP32'))?.state, 'READY');
      assert.equal(byName.get(TEST_MODELS.ensemble)?.state, 'READY');
      for (const broken of [TEST_MODELS.mismatch, TEST_MODELS.missingFile]) {
        const row = byName.get(broken);
        assert.ok(row, `${broken} is listed`);
        assert.equal(row.state, 'UNAVAILABLE');
        assert.ok(row.reason.length > 0, `${broken} has a reason`);
      }
    });

    it('ModelReady tells ready, broken and unknown models apart', async () => {
      assert.equal(await client.modelReady(identityModel('FP32')), true);
      assert.equal(await client.modelReady(identityModel('FP32'), '1'), true);
      assert.equal(await client.modelReady(TEST_MODELS.mismatch), false);
    });

    it('ModelMetadata gives full shapes (batch dimension -1 for batching models)', async () => {
      const id = await client.modelMetadata(identityModel('INT64'));
      assert.deepEqual(id.inputs, [{ name: 'INPUT0', datatype: 'INT64', shape: [-1] }]);
      assert.deepEqual(id.outputs, [{ name: 'OUTPUT0', datatype: 'INT64', shape: [-1] }]);
      assert.ok(id.versions.includes('1'));
      const b = await client.modelMetadata(TEST_MODELS.batch);
      assert.deepEqual(
        b.inputs.map((i) => [i.name, i.shape]),
        [
          ['X', [-1, 4]],
          ['SCALE', [-1, 1]],
        ],
      );
      const bytes = await client.modelMetadata(identityModel('BYTES'));
      assert.equal(bytes.inputs[0].datatype, 'BYTES');
    });

    it('ModelConfig decodes into the ModelConfig object', async () => {
      const c = await client.modelConfig(TEST_MODELS.batch);
      assert.equal(c.name, TEST_MODELS.batch);
      assert.equal(c.maxBatchSize, 8);
      assert.deepEqual(c.input[0], { name: 'X', dataType: 'TYPE_FP32', dims: [4] });
      assert.ok(c.dynamicBatching);
      assert.equal(c.parameters['batching.same_value_inputs']?.stringValue, 'SCALE');
      const e = await client.modelConfig(TEST_MODELS.ensemble);
      assert.equal(e.platform, 'ensemble');
      assert.equal(e.ensembleScheduling?.step.length, 2);
      assert.deepEqual(e.ensembleScheduling?.step[0].inputMap, { X: 'IN' });
      assert.deepEqual(e.output, [{ name: 'OUT', dataType: 'TYPE_FP32', dims: [-1] }]);
    });

    for (const dt of IDENTITY_DATATYPES) {
      it(`round-trips ${dt} through its identity model`, async () => {
        const data = sampleData(dt);
        const res = await client.infer({
          modelName: identityModel(dt),
          id: `rt-${dt}`,
          inputs: [{ name: 'INPUT0', datatype: dt, shape: [data.length], data }],
        });
        assert.equal(res.id, `rt-${dt}`);
        assert.equal(res.outputs.length, 1);
        const out = res.outputs[0];
        assert.equal(out.name, 'OUTPUT0');
        assert.equal(out.datatype, dt);
        assert.deepEqual(out.shape, [data.length]);
        if (Array.isArray(data)) {
          assert.deepEqual(
            (out.data as Uint8Array[]).map((b) => Buffer.from(b).toString('hex')),
            data.map((b) => Buffer.from(b).toString('hex')),
          );
        } else {
          assert.equal(out.data.constructor, data.constructor);
          assert.deepEqual(
            Buffer.from(
              new Uint8Array(
                (out.data as Uint8Array).buffer,
                (out.data as Uint8Array).byteOffset,
                (out.data as Uint8Array).byteLength,
              ),
            ),
            Buffer.from(data.buffer, data.byteOffset, data.byteLength),
          );
        }
      });
    }

    it('round-trips NaN in FP32 and FP16 and an empty tensor', async () => {
      const f = await client.infer({
        modelName: identityModel('FP32'),
        inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [2], data: Float32Array.from([NaN, 1]) }],
      });
      assert.ok(Number.isNaN((f.outputs[0].data as Float32Array)[0]));
      const h = await client.infer({
        modelName: identityModel('FP16'),
        inputs: [{ name: 'INPUT0', datatype: 'FP16', shape: [1], data: toFp16Array([NaN]) }],
      });
      assert.equal((h.outputs[0].data as Uint16Array)[0] & 0x7c00, 0x7c00);
      assert.notEqual((h.outputs[0].data as Uint16Array)[0] & 0x3ff, 0);
      const empty = await client.infer({
        modelName: identityModel('FP32'),
        inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [0], data: new Float32Array(0) }],
      });
      assert.deepEqual(empty.outputs[0].shape, [0]);
    });

    it('moves tensors over 4 MiB both ways', async () => {
      const x = new Float32Array(LARGE_ELEMENTS);
      for (let i = 0; i < x.length; i += 1) x[i] = (i % 1000) - 500;
      const res = await client.infer({
        modelName: TEST_MODELS.large,
        inputs: [{ name: 'X', datatype: 'FP32', shape: [LARGE_ELEMENTS], data: x }],
      });
      const y = res.outputs[0].data as Float32Array;
      assert.equal(y.length, LARGE_ELEMENTS);
      assert.ok(y.byteLength > 4 * 1024 * 1024);
      for (const i of [0, 1, 777, LARGE_ELEMENTS - 1]) assert.equal(y[i], 2 * x[i]);
    });

    it('runs the two-step ensemble', async () => {
      const res = await client.infer({
        modelName: TEST_MODELS.ensemble,
        inputs: [{ name: 'IN', datatype: 'FP32', shape: [3], data: Float32Array.from([1, 2, -1]) }],
      });
      assert.equal(res.modelName, TEST_MODELS.ensemble);
      assert.deepEqual(
        res.outputs.map((o) => o.name),
        ['OUT'],
      );
      assert.deepEqual([...(res.outputs[0].data as Float32Array)], [4, 6, 0]);
    });

    it('returns only the requested outputs', async () => {
      const res = await client.infer({ ...batchRequest([1, 2, 3, 4], 2), outputs: ['Y'] });
      assert.deepEqual(
        res.outputs.map((o) => o.name),
        ['Y'],
      );
      assert.deepEqual([...(res.outputs[0].data as Float32Array)], [12, 14, 16, 18]);
    });

    it('batches concurrent requests dynamically with the same answers as unbatched runs', async () => {
      const n = 12;
      const rows = Array.from({ length: n }, (_, i) => [i, i + 1, -i, 0.5 * i]);
      const alone: Tensor[] = [];
      for (const r of rows) alone.push((await client.infer(batchRequest(r, 3))).outputs[0]);
      const before = (await client.modelStatistics(TEST_MODELS.batch))[0];
      const together = await Promise.all(rows.map((r) => client.infer(batchRequest(r, 3))));
      const afterStats = (await client.modelStatistics(TEST_MODELS.batch))[0];
      together.forEach((res, i) => {
        assert.deepEqual(res.outputs[0].shape, [1, 4]);
        assert.deepEqual([...(res.outputs[0].data as Float32Array)], [...(alone[i].data as Float32Array)]);
      });
      const requests = afterStats.inferenceCount - before.inferenceCount;
      const executions = afterStats.executionCount - before.executionCount;
      assert.equal(requests, n);
      assert.ok(executions < n, `expected fewer than ${n} executions, got ${executions}`);
      assert.ok(
        afterStats.batchStats.some((b) => b.batchSize > 1),
        'a batch of more than one ran',
      );
    });

    it('ModelStatistics reports counts per model and for all models', async () => {
      const all = await client.modelStatistics();
      assert.ok(all.some((s) => s.name === TEST_MODELS.ensemble && s.inferenceCount >= 1));
      const one = await client.modelStatistics(identityModel('FP32'));
      assert.equal(one.length, 1);
      assert.ok(one[0].inferenceCount >= 1);
      assert.ok(one[0].executionCount >= 1);
      assert.ok(one[0].inferenceStats.success.count >= 1);
    });

    it('MODEL_NOT_FOUND for an unknown model', async () => {
      await expectCode(client.modelMetadata('no_such_model'), 'MODEL_NOT_FOUND', /no_such_model/);
      await expectCode(client.infer({ modelName: 'no_such_model', inputs: [] }), 'MODEL_NOT_FOUND');
      await expectCode(client.modelConfig('no_such_model'), 'MODEL_NOT_FOUND');
    });

    it('MODEL_NOT_READY for a model that failed to load', async () => {
      await expectCode(
        client.infer({
          modelName: TEST_MODELS.mismatch,
          inputs: [{ name: 'X', datatype: 'INT32', shape: [3], data: new Int32Array(3) }],
        }),
        'MODEL_NOT_READY',
      );
      await expectCode(client.modelMetadata(TEST_MODELS.missingFile), 'MODEL_NOT_READY');
    });

    it('INVALID_INPUT before sending: datatype, shape, names, element count', async () => {
      const fp32 = identityModel('FP32');
      await expectCode(
        client.infer({
          modelName: fp32,
          inputs: [{ name: 'INPUT0', datatype: 'FP64', shape: [1], data: new Float64Array(1) }],
        }),
        'INVALID_INPUT',
        /expected datatype FP32, got FP64/,
      );
      await expectCode(
        client.infer({
          modelName: fp32,
          inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 1], data: new Float32Array(1) }],
        }),
        'INVALID_INPUT',
        /expected shape \[-1\], got \[1,1\]/,
      );
      await expectCode(
        client.infer({
          modelName: fp32,
          inputs: [{ name: 'WRONG', datatype: 'FP32', shape: [1], data: new Float32Array(1) }],
        }),
        'INVALID_INPUT',
        /unexpected input 'WRONG'/,
      );
      await expectCode(client.infer({ modelName: fp32, inputs: [] }), 'INVALID_INPUT', /missing input/);
      await expectCode(
        client.infer({
          modelName: fp32,
          inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [3], data: new Float32Array(2) }],
        }),
        'INVALID_INPUT',
        /expected 3 elements/,
      );
      await expectCode(
        client.infer({
          modelName: TEST_MODELS.batch,
          inputs: [
            { name: 'X', datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) },
            { name: 'SCALE', datatype: 'FP32', shape: [1, 1], data: new Float32Array(1) },
          ],
        }),
        'INVALID_INPUT',
        /expected shape \[-1,4\], got \[1,3\]/,
      );
    });

    it('the server itself answers bad tensors with INVALID_ARGUMENT naming the tensor', async () => {
      const Ctor = inferenceService();
      const raw = new Ctor(target.address, grpc.credentials.createInsecure());
      const call = (req: unknown) =>
        new Promise<grpc.ServiceError>((resolve, reject) => {
          (
            raw as unknown as Record<string, (r: unknown, cb: (e: grpc.ServiceError | null) => void) => void>
          ).ModelInfer(req, (err) => (err ? resolve(err) : reject(new Error('expected an error'))));
        });
      try {
        const base = { modelName: identityModel('FP32'), modelVersion: '', id: '', outputs: [] };
        const short = await call({
          ...base,
          inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [4] }],
          rawInputContents: [Buffer.alloc(12)],
        });
        assert.equal(short.code, grpc.status.INVALID_ARGUMENT);
        assert.match(short.details, /INPUT0/);
        const wrongShape = await call({
          ...base,
          inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [2, 2] }],
          rawInputContents: [Buffer.alloc(16)],
        });
        assert.equal(wrongShape.code, grpc.status.INVALID_ARGUMENT);
        assert.match(wrongShape.details, /INPUT0/);
        const extra = await call({
          ...base,
          inputs: [
            { name: 'INPUT0', datatype: 'FP32', shape: [1] },
            { name: 'EXTRA', datatype: 'FP32', shape: [1] },
          ],
          rawInputContents: [Buffer.alloc(4), Buffer.alloc(4)],
        });
        assert.equal(extra.code, grpc.status.INVALID_ARGUMENT);
        assert.match(extra.details, /EXTRA/);
        const unknown = await call({ ...base, modelName: 'no_such_model', inputs: [], rawInputContents: [] });
        assert.ok(
          [grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.UNAVAILABLE].includes(
            unknown.code,
          ),
        );
        assert.match(unknown.details, /unknown model/i);
      } finally {
        raw.close();
      }
    });

    it('DEADLINE_EXCEEDED when the deadline is shorter than the call', async () => {
      await client.modelMetadata(TEST_MODELS.large);
      await expectCode(
        client.infer(
          {
            modelName: TEST_MODELS.large,
            inputs: [
              {
                name: 'X',
                datatype: 'FP32',
                shape: [LARGE_ELEMENTS],
                data: new Float32Array(LARGE_ELEMENTS),
              },
            ],
          },
          { deadlineMs: 1 },
        ),
        'DEADLINE_EXCEEDED',
      );
    });

    it('RESOURCE_EXHAUSTED when a message exceeds the size limit', async () => {
      const small = KServeClient.connect(target.address, { maxMessageBytes: 1024 * 1024 });
      try {
        await expectCode(
          small.infer({
            modelName: TEST_MODELS.large,
            inputs: [
              {
                name: 'X',
                datatype: 'FP32',
                shape: [LARGE_ELEMENTS],
                data: new Float32Array(LARGE_ELEMENTS),
              },
            ],
          }),
          'RESOURCE_EXHAUSTED',
        );
      } finally {
        small.close();
      }
    });

    it('BACKEND_UNAVAILABLE, not a wait for the deadline, when nothing listens', async () => {
      const port = await closedPort();
      // Waiting out a deadline of minutes would end DEADLINE_EXCEEDED (or the test timeout): the code shows it
      // failed at once, with no clock in the assertion.
      const dead = KServeClient.connect(`127.0.0.1:${port}`, { deadlineMs: 600_000 });
      try {
        await expectCode(dead.serverLive(), 'BACKEND_UNAVAILABLE', new RegExp(`127.0.0.1:${port}`));
      } finally {
        dead.close();
      }
    });
  });
}
