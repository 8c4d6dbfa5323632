/**
 * Triton's ModelConfig (config.pbtxt) as a plain object, the subset this project uses. The embedded server's
 * pbtxt parser produces it, and the gRPC client decodes the ModelConfig RPC into it, so both backends look
 * the same to the gateway. Field names are the camelCase forms of `proto/model_config.proto`; enums are
 * their string names; int64 values are numbers.
 * Spec: https://github.com/triton-inference-server/server/blob/main/docs/user_guide/model_configuration.md
 */

/** Triton config data types (TYPE_FP32 ...). */
export type ConfigDataType =
  | 'TYPE_INVALID'
  | 'TYPE_BOOL'
  | 'TYPE_UINT8'
  | 'TYPE_UINT16'
  | 'TYPE_UINT32'
  | 'TYPE_UINT64'
  | 'TYPE_INT8'
  | 'TYPE_INT16'
  | 'TYPE_INT32'
  | 'TYPE_INT64'
  | 'TYPE_FP16'
  | 'TYPE_FP32'
  | 'TYPE_FP64'
  | 'TYPE_STRING'
  | 'TYPE_BF16';

/** ModelInput / ModelOutput: `dims` exclude the batch dimension when maxBatchSize > 0. */
export interface ModelTensorConfig {
  name: string;
  dataType: ConfigDataType;
  dims: number[];
  /** Inputs only: the input may be left out of a request. */
  optional?: boolean;
  reshape?: { shape: number[] };
}

/** ModelDynamicBatching. */
export interface DynamicBatchingConfig {
  preferredBatchSize: number[];
  maxQueueDelayMicroseconds: number;
  preserveOrdering?: boolean;
}

/** ModelEnsembling.Step. */
export interface EnsembleStep {
  modelName: string;
  /** -1: latest. */
  modelVersion: number;
  /** step model input name → ensemble tensor name */
  inputMap: Record<string, string>;
  /** step model output name → ensemble tensor name */
  outputMap: Record<string, string>;
}

/** ModelInstanceGroup. */
export interface InstanceGroupConfig {
  name?: string;
  kind: 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL';
  count: number;
  gpus?: number[];
}

/** ModelVersionPolicy (one of). */
export type VersionPolicy =
  { latest: { numVersions: number } } | { all: Record<string, never> } | { specific: { versions: number[] } };

/** ModelWarmup. */
export interface WarmupConfig {
  name: string;
  batchSize: number;
  inputs: Record<
    string,
    { dataType: ConfigDataType; dims: number[]; zeroData?: boolean; randomData?: boolean }
  >;
  count?: number;
}

/** ModelConfig. */
export interface ModelConfig {
  name: string;
  /** e.g. `onnxruntime_onnx`, `ensemble`, `tensorrt_plan`. */
  platform: string;
  /** e.g. `onnxruntime`. */
  backend: string;
  versionPolicy?: VersionPolicy;
  /** 0: the model takes no batch dimension; > 0: shapes are [-1, ...dims]. */
  maxBatchSize: number;
  input: ModelTensorConfig[];
  output: ModelTensorConfig[];
  dynamicBatching?: DynamicBatchingConfig;
  ensembleScheduling?: { step: EnsembleStep[] };
  instanceGroup: InstanceGroupConfig[];
  defaultModelFilename: string;
  /** Free-form parameters; the SAM preprocessing contract lives here (see model profiles). */
  parameters: Record<string, { stringValue: string }>;
  modelWarmup?: WarmupConfig[];
  optimization?: {
    executionAccelerators?: {
      gpuExecutionAccelerator?: Array<{ name: string; parameters: Record<string, string> }>;
      cpuExecutionAccelerator?: Array<{ name: string; parameters: Record<string, string> }>;
    };
  };
}
