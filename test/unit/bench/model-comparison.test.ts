import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AggregateRow, BenchmarkAggregate } from '../../../gateway/src/bench/aggregate.ts';
import { modelComparison } from '../../../gateway/src/bench/report/tables.ts';

function row(model: string, scope: 'target' | 'overall', target: string, dice: number): AggregateRow {
  return {
    model,
    strategy: 'S5',
    selection: 'oracle',
    scope,
    target: scope === 'target' ? target : undefined,
    modality: scope === 'target' ? 'MRI' : undefined,
    metrics: { dice: { mean: dice, std: 0, n: 3 } },
  } as unknown as AggregateRow;
}

test('model comparison: each model beside the first, with the difference per target and overall (x100)', () => {
  const a = {
    models: ['mobilesam', 'mobilesam_ft_heart'],
    rows: [
      row('mobilesam', 'target', 'LV', 0.9),
      row('mobilesam', 'target', 'MYO', 0.62),
      row('mobilesam', 'overall', '', 0.76),
      row('mobilesam_ft_heart', 'target', 'LV', 0.91),
      row('mobilesam_ft_heart', 'target', 'MYO', 0.7),
      row('mobilesam_ft_heart', 'overall', '', 0.805),
    ],
  } as unknown as BenchmarkAggregate;
  const t = modelComparison(a, 'oracle', ['S5'])!;
  assert.deepEqual(t.header, [
    'target',
    'modality',
    'strategy',
    'mobilesam',
    'mobilesam_ft_heart',
    'mobilesam_ft_heart − mobilesam',
  ]);
  assert.deepEqual(
    t.rows.map((r) => [r[0], r[3], r[4], r[5]]),
    [
      ['LV', '90.00', '91.00', '+1.00'],
      ['MYO', '62.00', '70.00', '+8.00'],
      ['all targets', '76.00', '80.50', '+4.50'],
    ],
  );
  assert.equal(modelComparison({ ...a, models: ['mobilesam'] }, 'oracle', ['S5']), undefined);
});
