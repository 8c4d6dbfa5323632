/**
 * A benchmark replica as a child process, for the lease tests (replica-leases.test.ts): opens the store at
 * DB (a postgres:// URL or a SQLite file), and either starts job JOB on dataset DIR (`start`) or only sweeps
 * for claimable jobs (`sweep`). Prints `done N/T` per stored sample, `picked JOB` when it takes a job over,
 * and `summary {...}` (with the fake segmenter's prompt count) when a job it runs ends. Usage:
 *   node --import tsx replica-child.ts start|sweep DB DIR JOB DELAY_MS LEASE_MS
 * DELAY_MS is the fake decoder's delay per prompt set (the runner decodes an image's objects in one call).
 */
import { BenchmarkService } from '../../gateway/src/bench/benchmark-service.ts';
import type { BenchmarkHandle } from '../../gateway/src/bench/runner.ts';
import { openStore } from '../../gateway/src/store/open-store.ts';
import { createFakeSegmenter } from '../unit/bench/fake-segmenter.ts';

const [action, db, dir, jobId, delay, leaseMs] = process.argv.slice(2);
const store = await openStore({
  databaseUrl: db.startsWith('postgres') ? db : undefined,
  stateDir: db,
  connectTimeoutMs: 30_000,
});
const segmenter = createFakeSegmenter({ promptDelayMs: Number(delay) });
const follow = (h: BenchmarkHandle): void => {
  h.events.on('event', (e) => {
    if (e.type === 'progress') process.stdout.write(`done ${e.done}/${e.total}\n`);
  });
  void h.done.then((s) => {
    process.stdout.write(`summary ${JSON.stringify({ ...s, promptSets: segmenter.calls.promptSets })}\n`);
  });
};
const service = new BenchmarkService(store, segmenter, {
  leaseMs: Number(leaseMs),
  onEvent: (e) => {
    if (e.type !== 'resumed') return;
    process.stdout.write(`picked ${e.jobId}\n`);
    follow(e.handle);
  },
});
if (action === 'start') {
  await service.addDataset(dir, { id: 'lease-data' });
  follow(
    await service.start({ dataset: 'lease-data', models: ['slow'], strategies: ['S2', 'S3', 'S5'] }, jobId),
  );
} else {
  await service.startSweeper();
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void service.drain(true).then(() => store.close().then(() => process.exit(0)));
});
