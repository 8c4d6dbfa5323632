/**
 * Ensembles (platform "ensemble"): the steps of ensemble_scheduling run in dependency order, each step's
 * inputs taken from the ensemble's tensors through input_map (step input -> ensemble tensor) and its outputs
 * published through output_map (step output -> ensemble tensor). Steps go through the step models' own
 * scheduling, so a batching step model batches across ensemble requests too. At load every step model must
 * exist and be ready, and every mapped tensor must be produced before it is consumed.
 * Spec: Triton docs/user_guide/architecture.md#ensemble-models
 */
import type { EnsembleStep, ModelConfig } from '../protocol/model-config.ts';
import type { ModelMetadata, Tensor } from '../protocol/types.ts';
import { ModelStatsRecorder, nowNs } from './model-stats.ts';
import { metadataFromConfig, validateRequest, type ServedModel } from './served-model.ts';

/** Finds the ready model version a step names (version -1: the latest ready one). */
export type ModelLookup = (name: string, version: number) => ServedModel | string;

/** A configuration error of an ensemble, found at load. */
export class EnsembleConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnsembleConfigError';
  }
}

/**
 * Orders the steps so that every tensor is produced before it is consumed, and checks the maps against the
 * step models' configurations.
 * @throws EnsembleConfigError naming the step and tensor at fault
 */
export function planEnsemble(config: ModelConfig, lookup: ModelLookup): EnsembleStep[] {
  const steps = config.ensembleScheduling?.step ?? [];
  const available = new Set(config.input.map((i) => i.name));
  const producers = new Map<string, number>();
  steps.forEach((s, i) => {
    const target = lookup(s.modelName, s.modelVersion);
    if (typeof target === 'string') throw new EnsembleConfigError(`step ${i} ('${s.modelName}'): ${target}`);
    const ins = new Set(target.config.input.map((t) => t.name));
    const outs = new Set(target.config.output.map((t) => t.name));
    for (const k of Object.keys(s.inputMap)) {
      if (!ins.has(k))
        throw new EnsembleConfigError(
          `step ${i} ('${s.modelName}'): input_map key '${k}' is not an input of the model`,
        );
    }
    for (const req of target.config.input) {
      if (!req.optional && !(req.name in s.inputMap)) {
        throw new EnsembleConfigError(
          `step ${i} ('${s.modelName}'): model input '${req.name}' is not mapped in input_map`,
        );
      }
    }
    for (const [k, v] of Object.entries(s.outputMap)) {
      if (!outs.has(k))
        throw new EnsembleConfigError(
          `step ${i} ('${s.modelName}'): output_map key '${k}' is not an output of the model`,
        );
      if (producers.has(v) || available.has(v)) {
        throw new EnsembleConfigError(
          `step ${i} ('${s.modelName}'): ensemble tensor '${v}' is produced more than once`,
        );
      }
      producers.set(v, i);
    }
  });
  const order: EnsembleStep[] = [];
  const done = new Set<number>();
  while (order.length < steps.length) {
    const ready = steps.findIndex(
      (s, i) => !done.has(i) && Object.values(s.inputMap).every((v) => available.has(v)),
    );
    if (ready < 0) {
      const stuck = steps.findIndex((_s, i) => !done.has(i));
      const missing = Object.values(steps[stuck].inputMap).filter((v) => !available.has(v));
      throw new EnsembleConfigError(
        `step ${stuck} ('${steps[stuck].modelName}'): ensemble tensor(s) ${missing.map((m) => `'${m}'`).join(', ')} ` +
          (missing.some((m) => producers.has(m)) ? 'are part of a cycle' : 'are never produced'),
      );
    }
    done.add(ready);
    order.push(steps[ready]);
    for (const v of Object.values(steps[ready].outputMap)) available.add(v);
  }
  for (const o of config.output) {
    if (!available.has(o.name))
      throw new EnsembleConfigError(`ensemble output '${o.name}' is not produced by any step`);
  }
  return order;
}

/** A ready ensemble model version. */
export class EnsembleModel implements ServedModel {
  readonly stats: ModelStatsRecorder;
  readonly metadata: ModelMetadata;

  constructor(
    readonly version: string,
    readonly config: ModelConfig,
    private readonly order: EnsembleStep[],
    private readonly lookup: ModelLookup,
    versions: string[],
  ) {
    this.stats = new ModelStatsRecorder(config.name, version);
    this.metadata = metadataFromConfig(config, versions);
  }

  /** The ensemble's name. */
  get name(): string {
    return this.config.name;
  }

  async execute(inputs: Tensor[], outputs: string[]): Promise<Tensor[]> {
    const start = nowNs();
    const batch = validateRequest(this.config, inputs, outputs);
    try {
      const tensors = new Map(inputs.map((t) => [t.name, t]));
      for (const step of this.order) {
        const model = this.lookup(step.modelName, step.modelVersion);
        if (typeof model === 'string')
          throw new Error(`ensemble '${this.name}' step '${step.modelName}': ${model}`);
        const stepInputs = Object.entries(step.inputMap).map(([stepName, ensName]) => {
          const t = tensors.get(ensName) as Tensor;
          return { ...t, name: stepName };
        });
        const wanted = Object.keys(step.outputMap);
        const produced = await model.execute(stepInputs, wanted);
        produced.forEach((t, i) =>
          tensors.set(step.outputMap[wanted[i]], { ...t, name: step.outputMap[wanted[i]] }),
        );
      }
      const names = outputs.length > 0 ? outputs : this.config.output.map((o) => o.name);
      const result = names.map((n) => tensors.get(n) as Tensor);
      this.stats.execution(batch, 1, 0, nowNs() - start, 0);
      this.stats.request(true, nowNs() - start, batch);
      return result;
    } catch (err: unknown) {
      this.stats.request(false, nowNs() - start, batch);
      throw err;
    }
  }

  async close(): Promise<void> {}
}
