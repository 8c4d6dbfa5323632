import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InferenceError } from '../../../gateway/src/inference/errors.ts';
import {
  KServeClient,
  decodeInferResponse,
  fromWireParameters,
  normalizeAddress,
  toWireParameters,
  validateInferInputs,
} from '../../../gateway/src/inference/kserve-client.ts';
import { normalizeModelConfig, toWireModelConfig } from '../../../gateway/src/protocol/model-config-wire.ts';
import type { ModelMetadata } from '../../../gateway/src/protocol/types.ts';

const meta: ModelMetadata = {
  name: 'dec',
  versions: ['1'],
  platform: 'onnxruntime_onnx',
  inputs: [
    { name: 'coords', datatype: 'FP32', shape: [1, -1, 2] },
    { name: 'size', datatype: 'FP32', shape: [2] },
  ],
  outputs: [],
};
const f32 = (n: number) => new Float32Array(n);

describe('KServeClient input validation', () => {
  const ok = [
    { name: 'coords', datatype: 'FP32' as const, shape: [1, 3, 2], data: f32(6) },
    { name: 'size', datatype: 'FP32' as const, shape: [2], data: f32(2) },
  ];
  it('accepts inputs matching the metadata (-1 matches any size)', () => {
    validateInferInputs({ modelName: 'dec', inputs: ok }, meta);
  });
  const cases: Array<[string, Parameters<typeof validateInferInputs>[0]['inputs'], RegExp]> = [
    [
      'wrong datatype',
      [ok[0], { ...ok[1], datatype: 'FP64', data: new Float64Array(2) }],
      /input 'size': expected datatype FP32, got FP64/,
    ],
    [
      'wrong rank',
      [{ ...ok[0], shape: [3, 2] }, ok[1]],
      /input 'coords': expected shape \[1,-1,2\], got \[3,2\]/,
    ],
    ['wrong fixed dim', [{ ...ok[0], shape: [1, 2, 3] }, ok[1]], /expected shape \[1,-1,2\], got \[1,2,3\]/],
    [
      'unknown input',
      [...ok, { name: 'extra', datatype: 'FP32', shape: [1], data: f32(1) }],
      /unexpected input 'extra'/,
    ],
    ['missing input', [ok[0]], /missing input\(s\) 'size'/],
    ['duplicate input', [ok[0], ok[0], ok[1]], /given twice/],
    ['element count', [{ ...ok[0], data: f32(5) }, ok[1]], /expected 6 elements for shape \[1,3,2\], got 5/],
  ];
  for (const [label, inputs, re] of cases) {
    it(`refuses ${label} with INVALID_INPUT`, () => {
      assert.throws(
        () => validateInferInputs({ modelName: 'dec', inputs }, meta),
        (e: unknown) => e instanceof InferenceError && e.code === 'INVALID_INPUT' && re.test(e.message),
      );
    });
  }
});

describe('KServeClient helpers', () => {
  it('normalizes addresses and refuses malformed ones', () => {
    assert.equal(normalizeAddress('grpc://triton:8001/'), 'triton:8001');
    assert.throws(
      () => KServeClient.connect('triton'),
      (e: unknown) => e instanceof InferenceError && e.code === 'INVALID_INPUT',
    );
    KServeClient.connect('127.0.0.1:1').close();
  });

  it('converts parameters both ways', () => {
    const wire = toWireParameters({ a: true, b: 3, c: 'x', d: 0.5, e: 7n });
    assert.deepEqual(wire, {
      a: { boolParam: true },
      b: { int64Param: 3 },
      c: { stringParam: 'x' },
      d: { doubleParam: 0.5 },
      e: { int64Param: 7 },
    });
    assert.deepEqual(
      fromWireParameters({
        a: { parameterChoice: 'boolParam', boolParam: true },
        b: { parameterChoice: 'int64Param', int64Param: 3 },
        c: { parameterChoice: 'stringParam', stringParam: 'x' },
        d: { parameterChoice: 'doubleParam', doubleParam: 0.5 },
        e: { parameterChoice: 'uint64Param', uint64Param: 9 },
      }),
      { a: true, b: 3, c: 'x', d: 0.5, e: 9 },
    );
  });

  it('decodes responses with typed contents instead of raw contents', () => {
    const res = decodeInferResponse({
      modelName: 'm',
      modelVersion: '1',
      id: '',
      outputs: [{ name: 'y', datatype: 'INT32', shape: [2], contents: { intContents: [4, -4] } }],
      rawOutputContents: [],
    });
    assert.deepEqual([...(res.outputs[0].data as Int32Array)], [4, -4]);
  });

  it('normalizes a decoded ModelConfig message and round-trips the object', () => {
    const cfg = normalizeModelConfig({
      name: 'enc',
      platform: 'onnxruntime_onnx',
      backend: '',
      maxBatchSize: 4,
      input: [
        { name: 'image', dataType: 'TYPE_FP32', dims: [3, 1024, 1024], reshape: null, optional: false },
      ],
      output: [{ name: 'emb', dataType: 'TYPE_FP32', dims: [256, 64, 64], reshape: null }],
      schedulingChoice: 'dynamicBatching',
      dynamicBatching: {
        preferredBatchSize: [2, 4],
        maxQueueDelayMicroseconds: 2000,
        preserveOrdering: false,
      },
      ensembleScheduling: null,
      versionPolicy: { policyChoice: 'latest', latest: { numVersions: 1 } },
      instanceGroup: [{ name: '', kind: 'KIND_GPU', count: 1, gpus: [] }],
      defaultModelFilename: '',
      parameters: { 'sam.profile': { stringValue: 'sam' } },
      modelWarmup: [],
      optimization: null,
    });
    assert.deepEqual(cfg, {
      name: 'enc',
      platform: 'onnxruntime_onnx',
      backend: '',
      maxBatchSize: 4,
      input: [{ name: 'image', dataType: 'TYPE_FP32', dims: [3, 1024, 1024] }],
      output: [{ name: 'emb', dataType: 'TYPE_FP32', dims: [256, 64, 64] }],
      instanceGroup: [{ kind: 'KIND_GPU', count: 1 }],
      defaultModelFilename: '',
      parameters: { 'sam.profile': { stringValue: 'sam' } },
      versionPolicy: { latest: { numVersions: 1 } },
      dynamicBatching: { preferredBatchSize: [2, 4], maxQueueDelayMicroseconds: 2000 },
    });
    assert.deepEqual(normalizeModelConfig(toWireModelConfig(cfg)), cfg);
  });
});
