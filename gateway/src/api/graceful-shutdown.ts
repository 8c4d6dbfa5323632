/**
 * Shutdown helpers for SIGTERM: benchmark jobs are stopped after the sample in flight and left `queued`, so
 * the next start resumes them (every stored sample is kept and never recomputed); the whole stop is bounded
 * by a grace period so that a stuck connection cannot keep the process from exiting.
 */
import type { JobRow } from '../bench/job-store.ts';
import type { JobStatus } from '../bench/types.ts';

/** The part of BenchmarkService that a checkpoint needs. */
export interface CheckpointableJobs {
  store: {
    getJob(id: string): Promise<JobRow | undefined>;
    setJobStatus(id: string, status: JobStatus, error?: string | null): Promise<void>;
  };
  /** Jobs running in this process (other replicas' jobs are theirs to checkpoint). */
  localJobs(): string[];
  drain(cancel?: boolean): Promise<void>;
}

/**
 * Stops every running benchmark job at a sample boundary and marks it `queued` so that
 * `BenchmarkService.resumeInterrupted()` picks it up on the next start. Returns the ids checkpointed.
 */
export async function checkpointBenchmarkJobs(jobs: CheckpointableJobs): Promise<string[]> {
  const running = jobs.localJobs();
  await jobs.drain(true);
  const checkpointed: string[] = [];
  for (const id of running) {
    // A job that finished while draining stays completed; only the ones the drain stopped are re-queued.
    if ((await jobs.store.getJob(id))?.status === 'cancelled') {
      // Queued without a lease: another replica (or this one's next start) picks it up at once.
      await jobs.store.setJobStatus(id, 'queued', null);
      checkpointed.push(id);
    }
  }
  return checkpointed;
}

/** Runs `stop`, but resolves 'timeout' after `graceMs` if it has not finished by then. */
export async function withinGrace(
  stop: () => Promise<void>,
  graceMs: number,
): Promise<'stopped' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs);
  });
  try {
    return await Promise.race([stop().then(() => 'stopped' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
