/**
 * Conversions between the decoded ModelConfig protobuf message (proto-loader objects: camelCase, string enums,
 * oneof discriminators, every field present) and the ModelConfig object of model-config.ts.
 * Spec: Triton model_config.proto (https://github.com/triton-inference-server/common/blob/main/protobuf/model_config.proto)
 */
import type {
  ConfigDataType,
  EnsembleStep,
  InstanceGroupConfig,
  ModelConfig,
  ModelTensorConfig,
  VersionPolicy,
  WarmupConfig,
} from './model-config.ts';

type Obj = Record<string, unknown>;

const asObj = (v: unknown): Obj => (v && typeof v === 'object' ? (v as Obj) : {});
const asArr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const nums = (v: unknown): number[] => asArr(v).map(Number);
const str = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));

function tensor(v: unknown): ModelTensorConfig {
  const t = asObj(v);
  const out: ModelTensorConfig = {
    name: str(t.name),
    dataType: str(t.dataType || 'TYPE_INVALID') as ConfigDataType,
    dims: nums(t.dims),
  };
  if (t.optional === true) out.optional = true;
  const reshape = asObj(t.reshape);
  if (t.reshape) out.reshape = { shape: nums(reshape.shape) };
  return out;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(asObj(v))) out[k] = str(val);
  return out;
}

function versionPolicy(v: unknown): VersionPolicy | undefined {
  const p = asObj(v);
  const choice =
    p.policyChoice ?? (p.latest ? 'latest' : p.all ? 'all' : p.specific ? 'specific' : undefined);
  switch (choice) {
    case 'latest':
      return { latest: { numVersions: Number(asObj(p.latest).numVersions ?? 1) } };
    case 'all':
      return { all: {} };
    case 'specific':
      return { specific: { versions: nums(asObj(p.specific).versions) } };
    default:
      return undefined;
  }
}

/** A decoded ModelConfig message -> ModelConfig (int64 as numbers, missing repeated fields as []). */
export function normalizeModelConfig(wire: unknown): ModelConfig {
  const c = asObj(wire);
  const cfg: ModelConfig = {
    name: str(c.name),
    platform: str(c.platform),
    backend: str(c.backend),
    maxBatchSize: Number(c.maxBatchSize ?? 0),
    input: asArr(c.input).map(tensor),
    output: asArr(c.output).map(tensor),
    instanceGroup: asArr(c.instanceGroup).map((g): InstanceGroupConfig => {
      const o = asObj(g);
      const out: InstanceGroupConfig = {
        kind: (str(o.kind) || 'KIND_AUTO') as InstanceGroupConfig['kind'],
        count: Number(o.count ?? 1),
      };
      if (o.name) out.name = str(o.name);
      if (asArr(o.gpus).length > 0) out.gpus = nums(o.gpus);
      return out;
    }),
    defaultModelFilename: str(c.defaultModelFilename),
    parameters: Object.fromEntries(
      Object.entries(asObj(c.parameters)).map(([k, v]) => [k, { stringValue: str(asObj(v).stringValue) }]),
    ),
  };
  const vp = versionPolicy(c.versionPolicy);
  if (vp) cfg.versionPolicy = vp;
  const scheduling =
    c.schedulingChoice ??
    (c.dynamicBatching ? 'dynamicBatching' : c.ensembleScheduling ? 'ensembleScheduling' : undefined);
  if (scheduling === 'dynamicBatching') {
    const d = asObj(c.dynamicBatching);
    cfg.dynamicBatching = {
      preferredBatchSize: nums(d.preferredBatchSize),
      maxQueueDelayMicroseconds: Number(d.maxQueueDelayMicroseconds ?? 0),
      ...(d.preserveOrdering ? { preserveOrdering: true } : {}),
    };
  } else if (scheduling === 'ensembleScheduling') {
    cfg.ensembleScheduling = {
      step: asArr(asObj(c.ensembleScheduling).step).map((s): EnsembleStep => {
        const o = asObj(s);
        return {
          modelName: str(o.modelName),
          modelVersion: Number(o.modelVersion ?? -1),
          inputMap: stringMap(o.inputMap),
          outputMap: stringMap(o.outputMap),
        };
      }),
    };
  }
  const warmup = asArr(c.modelWarmup);
  if (warmup.length > 0) {
    cfg.modelWarmup = warmup.map((w): WarmupConfig => {
      const o = asObj(w);
      const inputs: WarmupConfig['inputs'] = {};
      for (const [k, v] of Object.entries(asObj(o.inputs))) {
        const i = asObj(v);
        inputs[k] = {
          dataType: str(i.dataType) as ConfigDataType,
          dims: nums(i.dims),
          ...(i.inputDataType === 'zeroData' || i.zeroData ? { zeroData: true } : {}),
          ...(i.inputDataType === 'randomData' || i.randomData ? { randomData: true } : {}),
        };
      }
      return { name: str(o.name), batchSize: Number(o.batchSize ?? 0), inputs, count: Number(o.count ?? 0) };
    });
  }
  const acc = asObj(asObj(c.optimization).executionAccelerators);
  const accel = (v: unknown) =>
    asArr(v).map((a) => ({ name: str(asObj(a).name), parameters: stringMap(asObj(a).parameters) }));
  if (asArr(acc.gpuExecutionAccelerator).length > 0 || asArr(acc.cpuExecutionAccelerator).length > 0) {
    cfg.optimization = {
      executionAccelerators: {
        gpuExecutionAccelerator: accel(acc.gpuExecutionAccelerator),
        cpuExecutionAccelerator: accel(acc.cpuExecutionAccelerator),
      },
    };
  }
  return cfg;
}

/** ModelConfig -> an object proto-loader serializes as the ModelConfig message. */
export function toWireModelConfig(cfg: ModelConfig): Obj {
  const tensorOut = (t: ModelTensorConfig): Obj => ({
    name: t.name,
    dataType: t.dataType,
    dims: t.dims,
    ...(t.optional ? { optional: true } : {}),
    ...(t.reshape ? { reshape: { shape: t.reshape.shape } } : {}),
  });
  const out: Obj = {
    name: cfg.name,
    platform: cfg.platform,
    backend: cfg.backend,
    maxBatchSize: cfg.maxBatchSize,
    input: cfg.input.map(tensorOut),
    output: cfg.output.map(tensorOut),
    instanceGroup: cfg.instanceGroup.map((g) => ({
      name: g.name ?? '',
      kind: g.kind,
      count: g.count,
      gpus: g.gpus ?? [],
    })),
    defaultModelFilename: cfg.defaultModelFilename,
    parameters: cfg.parameters,
  };
  if (cfg.versionPolicy) out.versionPolicy = cfg.versionPolicy;
  if (cfg.dynamicBatching) out.dynamicBatching = cfg.dynamicBatching;
  if (cfg.ensembleScheduling) out.ensembleScheduling = cfg.ensembleScheduling;
  if (cfg.modelWarmup) {
    out.modelWarmup = cfg.modelWarmup.map((w) => ({
      name: w.name,
      batchSize: w.batchSize,
      count: w.count ?? 0,
      inputs: Object.fromEntries(Object.entries(w.inputs).map(([k, i]) => [k, { ...i }])),
    }));
  }
  if (cfg.optimization) out.optimization = cfg.optimization;
  return out;
}
