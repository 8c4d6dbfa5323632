/**
 * A ready ONNX model version: validates each request against its configuration, then either hands it to
 * the dynamic batcher (max_batch_size > 0 with dynamic_batching) or runs it alone on a free instance, and
 * keeps Triton-style statistics.
 * Spec: Triton docs/user_guide/model_configuration.md (scheduling and batching)
 */
import type { ModelConfig } from '../protocol/model-config.ts';
import type { ModelMetadata, Tensor } from '../protocol/types.ts';
import { DynamicBatcher, SAME_VALUE_INPUTS_PARAMETER } from './dynamic-batcher.ts';
import { ModelStatsRecorder, nowNs } from './model-stats.ts';
import { OnnxRunner, type OnnxRunnerOptions } from './onnx-runner.ts';
import { metadataFromConfig, validateRequest, type ServedModel } from './served-model.ts';

/** An ONNX model version served on CPU. */
export class OnnxModel implements ServedModel {
  readonly stats: ModelStatsRecorder;
  readonly metadata: ModelMetadata;
  private readonly batcher: DynamicBatcher | undefined;
  private readonly allOutputs: string[];

  private constructor(
    readonly version: string,
    readonly config: ModelConfig,
    private readonly runner: OnnxRunner,
    versions: string[],
  ) {
    this.stats = new ModelStatsRecorder(config.name, version);
    this.metadata = metadataFromConfig(config, versions);
    this.allOutputs = config.output.map((o) => o.name);
    if (config.maxBatchSize > 0 && config.dynamicBatching) {
      const sameValue = (config.parameters[SAME_VALUE_INPUTS_PARAMETER]?.stringValue ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      this.batcher = new DynamicBatcher({
        maxBatchSize: config.maxBatchSize,
        preferredBatchSizes: config.dynamicBatching.preferredBatchSize,
        maxQueueDelayMicroseconds: config.dynamicBatching.maxQueueDelayMicroseconds,
        sameValueInputs: sameValue,
        maxConcurrent: runner.instanceCount,
        allOutputs: this.allOutputs,
        run: (inputs, outputs) => runner.run(inputs, outputs),
        stats: this.stats,
      });
    }
  }

  /** The model's name. */
  get name(): string {
    return this.config.name;
  }

  /**
   * Loads one version from ONNX bytes; `versions` are all versions of the model being served (for metadata).
   * @throws ModelLoadError when ONNX Runtime refuses the file or the file does not match the configuration
   */
  static async load(
    bytes: Uint8Array,
    config: ModelConfig,
    version: string,
    versions: string[],
    options: OnnxRunnerOptions = {},
  ): Promise<OnnxModel> {
    const sameValue = config.parameters[SAME_VALUE_INPUTS_PARAMETER]?.stringValue;
    if (sameValue) {
      const names = new Set(config.input.map((i) => i.name));
      for (const n of sameValue
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        if (!names.has(n))
          throw new Error(`parameter ${SAME_VALUE_INPUTS_PARAMETER} names '${n}', which is not an input`);
      }
    }
    const runner = await OnnxRunner.create(bytes, config, options);
    return new OnnxModel(version, config, runner, versions);
  }

  async execute(inputs: Tensor[], outputs: string[]): Promise<Tensor[]> {
    const start = nowNs();
    const batch = validateRequest(this.config, inputs, outputs);
    try {
      let result: Tensor[];
      if (this.batcher) {
        result = await this.batcher.submit(inputs, outputs);
      } else {
        const wanted = outputs.length > 0 ? outputs : this.allOutputs;
        const t0 = nowNs();
        result = await this.runner.run(inputs, wanted);
        this.stats.execution(batch, 1, 0, nowNs() - t0, 0);
      }
      this.stats.request(true, nowNs() - start, batch);
      return result;
    } catch (err: unknown) {
      this.stats.request(false, nowNs() - start, batch);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
