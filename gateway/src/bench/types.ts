/**
 * Shared vocabulary of the benchmark engine (issue 4: the COSMOS 1050K protocol of "Segment Anything Model
 * for Medical Images?", Huang et al. 2024, as a service): strategies, modes, selections, job configuration
 * and the per-sample record the job store keeps.
 */
import type { MetricValues } from './metric-table.ts';

/** The paper's prompt strategies: S1 everything, S2 1 point, S3 5 points, S4 5+/5-, S5 box, S6 box + point. */
export const STRATEGIES = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6'] as const;
/** One of the paper's prompt strategies. */
export type StrategyName = (typeof STRATEGIES)[number];

/** `faithful` reproduces the released code's prompts (and failures); `corrected` fixes them (DESIGN.md). */
export type PromptMode = 'faithful' | 'corrected';

/** Random prompt perturbation in pixels, or none. */
export const RANDOMNESS = ['none', '0-10', '10-20', '20-30'] as const;
/** A randomness level of the paper's robustness study. */
export type Randomness = (typeof RANDOMNESS)[number];

/** Which candidate mask a report shows: the paper's oracle (highest Dice) or the deployable (highest predicted IoU). */
export type SelectionName = 'oracle' | 'predictedIou';

/** Interactive click protocols: error-region clicks, or the CVPR 2025 challenge's box then 5 clicks. */
export type InteractiveProtocol = 'errorRegion' | 'boxThen5';

/** Job lifecycle states as stored. */
export type JobStatus = 'queued' | 'running' | 'cancelled' | 'completed' | 'failed';

/** The strategy key of an interactive run in the samples table. */
export function interactiveKey(protocol: InteractiveProtocol): string {
  return `interactive-${protocol}`;
}

/** What `startBenchmark` runs: stored as the job's configuration JSON. */
export interface BenchmarkConfig {
  /** Id of a registered dataset. */
  dataset: string;
  /** Model names passed to the Segmenter. */
  models: string[];
  strategies: StrategyName[];
  mode: PromptMode;
  /** The selection reports lead with; both selections are always stored. */
  selection: SelectionName;
  randomness: Randomness;
  /** Interactive clicks after the first prompt; null for none. */
  interactive: { clicks: number; protocol: InteractiveProtocol } | null;
  seed: number;
  /** At most this many objects (after sharding), in dataset order; null for all. */
  limit: number | null;
  /** Run only objects whose index modulo `count` is `index`. */
  shard: { index: number; count: number } | null;
  /** NSD tolerance in pixels (or mm with spacing). */
  nsdTolerance: number;
}

// The metric vocabulary lives in the metric table; re-exported here, the one bench module the store imports.
export { checkMetricTable, METRIC_NAMES, METRICS, metricValue } from './metric-table.ts';
export type { MetricDef, MetricName, MetricTable, MetricValues } from './metric-table.ts';

/** The candidate kept by one selection rule, and its metrics. */
export interface ChoiceResult {
  candidateIndex: number;
  predictedIou: number;
  metrics: MetricValues;
}

/** Per-object factors of the paper's analysis (Section 5), as numbers. */
export interface FactorValues {
  size: number;
  aspectRatio: number;
  intensityDifference: number;
  boundaryComplexity: number;
}

/** One finished (or failed) sample: one model x strategy x object x variant. */
export interface SampleRecord {
  jobId: string;
  model: string;
  strategy: string;
  variant: number;
  objectId: string;
  imageId: string;
  classValue: number;
  className: string;
  modality: string;
  status: 'ok' | 'failed';
  failureReason: string | null;
  oracle: ChoiceResult | null;
  deployable: ChoiceResult | null;
  /** Dice and predicted IoU of every candidate, in decoder order. */
  candidates: Array<{ index: number; dice: number | null; predictedIou: number }>;
  factors: FactorValues | null;
  /** The prompt actually sent (points, box), for audit. */
  prompt: unknown;
  /** Wall time spent in the Segmenter for this sample (ms). */
  segmenterMs: number;
  /** Wall time of the whole sample (ms). */
  totalMs: number;
}

/** One point of an interactive Dice-per-click curve. */
export interface CurvePoint {
  click: number;
  dice: number;
  iou: number;
}
