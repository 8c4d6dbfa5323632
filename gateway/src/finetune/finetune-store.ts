/**
 * The fine-tuning engine's view of the state store (gateway/src/store): fine-tuning jobs live in the shared
 * store beside the benchmark's jobs (table `finetune_jobs`, schema version 5), so every replica lists them,
 * streams their progress, cancels them and reads their results, and a job survives a restart.
 */
export type {
  EpochRow,
  FineTuneConfig,
  FineTuneJobRow,
  FineTunePatch,
  FineTuneResult,
  FineTuneSplit,
  FineTuneStatus,
} from '../store/state-store.ts';
