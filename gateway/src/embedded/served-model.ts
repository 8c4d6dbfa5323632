/**
 * A model version the embedded server can run, and the validation every request gets before it runs:
 * known inputs, datatypes and shapes as the model configuration declares them (full shape `[-1] + dims` when
 * max_batch_size > 0, batch size within 1..max_batch_size), no missing inputs, known outputs.
 * Spec: Triton model configuration (docs/user_guide/model_configuration.md)
 */
import type { ConfigDataType, ModelConfig } from '../protocol/model-config.ts';
import { elementCount } from '../protocol/tensor-codec.ts';
import type { Datatype, ModelMetadata, Tensor, TensorMetadata } from '../protocol/types.ts';
import type { ModelStatsRecorder } from './model-stats.ts';

/** A request the model cannot take (answered with gRPC INVALID_ARGUMENT). */
export class InvalidRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/** One loaded, ready model version. */
export interface ServedModel {
  readonly name: string;
  readonly version: string;
  readonly config: ModelConfig;
  readonly metadata: ModelMetadata;
  readonly stats: ModelStatsRecorder;
  /**
   * Validates and runs one request; resolves to the requested outputs (all outputs when `outputs` is empty)
   * in the order requested.
   * @throws InvalidRequestError for inputs the configuration does not allow
   */
  execute(inputs: Tensor[], outputs: string[]): Promise<Tensor[]>;
  /** Releases runtime resources. */
  close(): Promise<void>;
}

/** Triton config data type -> KServe v2 datatype (TYPE_STRING travels as BYTES). */
export function configToDatatype(t: ConfigDataType): Datatype {
  switch (t) {
    case 'TYPE_BOOL':
      return 'BOOL';
    case 'TYPE_UINT8':
      return 'UINT8';
    case 'TYPE_UINT16':
      return 'UINT16';
    case 'TYPE_UINT32':
      return 'UINT32';
    case 'TYPE_UINT64':
      return 'UINT64';
    case 'TYPE_INT8':
      return 'INT8';
    case 'TYPE_INT16':
      return 'INT16';
    case 'TYPE_INT32':
      return 'INT32';
    case 'TYPE_INT64':
      return 'INT64';
    case 'TYPE_FP16':
      return 'FP16';
    case 'TYPE_FP32':
      return 'FP32';
    case 'TYPE_FP64':
      return 'FP64';
    case 'TYPE_STRING':
      return 'BYTES';
    case 'TYPE_BF16':
      return 'BF16';
    case 'TYPE_INVALID':
      throw new Error('TYPE_INVALID has no KServe datatype');
    default:
      return t satisfies never;
  }
}

/** The shape a client must send for a configured tensor: `[-1, ...dims]` when the model batches. */
export function fullShape(config: ModelConfig, dims: number[]): number[] {
  return config.maxBatchSize > 0 ? [-1, ...dims] : [...dims];
}

/** ModelMetadata derived from a configuration, as Triton derives it. */
export function metadataFromConfig(config: ModelConfig, versions: string[]): ModelMetadata {
  const meta = (t: ModelConfig['input'][number]): TensorMetadata => ({
    name: t.name,
    datatype: configToDatatype(t.dataType),
    shape: fullShape(config, t.dims),
  });
  return {
    name: config.name,
    versions,
    platform: config.platform || (config.backend === 'onnxruntime' ? 'onnxruntime_onnx' : config.backend),
    inputs: config.input.map(meta),
    outputs: config.output.map(meta),
  };
}

const fmt = (s: readonly number[]): string => `[${s.join(',')}]`;

/**
 * Checks a request against the configuration and returns its batch size (1 for non-batching models).
 * @throws InvalidRequestError naming the tensor, what was expected and what arrived
 */
export function validateRequest(config: ModelConfig, inputs: Tensor[], outputs: string[]): number {
  const model = config.name;
  const byName = new Map(config.input.map((i) => [i.name, i]));
  const seen = new Set<string>();
  let batch: number | undefined;
  for (const t of inputs) {
    const c = byName.get(t.name);
    if (!c) {
      throw new InvalidRequestError(
        `unexpected inference input '${t.name}' for model '${model}'; expected one of ${[...byName.keys()].map((n) => `'${n}'`).join(', ')}`,
      );
    }
    if (seen.has(t.name))
      throw new InvalidRequestError(`input '${t.name}' for model '${model}' is given twice`);
    seen.add(t.name);
    const want = configToDatatype(c.dataType);
    if (t.datatype !== want) {
      throw new InvalidRequestError(
        `inference input '${t.name}' for model '${model}': expected datatype ${want}, got ${t.datatype}`,
      );
    }
    const shape = fullShape(config, c.dims);
    const mismatch =
      t.shape.length !== shape.length || t.shape.some((d, i) => shape[i] !== -1 && shape[i] !== d);
    if (mismatch) {
      throw new InvalidRequestError(
        `unexpected shape for input '${t.name}' for model '${model}': expected ${fmt(shape)}, got ${fmt(t.shape)}`,
      );
    }
    if (config.maxBatchSize > 0) {
      const b = t.shape[0];
      if (b < 1 || b > config.maxBatchSize) {
        throw new InvalidRequestError(
          `inference input '${t.name}' for model '${model}': expected a batch size in 1..${config.maxBatchSize}, got ${b}`,
        );
      }
      if (batch !== undefined && b !== batch) {
        throw new InvalidRequestError(
          `inference input '${t.name}' for model '${model}': expected batch size ${batch} like the other inputs, got ${b}`,
        );
      }
      batch = b;
    }
    const n = elementCount(t.shape, t.name);
    if (t.data.length !== n) {
      throw new InvalidRequestError(
        `inference input '${t.name}' for model '${model}': expected ${n} elements for shape ${fmt(t.shape)}, got ${t.data.length}`,
      );
    }
  }
  const missing = config.input.filter((i) => !seen.has(i.name) && !i.optional).map((i) => `'${i.name}'`);
  if (missing.length > 0) {
    throw new InvalidRequestError(`expected input(s) ${missing.join(', ')} for model '${model}', got none`);
  }
  const outNames = new Set(config.output.map((o) => o.name));
  for (const o of outputs) {
    if (!outNames.has(o)) {
      throw new InvalidRequestError(
        `unexpected inference output '${o}' for model '${model}'; expected one of ${[...outNames].map((n) => `'${n}'`).join(', ')}`,
      );
    }
  }
  return batch ?? 1;
}
