/** The benchmark report as JSON: configuration, counts and aggregates in the metric table's units. */
import { HEADLINE_METRIC, scaledStats, scaledValue, scaledStat } from '../metric-table.ts';
import type { BenchmarkReport } from './build-report.ts';
import { paperFindings } from './findings.ts';

/** Renders the report as pretty-printed JSON (NaN and infinities become null). */
export function renderJson(r: BenchmarkReport): string {
  const a = r.aggregate;
  const metricTable = a.metricTable;
  const body = {
    title: r.title,
    generatedAt: r.generatedAt,
    units: Object.fromEntries(metricTable.map((def) => [def.name, def.unit])),
    job: r.job,
    dataset: r.dataset,
    stored: r.stored,
    failed: a.failed,
    failureReasons: a.failureReasons,
    rows: a.rows.map((row) => ({
      ...row,
      metrics: scaledStats(row.metrics, metricTable),
    })),
    curves: a.curves.map((c) => ({
      ...c,
      meanDice: c.meanDice.map((d) => scaledValue(HEADLINE_METRIC, d)),
      auc: scaledStat(HEADLINE_METRIC, c.auc),
    })),
    correlations: a.correlations.map(({ points: _points, ...c }) => c),
    findings: paperFindings([r]),
  };
  return (
    JSON.stringify(body, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) +
    '\n'
  );
}
