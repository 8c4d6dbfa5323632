/**
 * "Adding a metric touches the table, the SDL and the tests only", proved: a copy of the metric table with
 * one more entry (recall) flows through candidate scoring, a real SQLite database of today's schema (which
 * gains the metric's columns on open, old samples keeping no value), the aggregate, every report format and
 * the findings, with no other code changed. The SDL half is metric-table.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { aggregateSamples } from '../../../gateway/src/bench/aggregate.ts';
import { scoreCandidates } from '../../../gateway/src/bench/candidates.ts';
import {
  checkMetricTable,
  METRICS,
  type MetricDef,
  type MetricTable,
} from '../../../gateway/src/bench/metric-table.ts';
import type { BenchmarkReport } from '../../../gateway/src/bench/report/build-report.ts';
import { paperFindings } from '../../../gateway/src/bench/report/findings.ts';
import { renderReport } from '../../../gateway/src/bench/report/render.ts';
import { normalizeConfig } from '../../../gateway/src/bench/runner.ts';
import type { SampleRecord } from '../../../gateway/src/bench/types.ts';
import type { BinaryMask } from '../../../gateway/src/core/mask.ts';
import type { MaskCandidate } from '../../../gateway/src/core/segmenter.ts';
import { metricColumnAdditions } from '../../../gateway/src/store/migrations.ts';
import {
  readSample,
  sampleColumns,
  sampleValues,
  toJobRow,
  toSampleRecord,
  type DbRow,
} from '../../../gateway/src/store/rows.ts';
import { migrateSqlite } from '../../../gateway/src/store/sqlite/sqlite-store.ts';
import { todaysMetricColumns, writeTodaysSqliteSchema } from '../../helpers/todays-schema.ts';
import { ascii } from '../core/ascii-mask.ts';

/** The new metric: the share of the ground truth the prediction covers (sensitivity). */
const RECALL: MetricDef = {
  name: 'recall',
  label: 'Recall',
  description: 'Share of the ground truth covered by the prediction',
  unit: 'x100',
  scale: 100,
  higherIsBetter: true,
  extract: (m) => (m.gtArea === 0 ? Number.NaN : m.intersection / m.gtArea),
};
const EXTENDED: MetricTable = [...METRICS, RECALL];

const GT = ascii(`
  ........
  .######.
  .######.
  .######.
  .######.
  ........`);

function candidate(index: number, mask: BinaryMask, predictedIou: number): MaskCandidate {
  return {
    index,
    mask,
    predictedIou,
    stabilityScore: 1,
    lowRes: { size: 0, data: new Float32Array(0) },
  };
}

// The oracle covers 18 of the 24 ground-truth pixels exactly (Dice 6/7); the deployable covers all 24 and
// 8 more (Dice 48/56).
const CANDIDATES = [
  candidate(
    1,
    ascii(`
      ........
      .######.
      .######.
      .######.
      ........
      ........`),
    0.8,
  ),
  candidate(
    2,
    ascii(`
      ........
      ########
      ########
      ########
      ########
      ........`),
    0.9,
  ),
];

function record(objectId: string, scored: ReturnType<typeof scoreCandidates>): SampleRecord {
  return {
    jobId: 'job',
    model: 'm',
    strategy: 'S5',
    variant: 0,
    objectId,
    imageId: 'img',
    classValue: 1,
    className: 'liver',
    modality: 'CT',
    status: 'ok',
    failureReason: null,
    oracle: scored.oracle,
    deployable: scored.deployable,
    candidates: scored.all,
    factors: null,
    prompt: null,
    segmenterMs: 1,
    totalMs: 2,
  };
}

