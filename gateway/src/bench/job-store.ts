/**
 * The benchmark engine's view of the state store (gateway/src/store): registered datasets, jobs, reusable
 * prompt sets, per-sample results and interactive curves. Every finished sample is committed on its own,
 * and a unique key on (job, model, strategy, object, variant) makes a repeated sample impossible, so a job
 * killed at any point, on any replica, resumes exactly where its last commit left it.
 */
import type { StateStore } from '../store/state-store.ts';

export type { DatasetRow, JobRow, PromptKey, StoredCurve, StoredPrompt } from '../store/state-store.ts';
export { sampleKey } from '../store/state-store.ts';

/** The store the benchmark engine runs on: SQLite (default) or PostgreSQL. */
export type JobStore = StateStore;
