/**
 * Aggregation of stored samples as the paper reports them: mean and population standard deviation (ddof 0)
 * of every metric per target (object class x modality), per modality, per dataset and overall, for each
 * model x strategy x selection; interactive Dice-per-click curves with NoC@85/90 and the area under the
 * curve; Spearman and partial Spearman correlations of each factor with Dice. Values stay as stored here;
 * reports scale them by the metric table's `scale`.
 */
import { diceCurveAuc, numberOfClicks } from '../core/interactive.ts';
import { mean, partialSpearman, spearman, std } from '../core/stats.ts';
import { METRICS, metricValue, type MetricName, type MetricStat, type MetricTable } from './metric-table.ts';
import type { CurvePoint, FactorValues, SampleRecord, SelectionName } from './types.ts';

export type { MetricStat } from './metric-table.ts';

/** Aggregation scopes, from the finest to the coarsest. */
export type AggregateScope = 'target' | 'modality' | 'dataset' | 'overall';

/** One aggregated row. */
export interface AggregateRow {
  model: string;
  strategy: string;
  selection: SelectionName;
  scope: AggregateScope;
  /** Object class name (scope target), else null. */
  target: string | null;
  /** Modality (scopes target and modality), else null. */
  modality: string | null;
  /** Dataset (scope dataset), else null. */
  dataset: string | null;
  /** Samples in the group, failed ones included. */
  samples: number;
  /** Samples that failed (no prompt could be made...): excluded from the metric statistics. */
  failed: number;
  /** One statistic per metric of the aggregate's table, as stored (fractions, pixels). */
  metrics: Record<MetricName, MetricStat>;
}

/** The summary of one model x protocol's interactive curves. */
export interface CurveSummary {
  model: string;
  protocol: string;
  objects: number;
  /** Interaction numbers from 1 (the initial prompt: a click, or the box for boxThen5). */
  clicks: number[];
  /** Mean Dice at each click over the objects that reached it. */
  meanDice: number[];
  /** Interactions to reach Dice >= 0.85 (core/interactive `numberOfClicks`: the maximum when never reached). */
  noc85: MetricStat;
  noc90: MetricStat;
  /** Area under the Dice-per-interaction curve normalized to [0, 1] (core/interactive `diceCurveAuc`). */
  auc: MetricStat;
}

/** Factors correlated with Dice. */
export const FACTOR_NAMES = ['size', 'aspectRatio', 'intensityDifference', 'boundaryComplexity'] as const;

/** Correlation of one factor with Dice for one model x strategy x selection. */
export interface FactorCorrelation {
  model: string;
  strategy: string;
  selection: SelectionName;
  factor: (typeof FACTOR_NAMES)[number];
  n: number;
  rho: number;
  p: number;
  /** Partial Spearman, controlling for the other factors; null when too few samples. */
  partialRho: number | null;
  partialP: number | null;
  /** The (factor, Dice) pairs, for scatter plots. */
  points: Array<[number, number]>;
}

/** Everything a report needs. */
export interface BenchmarkAggregate {
  /** The metrics every row carries, in report order. */
  metricTable: MetricTable;
  rows: AggregateRow[];
  curves: CurveSummary[];
  correlations: FactorCorrelation[];
  samples: number;
  failed: number;
  /** Failure reason (text before the first colon) to count. */
  failureReasons: Record<string, number>;
  models: string[];
  strategies: string[];
  modalities: string[];
  targets: string[];
}

/** A sample with the dataset it came from. */
export type AggregateInput = SampleRecord & { dataset?: string };

const SELECTIONS: SelectionName[] = ['oracle', 'predictedIou'];

/** Mean and population std of the finite values. */
export function metricStat(values: ReadonlyArray<number | null>): MetricStat {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (xs.length === 0) return { mean: null, std: null, n: 0 };
  return { mean: mean(xs), std: std(xs), n: xs.length };
}

/**
 * Aggregates samples and curves over the metrics of `metrics` (default the benchmark's table). `dataset`
 * names the dataset of samples that carry none. Rows come grouped by model, strategy and selection, then
 * scope (targets and modalities sorted).
 */
