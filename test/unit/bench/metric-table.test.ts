/**
 * The one metric table: its entries agree with the core metrics they read, with the SDL that documents them
 * and with the unit rule, and a malformed table is refused with a message naming the entry.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Kind, parse, type ObjectTypeDefinitionNode } from 'graphql';
import {
  checkMetricTable,
  extractMetrics,
  isBetter,
  labelsByUnit,
  metricDef,
  metricDoc,
  metricLabel,
  METRIC_NAMES,
  METRICS,
  MetricTableError,
  scaledStat,
  scaledStats,
  type MetricDef,
} from '../../../gateway/src/bench/metric-table.ts';
import { computeMetrics } from '../../../gateway/src/core/metrics.ts';
import { metricColumnAdditions } from '../../../gateway/src/store/migrations.ts';
import { ascii } from '../core/ascii-mask.ts';

test('the benchmark table is well formed and lists the paper metrics in report order', () => {
  checkMetricTable(METRICS);
  assert.deepEqual(METRIC_NAMES, ['dice', 'iou', 'hd', 'hd95', 'asd', 'assd', 'nsd']);
  assert.deepEqual(
    METRICS.map((d) => metricLabel(d)),
    ['Dice (x100)', 'IoU (x100)', 'HD (px)', 'HD95 (px)', 'ASD (px)', 'ASSD (px)', 'NSD (x100)'],
  );
  assert.deepEqual(labelsByUnit(), { x100: 'Dice, IoU and NSD', px: 'HD, HD95, ASD and ASSD' });
});

test('each entry reads its own core metric, and non-finite values are stored as null', () => {
  // A 6-wide block with a stray pixel against a 5-wide block: every core value differs from the others, so a
  // mis-wired extractor cannot go unnoticed.
  const pred = ascii(`
    ######..........
    ######..........
    ######..........
    ######..........
    ######.......#..
    ######..........`);
  const gt = ascii(`
    #####...........
    #####...........
    #####...........
    #####...........
    #####...........
    #####...........`);
  const m = computeMetrics(pred, gt, { nsdTolerance: 1 });
  const v = extractMetrics(m);
  assert.deepEqual(v, {
    dice: m.dice,
    iou: m.iou,
    hd: m.hausdorff,
    hd95: m.hd95,
    asd: m.asd,
    assd: m.assd,
    nsd: m.nsd,
  });
  assert.equal(new Set(Object.values(v)).size, METRICS.length, `distinct values: ${JSON.stringify(v)}`);
  // Hand-computed: areas 37 and 30, intersection 30; the stray pixel is 9 columns from the block.
  assert.equal(v.dice, (2 * 30) / (37 + 30));
  assert.equal(v.iou, 30 / 37);
  assert.equal(v.hd, 9);
  const empty = computeMetrics(ascii('...\n...'), ascii('...\n...'), { convention: 'nan' });
  assert.deepEqual(
    Object.values(extractMetrics(empty)).filter((x) => x !== null),
    [],
    'NaN of an undefined metric is stored as null',
  );
});

test('scale and direction come from the table: x100 metrics scale, distances do not; lower HD is better', () => {
  const dice = metricDef('dice');
  const hd = metricDef('hd');
  assert.deepEqual(scaledStat(dice, { mean: 0.5, std: 0.25, n: 3 }), { mean: 50, std: 25, n: 3 });
  assert.deepEqual(scaledStat(hd, { mean: 4, std: 1, n: 3 }), { mean: 4, std: 1, n: 3 });
  assert.deepEqual(scaledStat(dice, undefined), { mean: null, std: null, n: 0 });
  assert.deepEqual(scaledStat(dice, { mean: null, std: null, n: 0 }), { mean: null, std: null, n: 0 });
  assert.equal(isBetter(dice, 0.8, 0.7), true);
  assert.equal(isBetter(hd, 0.8, 0.7), false);
  assert.equal(isBetter(hd, 3, 5), true);
  assert.equal(isBetter(dice, 0.7004, 0.7, 5e-4), false, 'within the margin counts as no difference');
  const all = scaledStats(
    Object.fromEntries(METRIC_NAMES.map((n) => [n, { mean: 0.5, std: 0, n: 1 }])),
    METRICS,
  );
  assert.deepEqual(
    Object.entries(all).map(([k, s]) => [k, s.mean]),
    [
      ['dice', 50],
      ['iou', 50],
      ['hd', 0.5],
      ['hd95', 0.5],
      ['asd', 0.5],
      ['assd', 0.5],
      ['nsd', 50],
    ],
  );
});

test('the SDL has one BenchmarkAggregate field per metric, in table order, documented as the table says', () => {
  const sdl = readFileSync(new URL('../../../schema/benchmark.graphql', import.meta.url), 'utf8');
  const type = parse(sdl).definitions.find(
    (d): d is ObjectTypeDefinitionNode =>
      d.kind === Kind.OBJECT_TYPE_DEFINITION && d.name.value === 'BenchmarkAggregate',
  );
  assert.ok(type, 'BenchmarkAggregate is defined');
  const metricFields = (type.fields ?? []).filter(
    (f) =>
      f.type.kind === Kind.NON_NULL_TYPE &&
      f.type.type.kind === Kind.NAMED_TYPE &&
      f.type.type.name.value === 'MetricSummary',
  );
  assert.deepEqual(
    metricFields.map((f) => [f.name.value, f.description?.value]),
    METRICS.map((d) => [d.name, metricDoc(d)]),
  );
});

test('a malformed table is refused, naming the entry', () => {
  const base: MetricDef = METRICS[0];
  const bad = (patch: Partial<MetricDef>, re: RegExp) =>
    assert.throws(
      () => checkMetricTable([...METRICS, { ...base, name: 'extra', ...patch }]),
      (e: unknown) => e instanceof MetricTableError && re.test(e.message),
    );
  bad({ name: 'Robert"); DROP TABLE samples; --' }, /metric name must be/);
  bad({ name: 'oracle_x' }, /metric name must be/);
  bad({ name: '' }, /metric name must be/);
  bad({ name: 'a'.repeat(32) }, /metric name must be/);
  bad({ name: 'dice' }, /'dice' appears twice/);
  bad({ name: 'index' }, /'index' is taken by a samples column/);
  bad({ name: 'samples' }, /'samples' is taken/);
  bad({ unit: 'px' }, /'extra': unit px needs scale 1, got 100/);
  bad({ unit: 'x100', scale: 1 }, /'extra': unit x100 needs scale 100, got 1/);
  bad({ unit: 'mm' as 'px' }, /'extra': unit must be x100 or px, got 'mm'/);
  checkMetricTable([...METRICS, { ...base, name: 'extra2' }]);
  // The store refuses to build SQL from a malformed table.
  assert.throws(
    () => metricColumnAdditions([], 'sqlite', [{ ...base, name: 'x; DROP TABLE jobs' }]),
    MetricTableError,
  );
});
