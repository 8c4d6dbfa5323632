/**
 * Scoring a decoder's candidate masks against the ground truth and keeping the two choices the paper and a
 * deployment make: the oracle (highest Dice, the paper's "best of three") and the deployable (highest
 * predicted IoU). Only the kept candidates get the distance metrics, which cost far more than Dice.
 */
import { computeMetrics, overlapMetrics } from '../core/metrics.ts';
import type { BinaryMask } from '../core/mask.ts';
import type { MaskCandidate } from '../core/segmenter.ts';
import { extractMetrics, METRICS, type MetricTable, type MetricValues } from './metric-table.ts';
import type { ChoiceResult } from './types.ts';

/**
 * The candidates SAM's predictor returns with `multimask_output=True`: a 4-output decoder's outputs 1..3
 * (output 0 is the single-mask token, which the predictor drops); any other count is kept as it came.
 */
export function multimaskCandidates(candidates: readonly MaskCandidate[]): MaskCandidate[] {
  if (candidates.length === 4 && candidates.some((c) => c.index === 0))
    return candidates.filter((c) => c.index !== 0);
  return [...candidates];
}

/** Converts core metrics (fractions, pixels) to the stored shape of `table`; non-finite values become null. */
export function toMetricValues(
  m: ReturnType<typeof computeMetrics>,
  table: MetricTable = METRICS,
): MetricValues {
  return extractMetrics(m, table);
}

/** The result of scoring candidates. */
export interface ScoredCandidates {
  oracle: ChoiceResult;
  deployable: ChoiceResult;
  /** Dice and predicted IoU of every candidate, in the order given. */
  all: Array<{ index: number; dice: number | null; predictedIou: number }>;
  /** The oracle's and deployable's masks and low-res logits (for interactive feedback). */
  oracleCandidate: MaskCandidate;
  deployableCandidate: MaskCandidate;
}

/**
 * Scores every candidate by Dice, keeps the highest Dice (ties: the earlier candidate) and the highest
 * predicted IoU (ties: the earlier candidate), and computes every metric of `options.metrics` (default the
 * benchmark's table) for those two.
 */
export function scoreCandidates(
  candidates: readonly MaskCandidate[],
  gt: BinaryMask,
  options: { nsdTolerance: number; metrics?: MetricTable },
): ScoredCandidates {
  if (candidates.length === 0) throw new Error('the segmenter returned no candidate mask');
  const dices = candidates.map((c) => overlapMetrics(c.mask, gt).dice);
  let best = 0;
  let deploy = 0;
  for (let i = 1; i < candidates.length; i++) {
    if (dices[i] > dices[best]) best = i;
    if (candidates[i].predictedIou > candidates[deploy].predictedIou) deploy = i;
  }
  const metricsOf = new Map<number, MetricValues>();
  const metrics = (i: number): MetricValues => {
    let m = metricsOf.get(i);
    if (m === undefined) {
      m = toMetricValues(
        computeMetrics(candidates[i].mask, gt, { nsdTolerance: options.nsdTolerance }),
        options.metrics,
      );
      metricsOf.set(i, m);
    }
    return m;
  };
  const choice = (i: number): ChoiceResult => ({
    candidateIndex: candidates[i].index,
    predictedIou: candidates[i].predictedIou,
    metrics: metrics(i),
  });
  return {
    oracle: choice(best),
    deployable: choice(deploy),
    all: candidates.map((c, i) => ({
      index: c.index,
      dice: Number.isFinite(dices[i]) ? dices[i] : null,
      predictedIou: c.predictedIou,
    })),
    oracleCandidate: candidates[best],
    deployableCandidate: candidates[deploy],
  };
}
