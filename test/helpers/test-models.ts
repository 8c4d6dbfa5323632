/**
 * Small ONNX test models and a Triton model repository around them, built with the project's ONNX builder:
 * one identity model per datatype, a batchable model, a two-step ensemble, a model whose config does not
 * match its ONNX file, one whose model file is missing, and a large-tensor model (> 4 MiB in and out).
 * The same repository serves the embedded server in tests and a real Triton for the conformance suite.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  GraphBuilder,
  OnnxType,
  serializeModel,
  type OnnxElemType,
} from '../../gateway/src/models/onnx-builder.ts';
import { DATATYPES, type Datatype } from '../../gateway/src/protocol/types.ts';
import { tempDir } from './temp-dir.ts';

/** Datatypes that have an identity test model (BF16 has no ONNX Runtime for Node tensor type). */
export const IDENTITY_DATATYPES = DATATYPES.filter((d): d is Exclude<Datatype, 'BF16'> => d !== 'BF16');

const ONNX_OF: Record<Exclude<Datatype, 'BF16'>, { onnx: OnnxElemType; config: string }> = {
  BOOL: { onnx: OnnxType.BOOL, config: 'TYPE_BOOL' },
  UINT8: { onnx: OnnxType.UINT8, config: 'TYPE_UINT8' },
  UINT16: { onnx: OnnxType.UINT16, config: 'TYPE_UINT16' },
  UINT32: { onnx: OnnxType.UINT32, config: 'TYPE_UINT32' },
  UINT64: { onnx: OnnxType.UINT64, config: 'TYPE_UINT64' },
  INT8: { onnx: OnnxType.INT8, config: 'TYPE_INT8' },
  INT16: { onnx: OnnxType.INT16, config: 'TYPE_INT16' },
  INT32: { onnx: OnnxType.INT32, config: 'TYPE_INT32' },
  INT64: { onnx: OnnxType.INT64, config: 'TYPE_INT64' },
  FP16: { onnx: OnnxType.FLOAT16, config: 'TYPE_FP16' },
  FP32: { onnx: OnnxType.FLOAT, config: 'TYPE_FP32' },
  FP64: { onnx: OnnxType.DOUBLE, config: 'TYPE_FP64' },
  BYTES: { onnx: OnnxType.STRING, config: 'TYPE_STRING' },
};

/** Name of the identity model of a datatype. */
export const identityModel = (dt: string): string => `identity_${dt.toLowerCase()}`;

/** Names of the other test models. */
export const TEST_MODELS = {
  batch: 'batch_affine',
  addOne: 'add_one',
  double: 'double_it',
  ensemble: 'ensemble_add_double',
  mismatch: 'broken_mismatch',
  missingFile: 'broken_missing_file',
  large: 'large_tensor',
} as const;

/** Elements of the large-tensor test input: 1.25 Mi FP32 values, 5 MiB (over grpc's 4 MiB default). */
export const LARGE_ELEMENTS = 1_310_720;

const MODEL_OPTIONS = { opset: 17, producerName: 'medseg-gateway tests', producerVersion: '1' };

function write(root: string, name: string, config: string, onnx?: Uint8Array): void {
  mkdirSync(join(root, name, '1'), { recursive: true });
  writeFileSync(join(root, name, 'config.pbtxt'), config);
  if (onnx) writeFileSync(join(root, name, '1', 'model.onnx'), onnx);
}

function identity(dt: (typeof IDENTITY_DATATYPES)[number]): Uint8Array {
  const g = new GraphBuilder(identityModel(dt));
  g.input('INPUT0', ONNX_OF[dt].onnx, ['n']);
  g.op1('Identity', ['INPUT0'], {}, 'OUTPUT0');
  g.output('OUTPUT0', ONNX_OF[dt].onnx, ['n']);
  return serializeModel(g, MODEL_OPTIONS);
}

/**
 * The batchable model: per item, Y = X * SCALE + sum(X), X [batch, 4], SCALE [batch, 1] (FP32). Every output
 * row depends only on its own input row, so batched and unbatched answers are identical.
 */
