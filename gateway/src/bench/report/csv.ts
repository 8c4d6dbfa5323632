/** The benchmark report as CSV: one line per aggregate row and metric, in the metric table's units. */
import { HEADLINE_METRIC, scaledStat, statOf } from '../metric-table.ts';
import type { BenchmarkReport } from './build-report.ts';

/** Quotes a CSV field when needed (RFC 4180). */
export function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Renders the aggregate rows, then the interactive summaries, as CSV. */
export function renderCsv(r: BenchmarkReport): string {
  const lines = [
    'job,model,strategy,selection,scope,target,modality,dataset,metric,unit,mean,std,n,samples,failed',
  ];
  for (const row of r.aggregate.rows) {
    for (const def of r.aggregate.metricTable) {
      const s = scaledStat(def, statOf(row.metrics, def));
      lines.push(
        [
          r.job.id,
          row.model,
          row.strategy,
          row.selection,
          row.scope,
          row.target,
          row.modality,
          row.dataset,
          def.name,
          def.unit,
          s.mean,
          s.std,
          s.n,
          row.samples,
          row.failed,
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  for (const c of r.aggregate.curves) {
    // The area under the Dice curve is in Dice's units; clicks are counts.
    for (const [name, stat, unit] of [
      ['noc85', c.noc85, 'clicks'],
      ['noc90', c.noc90, 'clicks'],
      ['auc', scaledStat(HEADLINE_METRIC, c.auc), HEADLINE_METRIC.unit],
    ] as const) {
      lines.push(
        [
          r.job.id,
          c.model,
          `interactive-${c.protocol}`,
          'predictedIou',
          'overall',
          null,
          null,
          null,
          name,
          unit,
          stat.mean,
          stat.std,
          stat.n,
          c.objects,
          0,
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  return lines.join('\n') + '\n';
}