test('a metric added to a copy of the table reaches scoring, a migrated database, aggregates and every report', () => {
  checkMetricTable(EXTENDED);

  // 1. Scoring: both kept candidates carry the new metric, hand-computed.
  const scored = scoreCandidates(CANDIDATES, GT, { nsdTolerance: 2, metrics: EXTENDED });
  assert.equal(scored.oracle.candidateIndex, 1);
  assert.equal(scored.deployable.candidateIndex, 2);
  const recall = (c: typeof scored.oracle) => (c.metrics as Record<string, number | null>).recall;
  assert.equal(recall(scored.oracle), 18 / 24);
  assert.equal(recall(scored.deployable), 1);
  const plain = scoreCandidates(CANDIDATES, GT, { nsdTolerance: 2 });
  assert.equal('recall' in plain.oracle.metrics, false, 'the benchmark table itself is unchanged');

  // 2. Store: a database of today's schema, with a sample today's release wrote, gains the two columns.
  const dir = mkdtempSync(join(tmpdir(), 'medseg-metric-extension-'));
  try {
    const db = new Database(join(dir, 'bench.sqlite'));
    writeTodaysSqliteSchema(db);
    const columns = () =>
      (db.prepare('PRAGMA table_info(samples)').all() as Array<{ name: string }>).map((c) => c.name);
    assert.deepEqual(
      columns().filter((c) => /^(oracle|deploy)_/.test(c) && !/_(index|pred_iou)$/.test(c)),
      todaysMetricColumns(),
    );
    db.prepare(
      `INSERT INTO datasets VALUES ('d', 'd', '/x', 'cosmos', 'CT', '{}', '{}', '[]', '2026-12-01T00:00:00Z')`,
    ).run();
    db.prepare(
      `INSERT INTO jobs (id, dataset_id, config_json, status, total, created_at, updated_at)
       VALUES ('job', 'd', ?, 'running', 3, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')`,
    ).run(JSON.stringify(normalizeConfig({ dataset: 'd', models: ['m'], strategies: ['S5'] })));
    const insert = (table: MetricTable, r: SampleRecord) => {
      const cols = sampleColumns(table);
      db.prepare(`INSERT INTO samples (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(
        ...sampleValues(r, '2026-12-01T00:00:00Z', table),
      );
    };
    insert(METRICS, record('img#old', plain));

    assert.deepEqual(metricColumnAdditions(columns(), 'sqlite', EXTENDED), [
      'ALTER TABLE samples ADD COLUMN oracle_recall REAL',
      'ALTER TABLE samples ADD COLUMN deploy_recall REAL',
    ]);
    migrateSqlite(db, EXTENDED);
    assert.ok(columns().includes('oracle_recall') && columns().includes('deploy_recall'));
    assert.deepEqual(metricColumnAdditions(columns(), 'sqlite', EXTENDED), [], 'a second open adds nothing');
    migrateSqlite(db, EXTENDED);

    insert(EXTENDED, record('img#new1', scored));
    insert(EXTENDED, record('img#new2', scored));
    const rows = db.prepare('SELECT * FROM samples ORDER BY rowid').all() as DbRow[];
    const samples = rows.map((r) => readSample(r, EXTENDED));
    assert.deepEqual(
      samples.map((s) => recall(s.oracle!)),
      [null, 18 / 24, 18 / 24],
      'the sample stored before the metric existed has no value for it',
    );
    // A replica of the previous release reads the same rows, ignoring the column it does not know.
    assert.deepEqual(
      rows.map((r) => toSampleRecord(r).oracle?.metrics.dice),
      samples.map((s) => s.oracle?.metrics.dice),
    );
    const job = toJobRow(db.prepare("SELECT * FROM jobs WHERE id = 'job'").get() as DbRow);
    db.close();

    // 3. Aggregate: the new metric's statistics over the samples that have it.
    const aggregate = aggregateSamples(samples, [], { dataset: 'd', metrics: EXTENDED });
    const overall = aggregate.rows.find((r) => r.scope === 'overall' && r.selection === 'oracle')!;
    assert.deepEqual((overall.metrics as Record<string, unknown>).recall, { mean: 0.75, std: 0, n: 2 });
    assert.equal(overall.metrics.dice.n, 3);

    // 4. Every report format shows it, in its unit, beside the other metrics.
    const report: BenchmarkReport = {
      title: 'extended',
      job,
      dataset: null,
      stored: samples.length,
      aggregate,
      generatedAt: '2026-12-06T00:00:00Z',
    };
    const md = renderReport(report, 'md');
    assert.match(
      md,
      /\| strategy \| samples \| failed \| Dice \(x100\) \|.* NSD \(x100\) \| Recall \(x100\) \|/,
    );
    assert.match(md, /\| S5 box \| 3 \| 0 \| .* \| 75\.00 ± 0\.00 \|\n/);
    const csv = renderReport(report, 'csv');
    assert.match(csv, /^job,m,S5,oracle,overall,,,,recall,x100,75,0,2,3,0$/m);
    const json = JSON.parse(renderReport(report, 'json')) as {
      units: Record<string, string>;
      rows: Array<{ scope: string; selection: string; metrics: Record<string, { mean: number }> }>;
    };
    assert.equal(json.units.recall, 'x100');
    assert.equal(json.units.hd95, 'px');
    const jsonOverall = json.rows.find((r) => r.scope === 'overall' && r.selection === 'oracle')!;
    assert.equal(jsonOverall.metrics.recall.mean, 75);
    const html = renderReport(report, 'html');
    assert.match(html, /<th>Recall \(x100\)<\/th>/);
    assert.match(html, /Dice, IoU, NSD and Recall are shown x100; HD, HD95, ASD and ASSD are in pixels/);

    // 5. The findings still lead with Dice.
    assert.deepEqual(
      paperFindings([report]).map((f) => f.verdict),
      paperFindings([{ ...report, aggregate: aggregateSamples(samples, [], { dataset: 'd' }) }]).map(
        (f) => f.verdict,
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
