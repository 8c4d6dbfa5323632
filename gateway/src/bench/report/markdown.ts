/** The benchmark report as Markdown: the paper's tables (Dice per target per strategy, per modality, overall). */
import { FACTOR_NAMES } from '../aggregate.ts';
import { HEADLINE_METRIC, metricLabel } from '../metric-table.ts';
import type { SelectionName } from '../types.ts';
import { describeRun, strategyLabel, type BenchmarkReport } from './build-report.ts';
import { paperFindings } from './findings.ts';
import { diceByModality, diceByTarget, metricsOverall, modelComparison } from './tables.ts';

const esc = (s: string): string => s.replace(/\|/g, '\\|');

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Renders the report as Markdown. */
export function renderMarkdown(r: BenchmarkReport): string {
  const a = r.aggregate;
  const head = HEADLINE_METRIC;
  const out: string[] = [`# ${r.title}`, ''];
  out.push(
    table(
      ['', ''],
      describeRun(r).map(([k, v]) => [k, v]),
    ),
    '',
  );
  if (Object.keys(a.failureReasons).length > 0) {
    out.push('Failed samples by reason (excluded from the statistics):', '');
    for (const [k, v] of Object.entries(a.failureReasons)) out.push(`- ${k}: ${v}`);
    out.push('');
  }
  const selections: SelectionName[] =
    r.job.config.selection === 'oracle' ? ['oracle', 'predictedIou'] : ['predictedIou', 'oracle'];
  const strategies = a.strategies.filter((s) => !s.startsWith('interactive-'));
  for (const selection of selections) {
    const cmp = modelComparison(a, selection, strategies);
    if (cmp) {
      const sel = selection === 'oracle' ? 'oracle choice' : 'deployable choice';
      out.push(`## Model comparison: ${metricLabel(head)} and difference from ${a.models[0]}, ${sel}`, '');
      out.push(table(cmp.header, cmp.rows), '');
    }
  }
  for (const model of a.models) {
    for (const selection of selections) {
      const sel =
        selection === 'oracle' ? 'oracle choice (highest Dice)' : 'deployable choice (highest predicted IoU)';
      out.push(`## ${model}: ${head.label} (${head.unit}, mean ± std) per target, ${sel}`, '');
      const t1 = diceByTarget(a, model, selection, strategies);
      out.push(table(t1.header, t1.rows), '');
      out.push(`### ${model}: ${head.label} per modality, ${sel}`, '');
      const t2 = diceByModality(a, model, selection, strategies);
      out.push(table(t2.header, t2.rows), '');
      out.push(`### ${model}: all metrics overall, ${sel}`, '');
      const t3 = metricsOverall(a, model, selection);
      out.push(table(t3.header, t3.rows), '');
    }
  }
  const findings = paperFindings([r]);
  if (findings.length > 0) {
    out.push(`## Paper findings (${a.models[0]}, ${head.label} ${head.unit})`, '');
    out.push(
      table(
        ['finding', 'this run', 'numbers'],
        findings.map((f) => [f.claim, f.verdict, f.evidence]),
      ),
      '',
    );
  }
  if (a.curves.length > 0) {
    out.push('## Interactive segmentation', '');
    out.push(
      table(
        [
          'model',
          'protocol',
          'objects',
          'NoC@85',
          'NoC@90',
          `AUC (${head.unit})`,
          `${head.label} per interaction (${head.unit})`,
        ],
        a.curves.map((c) => [
          c.model,
          c.protocol,
          String(c.objects),
          c.noc85.mean?.toFixed(2) ?? 'n/a',
          c.noc90.mean?.toFixed(2) ?? 'n/a',
          c.auc.mean === null ? 'n/a' : (c.auc.mean * head.scale).toFixed(2),
          c.meanDice.map((d) => (d * head.scale).toFixed(1)).join(', '),
        ]),
      ),
      '',
    );
  }
  if (a.correlations.length > 0) {
    out.push('## Factors vs Dice (Spearman rho, p; partial rho controls for the other factors)', '');
    out.push(
      table(
        ['model', 'strategy', 'selection', 'factor', 'n', 'rho', 'p', 'partial rho', 'partial p'],
        a.correlations
          .filter((c) => c.selection === r.job.config.selection)
          .map((c) => [
            c.model,
            strategyLabel(c.strategy),
            c.selection,
            c.factor,
            String(c.n),
            fmt(c.rho),
            fmtP(c.p),
            fmt(c.partialRho),
            fmtP(c.partialP),
          ]),
      ),
      '',
    );
    out.push(`Factors: ${FACTOR_NAMES.join(', ')}. Modality is analysed through the per-modality table.`, '');
  }
  return out.join('\n');
}

function fmt(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'n/a' : v.toFixed(3);
}

function fmtP(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'n/a' : v < 0.001 ? v.toExponential(2) : v.toFixed(3);
}