export function aggregateSamples(
  samples: readonly AggregateInput[],
  curves: ReadonlyArray<{ model: string; protocol: string; objectId: string; points: CurvePoint[] }>,
  options: { dataset: string; metrics?: MetricTable },
): BenchmarkAggregate {
  const table = options.metrics ?? METRICS;
  const models = unique(samples.map((s) => s.model));
  const strategies = unique(samples.map((s) => s.strategy));
  const modalities = unique(samples.map((s) => s.modality));
  const targets = unique(samples.map((s) => s.className));
  const rows: AggregateRow[] = [];
  const correlations: FactorCorrelation[] = [];
  const datasetOf = (s: AggregateInput): string => s.dataset ?? options.dataset;

  for (const model of models) {
    for (const strategy of strategies) {
      const group = samples.filter((s) => s.model === model && s.strategy === strategy);
      if (group.length === 0) continue;
      for (const selection of SELECTIONS) {
        const row = (
          scope: AggregateScope,
          members: readonly AggregateInput[],
          keys: { target?: string; modality?: string; dataset?: string },
        ): AggregateRow => {
          const ok = members.filter((s) => s.status === 'ok');
          const metrics: Record<string, MetricStat> = {};
          for (const def of table) {
            metrics[def.name] = metricStat(
              ok.map((s) => {
                const c = choiceOf(s, selection);
                return c ? metricValue(c.metrics, def) : null;
              }),
            );
          }
          return {
            model,
            strategy,
            selection,
            scope,
            target: keys.target ?? null,
            modality: keys.modality ?? null,
            dataset: keys.dataset ?? null,
            samples: members.length,
            failed: members.length - ok.length,
            metrics: metrics as Record<MetricName, MetricStat>,
          };
        };
        for (const modality of unique(group.map((s) => s.modality))) {
          for (const target of unique(group.filter((s) => s.modality === modality).map((s) => s.className))) {
            rows.push(
              row(
                'target',
                group.filter((s) => s.modality === modality && s.className === target),
                { target, modality },
              ),
            );
          }
        }
        for (const modality of unique(group.map((s) => s.modality))) {
          rows.push(
            row(
              'modality',
              group.filter((s) => s.modality === modality),
              { modality },
            ),
          );
        }
        for (const dataset of unique(group.map(datasetOf))) {
          rows.push(
            row(
              'dataset',
              group.filter((s) => datasetOf(s) === dataset),
              { dataset },
            ),
          );
        }
        rows.push(row('overall', group, {}));
        correlations.push(...factorCorrelations(model, strategy, selection, group));
      }
    }
  }

  const failureReasons: Record<string, number> = {};
  for (const s of samples) {
    if (s.status !== 'failed') continue;
    const reason = (s.failureReason ?? 'unknown').split(':')[0];
    failureReasons[reason] = (failureReasons[reason] ?? 0) + 1;
  }
  return {
    metricTable: table,
    rows,
    curves: summarizeCurves(curves),
    correlations,
    samples: samples.length,
    failed: samples.filter((s) => s.status === 'failed').length,
    failureReasons,
    models,
    strategies,
    modalities,
    targets,
  };
}

function choiceOf(s: SampleRecord, selection: SelectionName): SampleRecord['oracle'] {
  return selection === 'oracle' ? s.oracle : s.deployable;
}

function factorCorrelations(
  model: string,
  strategy: string,
  selection: SelectionName,
  group: readonly SampleRecord[],
): FactorCorrelation[] {
  const usable = group.filter(
    (s) =>
      s.status === 'ok' &&
      s.factors !== null &&
      typeof choiceOf(s, selection)?.metrics.dice === 'number' &&
      FACTOR_NAMES.every((f) => Number.isFinite((s.factors as FactorValues)[f])),
  );
  if (usable.length < 3) return [];
  const dice = usable.map((s) => choiceOf(s, selection)!.metrics.dice!);
  const values = Object.fromEntries(FACTOR_NAMES.map((f) => [f, usable.map((s) => s.factors![f])])) as Record<
    (typeof FACTOR_NAMES)[number],
    number[]
  >;
  const out: FactorCorrelation[] = [];
  for (const factor of FACTOR_NAMES) {
    const x = values[factor];
    let rho = Number.NaN;
    let p = Number.NaN;
    try {
      ({ rho, p } = spearman(x, dice));
    } catch {
      // Too few or constant values: reported as NaN.
    }
    let partialRho: number | null = null;
    let partialP: number | null = null;
    try {
      const controls = FACTOR_NAMES.filter((f) => f !== factor).map((f) => values[f]);
      const r = partialSpearman(x, dice, controls);
      partialRho = Number.isFinite(r.rho) ? r.rho : null;
      partialP = Number.isFinite(r.p) ? r.p : null;
    } catch {
      // Singular controls or too few samples for the degrees of freedom: no partial correlation.
    }
    out.push({
      model,
      strategy,
      selection,
      factor,
      n: x.length,
      rho,
      p,
      partialRho,
      partialP,
      points: x.map((v, i) => [v, dice[i]]),
    });
  }
  return out;
}

function summarizeCurves(
  curves: ReadonlyArray<{ model: string; protocol: string; objectId: string; points: CurvePoint[] }>,
): CurveSummary[] {
  const out: CurveSummary[] = [];
  const keys = unique(curves.map((c) => `${c.model}\u0000${c.protocol}`));
  for (const key of keys) {
    const [model, protocol] = key.split('\u0000');
    const group = curves.filter((c) => c.model === model && c.protocol === protocol && c.points.length > 0);
    const clicks = unique(group.flatMap((c) => c.points.map((p) => p.click))).map(Number);
    clicks.sort((a, b) => a - b);
    const meanDice = clicks.map((k) =>
      mean(group.flatMap((c) => c.points.filter((p) => p.click === k).map((p) => p.dice))),
    );
    out.push({
      model,
      protocol,
      objects: group.length,
      clicks,
      meanDice,
      noc85: metricStat(group.map((c) => numberOfClicks(diceOf(c.points), 0.85))),
      noc90: metricStat(group.map((c) => numberOfClicks(diceOf(c.points), 0.9))),
      auc: metricStat(group.map((c) => diceCurveAuc(diceOf(c.points)))),
    });
  }
  return out;
}

function unique<T extends string | number>(xs: readonly T[]): T[] {
  return [...new Set(xs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function diceOf(points: readonly CurvePoint[]): number[] {
  return points.map((p) => p.dice);
}
