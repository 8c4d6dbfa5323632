/** The benchmark report as JSON: configuration, counts and aggregates with overlap metrics x100. */
import { METRIC_NAMES, type MetricName } from '../types.ts';
import type { MetricStat } from '../aggregate.ts';
import { scaledStat, type BenchmarkReport } from './build-report.ts';
import { paperFindings } from './findings.ts';

/** Renders the report as pretty-printed JSON (NaN and infinities become null). */
export function renderJson(r: BenchmarkReport): string {
  const a = r.aggregate;
  const body = {
    title: r.title,
    generatedAt: r.generatedAt,
    units: { dice: 'x100', iou: 'x100', nsd: 'x100', hd: 'px', hd95: 'px', asd: 'px', assd: 'px' },
    job: r.job,
    dataset: r.dataset,
    stored: r.stored,
    failed: a.failed,
    failureReasons: a.failureReasons,
    rows: a.rows.map((row) => ({
      ...row,
      metrics: Object.fromEntries(
        METRIC_NAMES.map((m: MetricName) => [m, scaledStat(m, row.metrics[m])]),
      ) as Record<MetricName, MetricStat>,
    })),
    curves: a.curves.map((c) => ({
      ...c,
      meanDice: c.meanDice.map((d) => d * 100),
      auc: scaledStat('dice', c.auc),
    })),
    correlations: a.correlations.map(({ points: _points, ...c }) => c),
    findings: paperFindings([r]),
  };
  return (
    JSON.stringify(body, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) +
    '\n'
  );
}
