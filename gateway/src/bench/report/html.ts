/**
 * The benchmark report as one self-contained HTML page (inline CSS and SVG, no scripts): what was run, the
 * dataset, counts and failures, the paper's tables, a bar chart of Dice by modality per strategy, Dice per
 * interaction curves, and scatter plots of Dice against each factor with Spearman's rho and p.
 */
import { paperFindings } from './findings.ts';
import { FACTOR_NAMES } from '../aggregate.ts';
import type { SelectionName } from '../types.ts';
import { HEADLINE_METRIC, labelsByUnit, metricLabel, scaledValue, statOf } from '../metric-table.ts';
import { describeRun, findRow, strategyLabel, type BenchmarkReport } from './build-report.ts';
import { diceByModality, diceByTarget, metricsOverall, modelComparison } from './tables.ts';
import { barChart, lineChart, scatterPlot, xmlEscape as esc } from './svg.ts';

const FACTOR_LABELS: Record<(typeof FACTOR_NAMES)[number], string> = {
  size: 'object size (pixels)',
  aspectRatio: 'aspect ratio (short / long box side)',
  intensityDifference: 'intensity difference (inside vs. box ring)',
  boundaryComplexity: 'boundary complexity (EFD order + 200(1 - Dice))',
};

function table(header: string[], rows: string[][]): string {
  return [
    '<table>',
    `<thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`),
    '</tbody>',
    '</table>',
  ].join('\n');
}

const CSS = `body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#111}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}td{font-variant-numeric:tabular-nums}.note{color:#555;font-size:.9em}
figure{margin:1em 0}figcaption{color:#444;font-size:.9em}
.gallery{display:flex;flex-wrap:wrap;gap:.75em}.gallery figure{margin:0}.gallery img{image-rendering:pixelated}`;

