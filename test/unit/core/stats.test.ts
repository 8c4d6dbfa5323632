import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  StatsError,
  correlationPValue,
  logGamma,
  mean,
  partialSpearman,
  pearson,
  percentile,
  rankAverage,
  regularizedIncompleteBeta,
  spearman,
  std,
} from '../../../gateway/src/core/stats.ts';

const rel = (a: number, b: number, tol: number): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

// Reference values below were computed once with scipy 1.17 / numpy 2.4 on these inputs.
const x = [3.1, 1.2, 5.5, 2.2, 2.2, 8.0, 6.1, 4.4, 4.4, 9.9, 0.5, 7.7];
const y = [2.0, 1.1, 4.0, 3.5, 2.5, 7.0, 5.0, 5.0, 3.0, 8.5, 1.5, 6.0];
const z = [1, 2, 2, 3, 5, 8, 1, 3, 4, 9, 0, 7];

test('mean, population std and numpy-linear percentiles', () => {
  assert.equal(mean([1, 2, 3, 4, 10]), 4);
  // ddof 0: sqrt(((-3)^2 + (-2)^2 + (-1)^2 + 0 + 6^2) / 5) = sqrt(10).
  rel(std([1, 2, 3, 4, 10]), Math.sqrt(10), 1e-15);
  // Position 4 * 0.95 = 3.8 between 4 and 10: 4 + 0.8 * 6 = 8.8.
  rel(percentile([1, 2, 3, 4, 10], 95), 8.8, 1e-15);
  assert.equal(percentile([5, 1, 3], 50), 3);
  rel(percentile([0, 0, 1, 2], 95), 1.85, 1e-15);
  assert.ok(Number.isNaN(mean([])));
  assert.ok(Number.isNaN(std([])));
  assert.throws(() => percentile([1], 101), StatsError);
});

test('average ranks for ties', () => {
  assert.deepEqual(Array.from(rankAverage(x)), [5, 2, 8, 3.5, 3.5, 11, 9, 6.5, 6.5, 12, 1, 10]);
});

test('Pearson and Spearman with p-value match scipy', () => {
  rel(pearson(x, y), 0.9463757958882304, 1e-13);
  const s = spearman(x, y);
  rel(s.rho, 0.9297026660150295, 1e-13);
  rel(s.p, 1.2005214151606927e-5, 1e-9);
  assert.equal(s.df, 10);
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  assert.deepEqual(spearman([1, 2, 3, 4], [2, 4, 6, 8]).p, 0);
});

test('partial Spearman controlling for one factor matches a numpy/scipy computation', () => {
  const r = partialSpearman(x, y, [z]);
  rel(r.rho, 0.8836864513302499, 1e-12);
  rel(r.p, 0.0003081833178949493, 1e-9);
  assert.equal(r.df, 9);
  // No controls: plain Spearman.
  assert.deepEqual(partialSpearman(x, y, []), spearman(x, y));
});

test('incomplete beta and log-gamma match scipy', () => {
  rel(regularizedIncompleteBeta(0.3, 2.5, 0.5), 0.018927124071945658, 1e-12);
  rel(regularizedIncompleteBeta(0.99, 10, 0.5), 0.6579281751567845, 1e-12);
  rel(regularizedIncompleteBeta(0.2, 0.5, 0.5), 0.2951672353008665, 1e-12);
  assert.equal(regularizedIncompleteBeta(0, 2, 3), 0);
  assert.equal(regularizedIncompleteBeta(1, 2, 3), 1);
  rel(logGamma(0.3), 1.0957979948180756, 1e-13);
  rel(logGamma(100.5), 361.43554046777757, 1e-13);
  rel(logGamma(5), Math.log(24), 1e-14);
  // r = 0 means t = 0: p = 1.
  rel(correlationPValue(0, 10), 1, 1e-15);
});

test('misuse raises StatsError', () => {
  assert.throws(() => spearman([1, 2, 3], [1, 2]), /x has 3 values but y has 2/);
  assert.throws(() => spearman([1, 2], [1, 2]), /at least 3/);
  assert.throws(() => spearman([1, NaN, 3], [1, 2, 3]), /not finite/);
  assert.throws(() => partialSpearman(x, y, [z.slice(1)]), /control 0 has 11 values/);
  assert.throws(() => partialSpearman(x, y, [z, z]), /collinear/);
  assert.throws(() => regularizedIncompleteBeta(2, 1, 1), StatsError);
  assert.throws(() => regularizedIncompleteBeta(0.5, 0, 1), StatsError);
});
