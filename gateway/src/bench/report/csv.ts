/** The benchmark report as CSV: one line per aggregate row and metric (overlap metrics x100, distances in px). */
import { METRIC_NAMES } from '../types.ts';
import { scaledStat, type BenchmarkReport } from './build-report.ts';

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
    for (const m of METRIC_NAMES) {
      const s = scaledStat(m, row.metrics[m]);
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
          m,
          m === 'dice' || m === 'iou' || m === 'nsd' ? 'x100' : 'px',
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
    for (const [name, stat, k] of [
      ['noc85', c.noc85, 1],
      ['noc90', c.noc90, 1],
      ['auc', c.auc, 100],
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
          k === 100 ? 'x100' : 'clicks',
          stat.mean === null ? null : stat.mean * k,
          stat.std === null ? null : stat.std * k,
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