export function batchAffineOnnx(): Uint8Array {
  const g = new GraphBuilder('batch_affine');
  g.input('X', OnnxType.FLOAT, ['batch', 4]);
  g.input('SCALE', OnnxType.FLOAT, ['batch', 1]);
  const scaled = g.op1('Mul', ['X', 'SCALE']);
  const sum = g.op1('ReduceSum', ['X', g.constI64([1])], { keepdims: 1 });
  g.op1('Add', [scaled, sum], {}, 'Y');
  g.output('Y', OnnxType.FLOAT, ['batch', 4]);
  return serializeModel(g, MODEL_OPTIONS);
}

/** pbtxt of the batchable model; `dynamicBatching` false gives the same model without a batcher. */
export function batchAffineConfig(name: string, dynamicBatching: boolean, delayUs = 2000): string {
  return `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "X" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "SCALE" data_type: TYPE_FP32 dims: [ 1 ] }
]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
${dynamicBatching ? `dynamic_batching { max_queue_delay_microseconds: ${delayUs} }` : ''}
parameters { key: "batching.same_value_inputs" value { string_value: "SCALE" } }
`;
}

function unary(name: string, op: 'Add' | 'Mul', constant: number, dims: Array<number | string>): Uint8Array {
  const g = new GraphBuilder(name);
  g.input('X', OnnxType.FLOAT, dims);
  g.op1(op, ['X', g.constF([constant], [])], {}, 'Y');
  g.output('Y', OnnxType.FLOAT, dims);
  return serializeModel(g, MODEL_OPTIONS);
}

const unaryConfig = (name: string) => `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ -1 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
`;

/**
 * Writes the conformance repository into `dir` (created if needed). A Triton server run with
 * `--model-repository=<dir>` serves the same models; note that Triton also reports the two broken models
 * UNAVAILABLE, which is what the suite expects.
 */
export function writeConformanceRepository(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const dt of IDENTITY_DATATYPES) {
    write(
      dir,
      identityModel(dt),
      `name: "${identityModel(dt)}"
backend: "onnxruntime"
max_batch_size: 0
input [ { name: "INPUT0" data_type: ${ONNX_OF[dt].config} dims: [ -1 ] } ]
output [ { name: "OUTPUT0" data_type: ${ONNX_OF[dt].config} dims: [ -1 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
`,
      identity(dt),
    );
  }
  write(dir, TEST_MODELS.batch, batchAffineConfig(TEST_MODELS.batch, true), batchAffineOnnx());
  write(dir, TEST_MODELS.addOne, unaryConfig(TEST_MODELS.addOne), unary(TEST_MODELS.addOne, 'Add', 1, ['n']));
  write(dir, TEST_MODELS.double, unaryConfig(TEST_MODELS.double), unary(TEST_MODELS.double, 'Mul', 2, ['n']));
  write(
    dir,
    TEST_MODELS.ensemble,
    `name: "${TEST_MODELS.ensemble}"
platform: "ensemble"
max_batch_size: 0
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
ensemble_scheduling {
  step [
    {
      model_name: "${TEST_MODELS.addOne}"
      model_version: -1
      input_map { key: "X" value: "IN" }
      output_map { key: "Y" value: "plus_one" }
    },
    {
      model_name: "${TEST_MODELS.double}"
      model_version: -1
      input_map { key: "X" value: "plus_one" }
      output_map { key: "Y" value: "OUT" }
    }
  ]
}
`,
  );
  // Config says INT32 [3]; the ONNX file takes FP32 [n].
  write(
    dir,
    TEST_MODELS.mismatch,
    `name: "${TEST_MODELS.mismatch}"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_INT32 dims: [ 3 ] } ]
output [ { name: "Y" data_type: TYPE_INT32 dims: [ 3 ] } ]
`,
    unary(TEST_MODELS.mismatch, 'Add', 1, [5]),
  );
  write(dir, TEST_MODELS.missingFile, unaryConfig(TEST_MODELS.missingFile));
  write(
    dir,
    TEST_MODELS.large,
    unaryConfig(TEST_MODELS.large).replace(/dims: \[ -1 \]/g, `dims: [ ${LARGE_ELEMENTS} ]`),
    unary(TEST_MODELS.large, 'Mul', 2, [LARGE_ELEMENTS]),
  );
}

/** A temporary conformance repository; `cleanup()` deletes it. */
export function createTestRepository(): { dir: string; cleanup: () => void } {
  const dir = tempDir('medseg-models-');
  writeConformanceRepository(dir);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
