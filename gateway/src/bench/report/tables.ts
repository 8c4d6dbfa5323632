/**
 * The paper's tables as plain cells, shared by the Markdown and HTML reports (each renders them its own way):
 * Dice per target per strategy, Dice per modality, and every metric overall, for one model and one choice.
 */
import type { BenchmarkAggregate } from '../aggregate.ts';
import { METRIC_NAMES, type SelectionName } from '../types.ts';
import { findRow, formatStat, metricLabel, strategyLabel } from './build-report.ts';

/** A table: a header row and body rows of text cells. */
export interface ReportTable {
  header: string[];
  rows: string[][];
}

/** Dice (x100, mean ± std, n) per target (object class x modality), one column per strategy. */
export function diceByTarget(
  a: BenchmarkAggregate,
  model: string,
  selection: SelectionName,
  strategies: string[],
): ReportTable {
  const targets = a.rows.filter(
    (x) => x.model === model && x.selection === selection && x.scope === 'target',
  );
  const keys = [...new Set(targets.map((t) => `${t.target}\u0000${t.modality}`))];
  return {
    header: ['target', 'modality', ...strategies.map(strategyLabel)],
    rows: keys.map((k) => {
      const [target, modality] = k.split('\u0000');
      return [
        target,
        modality,
        ...strategies.map((s) => {
          const row = findRow(a.rows, { model, selection, strategy: s, scope: 'target', target, modality });
          return row ? `${formatStat('dice', row.metrics.dice)} (n=${row.metrics.dice.n})` : '';
        }),
      ];
    }),
  };
}

/** Dice (x100, mean ± std) per modality, one column per strategy. */
export function diceByModality(
  a: BenchmarkAggregate,
  model: string,
  selection: SelectionName,
  strategies: string[],
): ReportTable {
  return {
    header: ['modality', ...strategies.map(strategyLabel)],
    rows: a.modalities.map((m) => [
      m,
      ...strategies.map((s) => {
        const row = findRow(a.rows, { model, selection, strategy: s, scope: 'modality', modality: m });
        return row ? formatStat('dice', row.metrics.dice) : '';
      }),
    ]),
  };
}

/** Every metric overall, one row per strategy (interactive ones included), with sample and failure counts. */
export function metricsOverall(a: BenchmarkAggregate, model: string, selection: SelectionName): ReportTable {
  return {
    header: ['strategy', 'samples', 'failed', ...METRIC_NAMES.map(metricLabel)],
    rows: a.strategies.flatMap((s) => {
      const row = findRow(a.rows, { model, selection, strategy: s, scope: 'overall' });
      return row
        ? [
            [
              strategyLabel(s),
              String(row.samples),
              String(row.failed),
              ...METRIC_NAMES.map((m) => formatStat(m, row.metrics[m])),
            ],
          ]
        : [];
    }),
  };
}
