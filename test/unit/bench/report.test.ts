import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { registerDataset } from '../../../gateway/src/bench/datasets/registry.ts';
import type { JobStore } from '../../../gateway/src/bench/job-store.ts';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';
import { buildReport, ReportError } from '../../../gateway/src/bench/report/build-report.ts';
import { csvField } from '../../../gateway/src/bench/report/csv.ts';
import { renderReport } from '../../../gateway/src/bench/report/render.ts';
import { barChart, ticks, xmlEscape } from '../../../gateway/src/bench/report/svg.ts';
import { startBenchmark } from '../../../gateway/src/bench/runner.ts';
import { writeSyntheticDataset } from '../../helpers/synthetic-dataset.ts';
import { createFakeSegmenter } from './fake-segmenter.ts';

async function finishedJob(): Promise<{ store: JobStore; jobId: string; cleanup: () => void }> {
  const synth = writeSyntheticDataset({ images: 4, seed: 21 });
  const store = new SqliteStore(':memory:');
  await registerDataset(store, synth.dir, { id: 'synth' });
  const h = await startBenchmark(
    {
      dataset: 'synth',
      models: ['fake-sam'],
      strategies: ['S2', 'S5'],
      selection: 'predictedIou',
      interactive: { protocol: 'boxThen5' },
    },
    { store, segmenter: createFakeSegmenter(), jobId: 'report-job' },
  );
  const s = await h.done;
  assert.equal(s.status, 'completed', s.error ?? '');
  return { store, jobId: h.jobId, cleanup: () => rmSync(synth.dir, { recursive: true, force: true }) };
}

/** Every opening tag of `name` has its closing tag, in order. */
function balanced(html: string, name: string): number {
  const open = html.match(new RegExp(`<${name}[\\s>]`, 'g'))?.length ?? 0;
  const close = html.match(new RegExp(`</${name}>`, 'g'))?.length ?? 0;
  assert.equal(open, close, `<${name}> opened ${open} times, closed ${close}`);
  return open;
}

test('HTML report: self-contained page with tables, bar, line and scatter SVGs, labels and legends', async () => {
  const { store, jobId, cleanup } = await finishedJob();
  try {
    const html = renderReport(await buildReport(store, jobId), 'html');
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /<title>SAM benchmark fake-sam on synthetic<\/title>/);
    assert.doesNotMatch(html, /<script|<link|src="http|href="http/);
    const svgs = balanced(html, 'svg');
    // 1 bar chart + 1 interactive line chart + 4 factor scatter plots.
    assert.equal(svgs, 6);
    const tables = balanced(html, 'table');
    assert.ok(tables >= 8, `${tables} tables`);
    assert.match(html, /class="bar"/);
    assert.match(html, /class="line"/);
    assert.match(html, /class="point"/);
    assert.match(html, />mean Dice \(x100\)</);
    assert.match(html, />modality</);
    assert.match(html, /S5 box/); // legend and table headers use strategy names
    assert.match(html, /rho [-0-9.]+, p /);
    assert.match(html, /No sample failed/);
    // The synthetic run: box and centre point find each ellipse exactly, so the oracle Dice is 100.
    assert.match(html, /<td>100\.00 ± 0\.00 \(n=4\)<\/td>/);
  } finally {
    await store.close();
    cleanup();
  }
});

test('CSV, JSON and Markdown reports carry the same numbers (overlap metrics x100)', async () => {
  const { store, jobId, cleanup } = await finishedJob();
  try {
    const report = await buildReport(store, jobId);
    const csv = renderReport(report, 'csv').trim().split('\n');
    assert.equal(
      csv[0],
      'job,model,strategy,selection,scope,target,modality,dataset,metric,unit,mean,std,n,samples,failed',
    );
    assert.equal(csv.length, 1 + report.aggregate.rows.length * 7 + report.aggregate.curves.length * 3);
    const oracleOverallS2 = csv.find((l) => l.includes(',S2,oracle,overall,') && l.includes(',dice,'))!;
    assert.equal(oracleOverallS2.split(',')[10], '100');
    const json = JSON.parse(renderReport(report, 'json')) as {
      rows: Array<{
        strategy: string;
        selection: string;
        scope: string;
        metrics: { dice: { mean: number } };
      }>;
      curves: Array<{ protocol: string; meanDice: number[] }>;
      units: Record<string, string>;
    };
    assert.equal(json.units.dice, 'x100');
    const row = json.rows.find(
      (r) => r.strategy === 'S2' && r.selection === 'predictedIou' && r.scope === 'overall',
    )!;
    const agg = report.aggregate.rows.find(
      (r) => r.strategy === 'S2' && r.selection === 'predictedIou' && r.scope === 'overall',
    )!;
    assert.ok(Math.abs(row.metrics.dice.mean - agg.metrics.dice.mean! * 100) < 1e-9);
    assert.equal(json.curves[0].protocol, 'boxThen5');
    assert.equal(json.curves[0].meanDice.length, 6);
    const md = renderReport(report, 'md');
    assert.match(md, /^# SAM benchmark fake-sam on synthetic/);
    assert.match(md, /\| target \| modality \| S2 1 point \| S5 box \|/);
    assert.match(md, /## Interactive segmentation/);
  } finally {
    await store.close();
    cleanup();
  }
});

test('report helpers: escaping, CSV quoting, ticks, unknown job', async () => {
  assert.equal(xmlEscape('a<b & "c"'), 'a&lt;b &amp; &quot;c&quot;');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField(Number.NaN), '');
  assert.deepEqual(ticks(0, 100), [0, 20, 40, 60, 80, 100]);
  const svg = barChart({
    title: 'T <x>',
    xLabel: 'x',
    yLabel: 'y',
    groups: ['g'],
    series: ['s'],
    values: [[50]],
    yMax: 100,
  });
  assert.match(svg, /<title>T &lt;x&gt;<\/title>/);
  const store = new SqliteStore(':memory:');
  await assert.rejects(buildReport(store, 'nope'), ReportError);
  await store.close();
});
