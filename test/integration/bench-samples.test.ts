import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BenchmarkService } from '../../gateway/src/bench/benchmark-service.ts';
import { SqliteStore } from '../../gateway/src/store/sqlite/sqlite-store.ts';
import { createFakeSegmenter } from '../unit/bench/fake-segmenter.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const samples = resolve(repoRoot, '../shared/samples');
const tmp = tempDir('medseg-bench-samples-');
after(() => rmSync(tmp, { recursive: true, force: true }));

test('real samples of all three layouts run end to end into one SQLite file and report', async () => {
  const store = new SqliteStore(join(tmp, 'samples.sqlite'));
  const service = new BenchmarkService(store, createFakeSegmenter());
  try {
    await service.addDataset(join(samples, 'ct-multiorgan'), { id: 'ct', modality: 'CT' });
    await service.addDataset(join(samples, 'mri-cardiac-cosmos'), {
      id: 'heart',
      modality: 'MRI',
      classes: { '85': 'left ventricle', '170': 'myocardium', '255': 'right ventricle' },
    });
    await service.addDataset(join(samples, 'nifti/tiny-mri-fixture'), { id: 'tiny', modality: 'MRI' });
    const expected: Record<string, number> = { ct: 30, heart: 14, tiny: 1 };
    for (const [id, objects] of Object.entries(expected)) {
      const s = await (
        await service.start(
          { dataset: id, models: ['fake'], strategies: ['S2', 'S4', 'S5', 'S6'], mode: 'corrected' },
          `job-${id}`,
        )
      ).done;
      assert.equal(s.status, 'completed', `${id}: ${s.error}`);
      assert.equal(s.done, objects * 4);
      const report = await service.report(`job-${id}`);
      const overall = report.aggregate.rows.find(
        (r) => r.scope === 'overall' && r.strategy === 'S5' && r.selection === 'oracle',
      )!;
      assert.equal(overall.metrics.dice.n, objects);
      assert.ok(overall.metrics.dice.mean! > 0 && overall.metrics.dice.mean! <= 1);
      assert.match(await service.renderReport(`job-${id}`, 'html'), /<svg/);
    }
    assert.deepEqual(
      (await service.datasets()).map((d) => [d.id, d.layout]),
      [
        ['ct', 'per-structure'],
        ['heart', 'cosmos'],
        ['tiny', 'nifti'],
      ],
    );
  } finally {
    await service.drain();
    await store.close();
  }
});
