/**
 * Benchmark engine throughput with the fake Segmenter (region growing, so the segmenter itself is cheap):
 * samples per second of whole jobs and the share of wall time spent outside the segmenter (prompts,
 * metrics, factors, SQLite). Side by side: SQLite synchronous FULL (the store's setting) vs NORMAL, and
 * S2-S6 vs S1 (32x32 grid decode). Then the same protocol on the reference SAM model over the embedded KServe
 * server (the real inference path), on ../shared/samples/mri-cardiac-cosmos.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerDataset } from '../../gateway/src/bench/datasets/registry.ts';
import { SqliteStore } from '../../gateway/src/store/sqlite/sqlite-store.ts';
import { startBenchmark, type JobSummary } from '../../gateway/src/bench/runner.ts';
import type { StrategyName } from '../../gateway/src/bench/types.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { createFakeSegmenter } from '../unit/bench/fake-segmenter.ts';
import { createCliSegmenter } from '../../gateway/src/cli/commands/bench.ts';
import { SAMPLES } from '../helpers/gateway.ts';

async function job(
  dir: string,
  dataset: string,
  strategies: StrategyName[],
  synchronous: 'FULL' | 'NORMAL',
  tag: string,
): Promise<JobSummary> {
  const store = new SqliteStore(join(dir, `${tag}.sqlite`), { synchronous });
  await registerDataset(store, dataset, { id: 'synthetic' });
  const s = await (
    await startBenchmark(
      { dataset: 'synthetic', models: ['fake'], strategies },
      { store, segmenter: createFakeSegmenter() },
    )
  ).done;
  await store.close();
  if (s.status !== 'completed') throw new Error(`job ${tag} ended ${s.status}: ${s.error}`);
  return s;
}

function line(label: string, s: JobSummary): string {
  const outside = 1 - s.segmenterMs / s.wallMs;
  return `${label.padEnd(34)} ${String(s.done).padStart(5)} samples  ${(s.wallMs / 1000).toFixed(2).padStart(6)} s  ${(s.done / (s.wallMs / 1000)).toFixed(1).padStart(7)} samples/s  outside segmenter ${(100 * outside).toFixed(1)}%`;
}

/** Runs the suite and prints its figures. */
export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-bench-bench-'));
  try {
    const synth = writeSyntheticDataset({
      dir: join(dir, 'data'),
      images: 20,
      width: 128,
      height: 128,
      seed: 1,
    });
    const prompts: StrategyName[] = ['S2', 'S3', 'S4', 'S5', 'S6'];
    // Warm-up (module loading, JIT) so the measured runs compare like with like.
    await job(dir, synth.dir, ['S2'], 'FULL', 'warm');
    const full = await job(dir, synth.dir, prompts, 'FULL', 'full');
    const normal = await job(dir, synth.dir, prompts, 'NORMAL', 'normal');
    const s1 = await job(dir, synth.dir, ['S1'], 'FULL', 's1');
    console.log(`dataset: 20 synthetic 128x128 images, ${synth.objects.length} objects, fake segmenter`);
    console.log(line('S2-S6, synchronous FULL (default)', full));
    console.log(line('S2-S6, synchronous NORMAL', normal));
    console.log(line('S1 (32x32 grid, batches of 64)', s1));
    console.log(`FULL / NORMAL wall time: ${(full.wallMs / normal.wallMs).toFixed(2)}x`);

    // The reference SAM model through the embedded KServe v2 server: the real inference path.
    const { segmenter, close } = await createCliSegmenter({});
    try {
      const store = new SqliteStore(join(dir, 'reference.sqlite'));
      await registerDataset(store, join(SAMPLES, 'mri-cardiac-cosmos'), {
        id: 'cardiac',
        modality: 'MRI',
        classes: { '85': 'LV', '170': 'MYO', '255': 'RV' },
      });
      const ref = await (
        await startBenchmark(
          { dataset: 'cardiac', models: ['sam_reference'], strategies: prompts },
          { store, segmenter },
        )
      ).done;
      await store.close();
      console.log(`reference model (sam_reference, embedded server) on mri-cardiac-cosmos, 14 objects:`);
      console.log(line('S2-S6, reference model', ref));
    } finally {
      await close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
