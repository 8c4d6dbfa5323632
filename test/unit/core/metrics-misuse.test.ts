import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsError, computeMetrics, surfaceDistances } from '../../../gateway/src/core/metrics.ts';
import { ascii } from './ascii-mask.ts';

const a = ascii('##.\n...');

test('masks of different sizes', () => {
  assert.throws(
    () => computeMetrics(a, ascii('##\n..')),
    (e: unknown) => e instanceof MetricsError && /prediction is 3x2 but ground truth is 2x2/.test(e.message),
  );
  assert.throws(() => surfaceDistances(a, ascii('#')), MetricsError);
});

test('data length that does not match the declared size', () => {
  assert.throws(
    () => computeMetrics({ width: 3, height: 2, data: new Uint8Array(5) }, a),
    /prediction data has 5 values, expected 3x2/,
  );
});

test('bad spacing', () => {
  for (const spacing of [[0, 1], [1, -2], [NaN, 1], [1, Infinity], [1]] as unknown as Array<
    [number, number]
  >) {
    assert.throws(
      () => computeMetrics(a, a, { spacing }),
      (e: unknown) => e instanceof MetricsError && /spacing/.test(e.message),
    );
  }
});

test('bad tolerance and convention', () => {
  assert.throws(() => computeMetrics(a, a, { nsdTolerance: -1 }), /NSD tolerance/);
  assert.throws(() => computeMetrics(a, a, { nsdTolerance: NaN }), MetricsError);
  assert.throws(() => computeMetrics(a, a, { convention: 'zero' as 'nan' }), /convention/);
});
