/**
 * The KServe v2 inference contract as TypeScript types, shared by the gRPC client, the embedded server and
 * everything above them. Field names are the camelCase forms of the proto fields in `proto/`.
 * Spec: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
 */
import type { ModelConfig } from './model-config.ts';

/** KServe v2 datatype strings. */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
  'BF16',
] as const;

/** One KServe v2 datatype string. */
export type Datatype = (typeof DATATYPES)[number];

/**
 * Element storage per datatype: FP32 → Float32Array, FP64 → Float64Array, INT8/16/32 → Int8/16/32Array,
 * INT64 → BigInt64Array, UINT8 and BOOL → Uint8Array (BOOL: one byte 0/1), UINT16 → Uint16Array,
 * UINT32 → Uint32Array, UINT64 → BigUint64Array, FP16 and BF16 → Uint16Array of raw bit patterns,
 * BYTES → an array of byte strings.
 */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Uint8Array[];

/** A named tensor: flat row-major data plus its shape. */
export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

/** Metadata of one input or output tensor (ModelMetadataResponse.TensorMetadata); -1 is a variable dim. */
export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  shape: number[];
}

/** ModelMetadataResponse. */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** ServerMetadataResponse. */
export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** A scalar request or tensor parameter (InferParameter). */
export type InferParameterValue = boolean | number | string | bigint;

/** An inference request (ModelInferRequest) with decoded tensors. */
export interface InferRequest {
  modelName: string;
  /** Empty or absent: the server's default (latest) version. */
  modelVersion?: string;
  id?: string;
  inputs: Tensor[];
  /** Names of the outputs wanted; absent or empty: all outputs. */
  outputs?: string[];
  parameters?: Record<string, InferParameterValue>;
}

/** An inference response (ModelInferResponse) with decoded tensors. */
export interface InferResponse {
  modelName: string;
  modelVersion: string;
  id: string;
  outputs: Tensor[];
  parameters?: Record<string, InferParameterValue>;
}

/** One row of RepositoryIndexResponse. */
export interface RepositoryModel {
  name: string;
  version: string;
  /** UNAVAILABLE, LOADING, READY or UNLOADING. */
  state: string;
  /** Why a model is not ready (empty when ready). */
  reason: string;
}

/** Count and total nanoseconds (StatisticDuration). */
export interface StatisticDuration {
  count: number;
  ns: number;
}

/** ModelStatistics, the counters tests and benchmarks use to see batching at work. */
export interface ModelStatistics {
  name: string;
  version: string;
  lastInference: number;
  /** Requests answered. */
  inferenceCount: number;
  /** Model executions: a dynamic batch of several requests counts once. */
  executionCount: number;
  inferenceStats: {
    success: StatisticDuration;
    fail: StatisticDuration;
    queue: StatisticDuration;
    computeInput: StatisticDuration;
    computeInfer: StatisticDuration;
    computeOutput: StatisticDuration;
  };
  batchStats: Array<{ batchSize: number; computeInfer: StatisticDuration }>;
}

/** The KServe v2 calls a SAM session makes on a backend (the KServe client and its guard implement it). */
export interface InferenceBackend {
  repositoryIndex(): Promise<RepositoryModel[]>;
  modelReady(name: string, version?: string): Promise<boolean>;
  modelConfig(name: string, version?: string): Promise<ModelConfig>;
  modelMetadata(name: string, version?: string): Promise<ModelMetadata>;
  infer(request: InferRequest, options?: { deadlineMs?: number }): Promise<InferResponse>;
}
