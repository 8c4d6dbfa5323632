/** The paper's findings tested on reports: literal aggregates with hand-computed verdicts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  AggregateRow,
  BenchmarkAggregate,
  FactorCorrelation,
} from '../../../gateway/src/bench/aggregate.ts';
import type { BenchmarkReport } from '../../../gateway/src/bench/report/build-report.ts';
import { paperFindings } from '../../../gateway/src/bench/report/findings.ts';
import { METRIC_NAMES, METRICS, type MetricName } from '../../../gateway/src/bench/metric-table.ts';

const stat = (mean: number) => ({ mean, std: 0, n: 5 });

function row(strategy: string, dice: number): AggregateRow {
  const metrics = Object.fromEntries(METRIC_NAMES.map((m) => [m, stat(dice)])) as Record<
    MetricName,
    ReturnType<typeof stat>
  >;
  return {
    model: 'm',
    strategy,
    selection: 'oracle',
    scope: 'overall',
    target: null,
    modality: null,
    dataset: null,
    samples: 5,
    failed: 0,
    metrics,
  };
}

function report(
  randomness: string,
  dice: Record<string, number>,
  extra: Partial<BenchmarkAggregate> = {},
): BenchmarkReport {
  const aggregate: BenchmarkAggregate = {
    metricTable: METRICS,
    rows: Object.entries(dice).map(([s, d]) => row(s, d)),
    curves: [],
    correlations: [],
    samples: 5,
    failed: 0,
    failureReasons: {},
    models: ['m'],
    strategies: Object.keys(dice),
    modalities: ['MRI'],
    targets: ['LV'],
    ...extra,
  };
  return {
    title: 't',
    job: {
      id: `job-${randomness}`,
      config: { randomness, selection: 'oracle' },
    } as unknown as BenchmarkReport['job'],
    dataset: null,
    stored: 5,
    aggregate,
    generatedAt: '2026-12-06T00:00:00Z',
  };
}

const byId = (fs: ReturnType<typeof paperFindings>) => Object.fromEntries(fs.map((f) => [f.id, f]));

test('box beats points and everything falls below prompts when the numbers say so', () => {
  const f = byId(paperFindings([report('none', { S1: 0.4, S2: 0.5, S3: 0.6, S5: 0.8, S6: 0.85 })]));
  assert.equal(f['box-beats-points'].verdict, 'supported');
  assert.equal(f['box-beats-points'].evidence, 'S5 80.0 vs S2 50.0; S6 85.0 vs S3 60.0');
  assert.equal(f['everything-below-prompts'].verdict, 'supported');
  assert.match(f['everything-below-prompts'].evidence, /S1 40\.0 vs best prompt S6 85\.0/);
  assert.equal(f['randomness-costs'].verdict, 'not testable');
  assert.equal(f['clicks-improve'].verdict, 'not testable');
});

test('a run that contradicts the paper says so', () => {
  const f = byId(paperFindings([report('none', { S1: 0.9, S2: 0.7, S5: 0.6 })]));
  assert.equal(f['box-beats-points'].verdict, 'not supported');
  assert.equal(f['everything-below-prompts'].verdict, 'not supported');
  assert.match(f['everything-below-prompts'].evidence, /S1 is below none/);
});

test('randomness is compared across jobs, with the unperturbed job as the baseline', () => {
  const base = report('none', { S2: 0.5, S5: 0.8 });
  const noisy = report('10-20', { S2: 0.4, S5: 0.7 });
  const f = byId(paperFindings([noisy, base]));
  assert.equal(f['randomness-costs'].verdict, 'supported');
  assert.equal(f['randomness-costs'].evidence, 'S2 10-20 px: 40.0 vs 50.0; S5 10-20 px: 70.0 vs 80.0');
  const better = report('0-10', { S2: 0.55, S5: 0.7 });
  assert.equal(byId(paperFindings([base, better]))['randomness-costs'].verdict, 'not supported');
  // A small band that leaves the centre point's Dice as it was still costs nothing more.
  const same = report('0-10', { S2: 0.5, S5: 0.7 });
  assert.equal(byId(paperFindings([base, same]))['randomness-costs'].verdict, 'supported');
  const none = report('0-10', { S2: 0.5, S5: 0.8 });
  assert.equal(byId(paperFindings([base, none]))['randomness-costs'].verdict, 'not supported');
});

test('clicks and factors come from the curves and the correlations', () => {
  const correlations: FactorCorrelation[] = [
    {
      model: 'm',
      strategy: 'S5',
      selection: 'oracle',
      factor: 'size',
      n: 30,
      rho: 0.6,
      p: 0.001,
      partialRho: null,
      partialP: null,
      points: [],
    },
    {
      model: 'm',
      strategy: 'S5',
      selection: 'oracle',
      factor: 'aspectRatio',
      n: 30,
      rho: 0.1,
      p: 0.6,
      partialRho: null,
      partialP: null,
      points: [],
    },
  ];
  const curves = [
    {
      model: 'm',
      protocol: 'errorRegion',
      objects: 3,
      clicks: [1, 2, 3],
      meanDice: [0.5, 0.7, 0.69],
      noc85: stat(3),
      noc90: stat(3),
      auc: stat(0.6),
    },
  ];
  const f = byId(paperFindings([report('none', { S2: 0.5, S5: 0.8 }, { correlations, curves })]));
  assert.equal(f['clicks-improve'].verdict, 'supported');
  assert.equal(
    f['clicks-improve'].evidence,
    'errorRegion: Dice 50.0 after interaction 1, 69.0 after 3; 1 of 2 steps do not lower it',
  );
  assert.equal(f.factors.verdict, 'supported');
  assert.equal(f.factors.evidence, 'S5, n=30: size rho 0.60 (p 0.0010), aspectRatio rho 0.10 (p 0.60)');
  assert.deepEqual(paperFindings([]), []);
  // A job that stored nothing (cancelled at once) has no model rows: nothing to test, nothing to render.
  assert.deepEqual(paperFindings([report('none', {}, { models: [] })]), []);
  assert.deepEqual(paperFindings([report('none', { S2: 0.5 })], 'other-model'), []);
});
