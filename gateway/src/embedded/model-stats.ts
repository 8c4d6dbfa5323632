/**
 * Per-model-version counters in the shape of Triton's ModelStatistics: requests answered (inference_count),
 * model executions (execution_count, a dynamic batch counts once), cumulative durations in nanoseconds, and
 * one row per executed batch size.
 * Spec: Triton's statistics extension (docs/protocol/extension_statistics.md)
 */
import type { ModelStatistics, StatisticDuration } from '../protocol/types.ts';

const zero = (): StatisticDuration => ({ count: 0, ns: 0 });

/** Mutable statistics of one model version; `snapshot()` copies them out. */
export class ModelStatsRecorder {
  private lastInference = 0;
  private inferenceCount = 0;
  private executionCount = 0;
  private readonly success = zero();
  private readonly fail = zero();
  private readonly queue = zero();
  private readonly computeInput = zero();
  private readonly computeInfer = zero();
  private readonly computeOutput = zero();
  private readonly batches = new Map<number, StatisticDuration>();

  constructor(
    readonly name: string,
    readonly version: string,
  ) {}

  /** One request finished: `items` batch elements, `ns` from arrival to answer. */
  request(ok: boolean, ns: number, items: number): void {
    const d = ok ? this.success : this.fail;
    d.count += 1;
    d.ns += ns;
    if (ok) {
      this.inferenceCount += items;
      this.lastInference = Date.now();
    }
  }

  /** Time one request waited in the scheduler queue. */
  queued(ns: number): void {
    this.queue.count += 1;
    this.queue.ns += ns;
  }

  /** One model execution over `batchSize` batch elements covering `requests` requests. */
  execution(batchSize: number, requests: number, inputNs: number, inferNs: number, outputNs: number): void {
    this.executionCount += 1;
    this.computeInput.count += requests;
    this.computeInput.ns += inputNs * requests;
    this.computeInfer.count += requests;
    this.computeInfer.ns += inferNs * requests;
    this.computeOutput.count += requests;
    this.computeOutput.ns += outputNs * requests;
    const b = this.batches.get(batchSize) ?? zero();
    b.count += 1;
    b.ns += inferNs;
    this.batches.set(batchSize, b);
  }

  /** A copy of the counters as ModelStatistics. */
  snapshot(): ModelStatistics {
    return {
      name: this.name,
      version: this.version,
      lastInference: this.lastInference,
      inferenceCount: this.inferenceCount,
      executionCount: this.executionCount,
      inferenceStats: {
        success: { ...this.success },
        fail: { ...this.fail },
        queue: { ...this.queue },
        computeInput: { ...this.computeInput },
        computeInfer: { ...this.computeInfer },
        computeOutput: { ...this.computeOutput },
      },
      batchStats: [...this.batches.entries()]
        .sort(([a], [b]) => a - b)
        .map(([batchSize, d]) => ({ batchSize, computeInfer: { ...d } })),
    };
  }
}

/** Nanoseconds since an arbitrary origin, as a number (safe for ~104 days of uptime). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}
