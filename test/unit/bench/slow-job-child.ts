/**
 * Child process for the crash test (test/integration/bench-crash-resume.test.ts): `start` registers the
 * dataset and runs a job with a slow fake Segmenter, printing one line per stored sample; `resume` resumes
 * every interrupted job and prints how many samples it computed. Usage:
 *   node --import tsx slow-job-child.ts start|resume DB DATASET_DIR DELAY_MS
 */
import { registerDataset } from '../../../gateway/src/bench/datasets/registry.ts';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';
import {
  resumeInterruptedJobs,
  startBenchmark,
  type BenchmarkHandle,
} from '../../../gateway/src/bench/runner.ts';
import { createFakeSegmenter } from './fake-segmenter.ts';

const [action, db, datasetDir, delay] = process.argv.slice(2);
const store = new SqliteStore(db);
const segmenter = createFakeSegmenter({ decodeDelayMs: Number(delay) });
let handles: BenchmarkHandle[];
if (action === 'start') {
  await registerDataset(store, datasetDir, { id: 'crash' });
  handles = [
    await startBenchmark(
      { dataset: 'crash', models: ['slow'], strategies: ['S2', 'S3', 'S5'] },
      { store, segmenter, jobId: 'crash-job' },
    ),
  ];
} else {
  handles = await resumeInterruptedJobs({ store, segmenter });
}
for (const h of handles) {
  h.events.on('event', (e) => {
    if (e.type === 'progress') process.stdout.write(`done ${e.done}/${e.total}\n`);
  });
  const s = await h.done;
  process.stdout.write(`summary ${JSON.stringify({ ...s, promptSets: segmenter.calls.promptSets })}\n`);
}
process.stdout.write(`resumed ${handles.length}\n`);
await store.close();