/** Renders the report as HTML. */
export function renderHtml(r: BenchmarkReport): string {
  const a = r.aggregate;
  const head = HEADLINE_METRIC;
  // Fractions shown x100 top out at the scale; the charts' axes end there.
  const headMax = head.scale;
  const units = labelsByUnit(a.metricTable);
  const lead: SelectionName = r.job.config.selection;
  const other: SelectionName = lead === 'oracle' ? 'predictedIou' : 'oracle';
  const selName = (s: SelectionName): string =>
    s === 'oracle'
      ? 'oracle choice (highest Dice of the candidates, as the paper)'
      : 'deployable choice (highest predicted IoU)';
  const strategies = a.strategies.filter((s) => !s.startsWith('interactive-'));
  const parts: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${esc(r.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head><body>',
    `<h1>${esc(r.title)}</h1>`,
    `<p>This page reports a run of the evaluation protocol of <em>Segment Anything Model for Medical Images?</em> (Huang et al., 2024): every object of the dataset (one class in one image, more than 50 pixels) is prompted with each strategy, the model returns candidate masks, and each is scored against the ground truth. ${esc(units.x100)} are shown x100; ${esc(units.px)} are in pixels. Means and standard deviations are over objects (population standard deviation).</p>`,
    '<h2>What was run</h2>',
    table(['', ''], describeRun(r)),
  ];
  if (r.dataset) {
    const stats = r.dataset.stats as {
      images?: number;
      objects?: number;
      objectsPerClass?: Record<string, number>;
    };
    parts.push(
      '<h2>Dataset</h2>',
      `<p>${esc(r.dataset.name)} at <code>${esc(r.dataset.root)}</code>: ${stats.images ?? '?'} images, ${stats.objects ?? '?'} objects, modality ${esc(r.dataset.modality)}; ${r.dataset.problems.length} file problem(s) at registration (those images were excluded).</p>`,
      table(
        ['class', 'objects'],
        Object.entries(stats.objectsPerClass ?? {}).map(([k, v]) => [k, String(v)]),
      ),
    );
  }
  parts.push('<h2>Failures</h2>');
  parts.push(
    a.failed === 0
      ? '<p>No sample failed.</p>'
      : `<p>${a.failed} sample(s) failed and are excluded from the statistics:</p>` +
          table(
            ['reason', 'samples'],
            Object.entries(a.failureReasons).map(([k, v]) => [k, String(v)]),
          ),
  );

  for (const selection of [lead, other]) {
    const cmp = modelComparison(a, selection, strategies);
    if (cmp) {
      parts.push(
        `<h2>Model comparison: ${esc(metricLabel(head))} and difference from ${esc(a.models[0])}, ${esc(selName(selection))}</h2>`,
      );
      parts.push(table(cmp.header, cmp.rows));
    }
  }

  for (const model of a.models) {
    parts.push(`<h2>Model ${esc(model)}</h2>`);
    // Figure 1: Dice by modality per strategy.
    if (strategies.length > 0) {
      const values = a.modalities.map((m) =>
        strategies.map((s) => {
          const row = findRow(a.rows, {
            model,
            selection: lead,
            strategy: s,
            scope: 'modality',
            modality: m,
          });
          return row ? scaledValue(head, statOf(row.metrics, head).mean) : null;
        }),
      );
      const errors = a.modalities.map((m) =>
        strategies.map((s) => {
          const row = findRow(a.rows, {
            model,
            selection: lead,
            strategy: s,
            scope: 'modality',
            modality: m,
          });
          return row ? scaledValue(head, statOf(row.metrics, head).std) : null;
        }),
      );
      parts.push(
        '<figure>',
        barChart({
          title: `${head.label} by modality and strategy (${model})`,
          xLabel: 'modality',
          yLabel: `mean ${metricLabel(head)}`,
          groups: a.modalities,
          series: strategies.map(strategyLabel),
          values,
          errors,
          yMax: headMax,
        }),
        `<figcaption>Mean ${esc(metricLabel(head))} per modality for each prompt strategy, ${esc(selName(lead))}; whiskers show ± one standard deviation.</figcaption>`,
        '</figure>',
      );
    }
    for (const selection of [lead, other]) {
      parts.push(
        `<h3>${esc(head.label)} (${head.unit}, mean ± std) per target, ${esc(selName(selection))}</h3>`,
      );
      const t1 = diceByTarget(a, model, selection, strategies);
      parts.push(table(t1.header, t1.rows));
      parts.push(`<h3>Per modality, ${esc(selName(selection))}</h3>`);
      const t2 = diceByModality(a, model, selection, strategies);
      parts.push(table(t2.header, t2.rows));
      parts.push(`<h3>All metrics overall, ${esc(selName(selection))}</h3>`);
      const t3 = metricsOverall(a, model, selection);
      parts.push(table(t3.header, t3.rows));
    }
  }

  const findings = paperFindings([r]);
  if (findings.length > 0) {
    parts.push(`<h2>Paper findings (${esc(a.models[0])}, ${esc(head.label)} ${head.unit})</h2>`);
    parts.push(
      table(
        ['finding', 'this run', 'numbers'],
        findings.map((f) => [f.claim, f.verdict, f.evidence]),
      ),
    );
  }

  if (a.curves.length > 0) {
    parts.push('<h2>Interactive segmentation</h2>');
    parts.push(
      '<figure>',
      lineChart({
        title: 'Mean Dice per interaction',
        xLabel: 'interaction (1 = initial prompt)',
        yLabel: `mean ${metricLabel(head)}`,
        lines: a.curves.map((c) => ({
          name: `${c.model} ${c.protocol}`,
          points: c.clicks.map((k, i) => [k, c.meanDice[i] * head.scale] as [number, number]),
        })),
        yMax: headMax,
      }),
      '<figcaption>Each next click goes to the interior-most point of the largest error region; the previous low-res logits are fed back. Mean over objects.</figcaption>',
      '</figure>',
    );
    parts.push(
      table(
        ['model', 'protocol', 'objects', 'NoC@85', 'NoC@90', `AUC (${head.unit})`],
        a.curves.map((c) => [
          c.model,
          c.protocol,
          String(c.objects),
          c.noc85.mean?.toFixed(2) ?? 'n/a',
          c.noc90.mean?.toFixed(2) ?? 'n/a',
          c.auc.mean === null ? 'n/a' : (c.auc.mean * head.scale).toFixed(2),
        ]),
      ),
    );
  }

  const corr = a.correlations.filter((c) => c.selection === lead);
  if (corr.length > 0) {
    parts.push('<h2>Factors and Dice</h2>');
    parts.push(
      `<p class="note">Spearman's rank correlation of each factor with Dice (${esc(selName(lead))}); the partial correlation controls for the other factors. Modality is compared through the per-modality tables.</p>`,
    );
    for (const model of a.models) {
      for (const factor of FACTOR_NAMES) {
        const items = corr.filter((c) => c.model === model && c.factor === factor);
        if (items.length === 0) continue;
        const stat = (c: (typeof items)[number]): string =>
          `rho ${Number.isFinite(c.rho) ? c.rho.toFixed(2) : 'n/a'}, p ${Number.isFinite(c.p) ? c.p.toPrecision(2) : 'n/a'}`;
        const subtitle = `Spearman rho and two-sided p per strategy (n = ${items[0].n} objects each)`;
        parts.push(
          '<figure>',
          scatterPlot({
            title: `Dice vs ${FACTOR_LABELS[factor]} (${model})`,
            subtitle,
            xLabel: FACTOR_LABELS[factor],
            yLabel: metricLabel(head),
            series: items.map((c) => ({
              name: `${c.strategy.startsWith('interactive-') ? 'interactive' : c.strategy}: ${stat(c)}`,
              points: c.points.map(([x, d]) => [x, d * head.scale] as [number, number]),
            })),
            yMax: headMax,
          }),
          `<figcaption>One point per object and strategy. ${esc(items.map((c) => `${strategyLabel(c.strategy)}: ${stat(c)}`).join('; '))}.</figcaption>`,
          '</figure>',
        );
      }
      parts.push(
        table(
          ['strategy', 'factor', 'n', 'rho', 'p', 'partial rho', 'partial p'],
          corr
            .filter((c) => c.model === model)
            .map((c) => [
              strategyLabel(c.strategy),
              c.factor,
              String(c.n),
              num(c.rho),
              num(c.p),
              num(c.partialRho),
              num(c.partialP),
            ]),
        ),
      );
    }
  }
  parts.push(...galleryHtml(r));
  parts.push(`<p class="note">Generated ${esc(r.generatedAt)} by medseg-gateway.</p>`, '</body></html>');
  return parts.join('\n') + '\n';
}

/** The gallery section: inline thumbnails per model x strategy x target, or why there are none. */
function galleryHtml(r: BenchmarkReport): string[] {
  const out = ['<h2>Gallery: best, median and worst cases (deployable Dice)</h2>'];
  const g = r.gallery;
  if (g === undefined || 'unavailable' in g) {
    out.push(
      `<p class="note">No gallery in this report: ${esc(
        g === undefined
          ? "it was rendered without a segmenter, and the gallery decodes the stored prompts again with the job's model (render the report through the gateway to include it)"
          : g.unavailable,
      )}.</p>`,
    );
    return out;
  }
  if (g.cases.length === 0) {
    out.push('<p class="note">No case: the job has no successful point or box sample (S2 to S6).</p>');
    return out;
  }
  out.push(
    `<p>For each model, prompt strategy and target, the samples with the highest, the median and the lowest Dice of the deployable choice: the image, the ground-truth contour (green), the predicted mask (orange), positive points (blue), negative points (red) and the box (yellow).${g.of > g.cases.length ? ` The first ${g.cases.length} of ${g.of} cases.` : ''}</p>`,
  );
  let group = '';
  for (const c of g.cases) {
    const key = `${c.model} · ${strategyLabel(c.strategy)} · ${c.target}`;
    if (key !== group) {
      if (group !== '') out.push('</div>');
      out.push(`<h3>${esc(key)}</h3>`, '<div class="gallery">');
      group = key;
    }
    const caption = `${c.ranks.join(' / ')}: Dice ${(c.dice * 100).toFixed(1)}, ${c.objectId}`;
    out.push(
      `<figure><img src="data:image/png;base64,${Buffer.from(c.thumbnail).toString('base64')}" alt="${esc(`${key}, ${caption}`)}"><figcaption>${esc(caption)}</figcaption></figure>`,
    );
  }
  out.push('</div>');
  return out;
}

function num(v: number | null): string {
  return v === null || !Number.isFinite(v)
    ? 'n/a'
    : Math.abs(v) < 0.001 && v !== 0
      ? v.toExponential(2)
      : v.toFixed(3);
}
