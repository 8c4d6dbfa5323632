/**
 * The paper's tables as plain cells, shared by the Markdown and HTML reports (each renders them its own way):
 * Dice per target per strategy, Dice per modality, and every metric overall, for one model and one choice.
 */
import type { BenchmarkAggregate } from '../aggregate.ts';
import { HEADLINE_METRIC, metricLabel, scaledValue, statOf } from '../metric-table.ts';
import type { SelectionName } from '../types.ts';
import { findRow, formatStat, strategyLabel } from './build-report.ts';

const HEAD = HEADLINE_METRIC;

/** A table: a header row and body rows of text cells. */
export interface ReportTable {
  header: string[];
  rows: string[][];
}

/** The headline metric (Dice x100, mean ± std, n) per target (object class x modality), one column per strategy. */
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
          if (!row) return '';
          const st = statOf(row.metrics, HEAD);
          return `${formatStat(HEAD, st)} (n=${st.n})`;
        }),
      ];
    }),
  };
}

/** The headline metric (Dice x100, mean ± std) per modality, one column per strategy. */
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
        return row ? formatStat(HEAD, statOf(row.metrics, HEAD)) : '';
      }),
    ]),
  };
}

/** Every metric of the aggregate's table overall, one row per strategy (interactive ones included), with sample and failure counts. */
export function metricsOverall(a: BenchmarkAggregate, model: string, selection: SelectionName): ReportTable {
  return {
    header: ['strategy', 'samples', 'failed', ...a.metricTable.map(metricLabel)],
    rows: a.strategies.flatMap((s) => {
      const row = findRow(a.rows, { model, selection, strategy: s, scope: 'overall' });
      return row
        ? [
            [
              strategyLabel(s),
              String(row.samples),
              String(row.failed),
              ...a.metricTable.map((def) => formatStat(def, statOf(row.metrics, def))),
            ],
          ]
        : [];
    }),
  };
}

/**
 * With two models or more: the mean headline metric (Dice x100) of the first model and of each other model on the same objects
 * and prompts, and the difference, per target and overall (`all targets`), one row per strategy. Undefined
 * with one model.
 */
export function modelComparison(
  a: BenchmarkAggregate,
  selection: SelectionName,
  strategies: string[],
): ReportTable | undefined {
  if (a.models.length < 2) return undefined;
  const [base, ...others] = a.models;
  const mean = (model: string, q: Parameters<typeof findRow>[1]) => {
    const row = findRow(a.rows, { model, selection, ...q });
    return (row && scaledValue(HEAD, statOf(row.metrics, HEAD).mean)) ?? undefined;
  };
  const cell = (v: number | undefined) => (v === undefined ? '' : v.toFixed(2));
  const delta = (v: number | undefined, b: number | undefined) =>
    v === undefined || b === undefined ? '' : `${v - b >= 0 ? '+' : ''}${(v - b).toFixed(2)}`;
  const targets = [
    ...new Set(
      a.rows
        .filter((x) => x.model === base && x.selection === selection && x.scope === 'target')
        .map((t) => `${t.target}\u0000${t.modality}`),
    ),
  ];
  const rows: string[][] = [];
  for (const s of strategies) {
    const scopes: Array<[string, string, Parameters<typeof findRow>[1]]> = [
      ...targets.map((k): [string, string, Parameters<typeof findRow>[1]] => {
        const [target, modality] = k.split('\u0000');
        return [target, modality, { strategy: s, scope: 'target', target, modality }];
      }),
      ['all targets', '', { strategy: s, scope: 'overall' }],
    ];
    for (const [target, modality, q] of scopes) {
      const b = mean(base, q);
      rows.push([
        target,
        modality,
        strategyLabel(s),
        cell(b),
        ...others.flatMap((o) => [cell(mean(o, q)), delta(mean(o, q), b)]),
      ]);
    }
  }
  return {
    header: ['target', 'modality', 'strategy', base, ...others.flatMap((o) => [o, `${o} − ${base}`])],
    rows,
  };
}
