/**
 * The gateway's shared state as one interface with two implementations (issue 15): SQLite (`sqlite/`), the
 * zero-setup default in STATE_DIR, and PostgreSQL (`postgres/`, DATABASE_URL=postgres://...), which many
 * replicas share. Both pass one conformance suite (test/integration/store-conformance.test.ts). Everything is
 * async because a network database is; the SQLite implementation answers from the same call stack.
 */
import type { BenchmarkConfig, CurvePoint, JobStatus, SampleRecord } from '../bench/types.ts';

/** A registered dataset row. */
export interface DatasetRow {
  id: string;
  name: string;
  root: string;
  layout: string;
  modality: string;
  /** Loader options (class map, axis, window...) as given at registration. */
  options: Record<string, unknown>;
  stats: unknown;
  problems: unknown[];
  createdAt: string;
}

/** A job row. */
export interface JobRow {
  id: string;
  datasetId: string;
  config: BenchmarkConfig;
  status: JobStatus;
  /** Samples the job will produce in total (0 until planned). */
  total: number;
  error: string | null;
  /** The replica holding the job's lease (`host/pid/uuid`), or null when none does. */
  leaseOwner: string | null;
  /** When that lease ends, in ms since the epoch of the store's clock (null without a lease). */
  leaseExpiresMs: number | null;
  /** True once someone asked the job to stop; the runner holding the lease sees it at its next renewal. */
  cancelRequested: boolean;
  /**
   * The API caller that started it (principal kind:id), or null for jobs started by the CLI or stored before
   * owners existed (those are visible to admins only through the API).
   */
  owner: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A stored prompt for one object, strategy, mode, randomness and seed: reused by every model and job. */
export interface StoredPrompt {
  prompt: unknown;
  failure: string | null;
}

/** Key of a stored prompt set. */
export interface PromptKey {
  datasetId: string;
  objectId: string;
  strategy: string;
  mode: string;
  randomness: string;
  seed: number;
}

/** One interactive curve: a model x protocol x object, clicks ascending. */
export interface StoredCurve {
  model: string;
  protocol: string;
  objectId: string;
  points: CurvePoint[];
}

/** What a lease renewal learned: whether the lease is still ours, and whether a cancel was asked for. */
export interface LeaseState {
  held: boolean;
  cancelRequested: boolean;
}

/**
 * One entry of the expiring record space (namespaces `session`, `volume`, `lowres`, `image`...): JSON
 * metadata, optional bytes, an optimistic version and an expiry.
 */
export interface RecordEntry {
  namespace: string;
  key: string;
  /** JSON-serialisable metadata. */
  value: unknown;
  /** Binary payload (image bytes, logits), or null. */
  bytes: Buffer | null;
  /** Incremented by every write; a write naming another version is refused (compare-and-set). */
  version: number;
  /** Expiry in ms since the epoch; null = never. */
  expiresMs: number | null;
}

/** Status of a fine-tuning job. */
export type FineTuneStatus = 'queued' | 'running' | 'cancelled' | 'completed' | 'failed';

/** What a fine-tuning job was asked to do. */
export interface FineTuneConfig {
  dataset: string;
  baseModel: string;
  /** Name of the model it publishes (`<base>_ft_<dataset>` unless given). */
  modelName: string;
  /** `auto` or `train=..;val=..;test=..` (groups: volumes or patients). */
  split: string;
  epochs: number;
  seed: number;
  /** Trainer threads (CPU). */
  threads: number;
}

/** One finished epoch of a fine-tuning job. */
export interface EpochRow {
  epoch: number;
  loss: number;
  valDice: number;
  /** Seconds of the epoch, validation included. */
  seconds: number;
  /** Seconds in the decoder's forward and backward passes (the rest: loading, loss, optimizer, validation). */
  decoderSeconds: number;
  /** Peak resident memory of the trainer process so far, MiB. */
  peakRssMiB: number;
}

/** Provenance of a model published by a fine-tuning job. */
export interface FineTuneResult {
  modelName: string;
  baseModel: string;
  dataset: string;
  split: string;
  splitGroups: { train: string[]; val: string[]; test: string[] };
  epochs: number;
  bestEpoch: number;
  valDice: number;
  baseValDice: number;
  exportMaxAbsDiff: number;
  date: string;
}

/** The split a fine-tuning job uses (image ids, and the groups they came from). */
export interface FineTuneSplit {
  train: string[];
  val: string[];
  test: string[];
  groups: Record<string, string[]>;
}

/** A stored fine-tuning job. */
export interface FineTuneJobRow {
  id: string;
  config: FineTuneConfig;
  status: FineTuneStatus;
  split: FineTuneSplit | null;
  history: EpochRow[];
  baseValDice: number | null;
  result: FineTuneResult | null;
  errorCode: string | null;
  error: string | null;
  /** The API caller that started it (principal kind:id), or null for the CLI. */
  owner: string | null;
  /** The replica holding the job's lease, or null. */
  leaseOwner: string | null;
  /** When that lease ends, in ms since the epoch of the store's clock (null without a lease). */
  leaseExpiresMs: number | null;
  /** True once someone asked the job to stop; the holder hears it on the cancel channel or at its renewal. */
  cancelRequested: boolean;
  createdAt: string;
  updatedAt: string;
}

/**
 * A change to a fine-tuning job; fields left out keep their value. A terminal status or `queued` drops the
 * lease and the cancel request (`queued`: another replica may take the job at once).
 */
export interface FineTunePatch {
  status?: FineTuneStatus;
  /** The error of a failure or cancellation (null clears it). */
  error?: { code: string; message: string } | null;
  split?: FineTuneSplit;
  history?: EpochRow[];
  baseValDice?: number | null;
  result?: FineTuneResult;
}

/** Bounds checked atomically with the insert of a fine-tuning job. */
export interface FineTuneCreate {
  /** The API caller that starts it (null: the CLI). */
  owner: string | null;
  /** The replica that runs it, leased from the start so that no sweeper takes it first. */
  lease: { owner: string; ttlMs: number };
  /** Most queued or running jobs of `owner` (StoreError LIMIT_EXCEEDED beyond); unbounded when absent. */
  maxActivePerOwner?: number;
}

/** Called with each payload published on a channel. */
export type ChannelListener = (payload: string) => void;

/** Which engine a store runs on. */
export type StoreKind = 'sqlite' | 'postgres';

/** The shared state of the gateway. */
export interface StateStore {
  readonly kind: StoreKind;
  /** The schema version after the start-up migrations. */
  schemaVersion(): Promise<number>;
  /** Closes connections and listeners. */
  close(): Promise<void>;
  /** Throws when the database cannot answer (readiness). */
  ping(): Promise<void>;

  /** Inserts or replaces a dataset registration. */
  putDataset(row: Omit<DatasetRow, 'createdAt'> & { createdAt?: string }): Promise<DatasetRow>;
  /** A dataset by id, or undefined. */
  getDataset(id: string): Promise<DatasetRow | undefined>;
  /** Every registered dataset, oldest first. */
  listDatasets(): Promise<DatasetRow[]>;

  /**
   * Creates a queued job (StoreError CONFLICT when the id exists), already leased to `lease.owner` when
   * given, so no other replica's sweeper can take it between creation and start. `owner` is the API caller
   * that started it (none for the CLI). With `maxActivePerOwner`, StoreError LIMIT_EXCEEDED when `owner`
   * already has that many queued or running jobs: the count and the insert are one step for every replica.
   */
  createJob(
    id: string,
    config: BenchmarkConfig,
    lease?: { owner: string; ttlMs: number },
    owner?: string | null,
    maxActivePerOwner?: number,
  ): Promise<JobRow>;
  /** A job by id, or undefined. */
  getJob(id: string): Promise<JobRow | undefined>;
  /** Jobs, newest first, optionally only those with a status. */
  listJobs(status?: JobStatus): Promise<JobRow[]>;
  /**
   * Sets a job's status (and error message for failures). A terminal status also drops the lease and the
   * cancel request; `queued` drops the cancel request (a resume). Throws when the job does not exist.
   */
  setJobStatus(id: string, status: JobStatus, error?: string | null): Promise<void>;
  /** Records how many samples a job plans in total. */
  setJobTotal(id: string, total: number): Promise<void>;

  /**
   * Takes the lease of a queued or running job for `ttlMs` when nobody holds a live one (or `owner` already
   * does, or `stale(owner)` says the holder is gone). Atomic: of two replicas claiming at once exactly one
   * gets true.
   */
  claimJob(id: string, owner: string, ttlMs: number, stale?: (owner: string) => boolean): Promise<boolean>;
  /**
   * Re-queues a cancelled or failed job already leased to `owner` (clearing its error and cancel request),
   * in one step so that no other replica takes it in between; false when the job is not cancelled or failed.
   */
  requeueJob(id: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Extends `owner`'s lease by `ttlMs`; `held` false when another replica took it or the job ended. */
  renewLease(id: string, owner: string, ttlMs: number): Promise<LeaseState>;
  /** Drops `owner`'s lease (no-op when it is not theirs). */
  releaseLease(id: string, owner: string): Promise<void>;
  /** Asks a job to stop wherever it runs; false when it is unknown or already finished. */
  requestCancel(id: string): Promise<boolean>;
  /** Ids of queued or running jobs whose lease is free or expired, oldest first. */
  claimableJobs(stale?: (owner: string) => boolean): Promise<string[]>;

  /** The stored prompt for a key, or undefined. */
  getPrompt(key: PromptKey): Promise<StoredPrompt | undefined>;
  /** Stores a prompt unless one exists for the key, and returns the stored one (the first writer wins). */
  putPrompt(key: PromptKey, value: StoredPrompt): Promise<StoredPrompt>;

  /** Keys `model|strategy|object|variant` of the samples a job already stored. */
  doneKeys(jobId: string): Promise<Set<string>>;
  /**
   * Stores one sample and its curve in one transaction. Returns false (and writes nothing) when the sample
   * was already stored: the unique key makes a double write impossible, whichever replica tries. With
   * `leaseOwner`, the write is fenced: StoreError CONFLICT (nothing written) unless that owner still holds
   * the job's lease, so a replica that lost its lease (paused past expiry) cannot write beside the new holder.
   */
  putSample(
    sample: SampleRecord,
    curve?: { protocol: string; points: CurvePoint[] },
    leaseOwner?: string,
  ): Promise<boolean>;
  /** Number of samples a job has stored, optionally only those with a status. */
  countSamples(jobId: string, status?: 'ok' | 'failed'): Promise<number>;
  /** Every sample of a job, in insertion order. */
  listSamples(jobId: string): Promise<SampleRecord[]>;
  /** Interactive curves of a job: one entry per model x protocol x object, clicks ascending. */
  listCurves(jobId: string): Promise<StoredCurve[]>;

  /**
   * Creates a queued fine-tuning job leased to `create.lease.owner`. The per-caller bound and the model name
   * are checked in the same transaction as the insert, so two replicas starting at once cannot both pass:
   * StoreError LIMIT_EXCEEDED when `owner` has `maxActivePerOwner` queued or running jobs, CONFLICT when a
   * queued or running job already trains `config.modelName` or the id exists.
   */
  createFineTuneJob(id: string, config: FineTuneConfig, create: FineTuneCreate): Promise<FineTuneJobRow>;
  /** A fine-tuning job by id, or undefined. */
  getFineTuneJob(id: string): Promise<FineTuneJobRow | undefined>;
  /** Every fine-tuning job, newest first. */
  listFineTuneJobs(): Promise<FineTuneJobRow[]>;
  /**
   * Applies a patch (see {@link FineTunePatch}). With `leaseOwner` the write is fenced: StoreError CONFLICT
   * (nothing written) unless that replica still holds the lease. NOT_FOUND for an unknown job.
   */
  updateFineTuneJob(id: string, patch: FineTunePatch, leaseOwner?: string): Promise<void>;
  /** {@link claimJob} for a fine-tuning job. */
  claimFineTuneJob(
    id: string,
    owner: string,
    ttlMs: number,
    stale?: (owner: string) => boolean,
  ): Promise<boolean>;
  /** {@link requeueJob} for a fine-tuning job (clears its error code too). */
  requeueFineTuneJob(id: string, owner: string, ttlMs: number): Promise<boolean>;
  /** {@link renewLease} for a fine-tuning job. */
  renewFineTuneLease(id: string, owner: string, ttlMs: number): Promise<LeaseState>;
  /** {@link requestCancel} for a fine-tuning job. */
  requestFineTuneCancel(id: string): Promise<boolean>;
  /** {@link claimableJobs} for fine-tuning jobs. */
  claimableFineTuneJobs(stale?: (owner: string) => boolean): Promise<string[]>;

  /**
   * Writes a record. `expectVersion` undefined writes unconditionally; a number writes only when the stored
   * version equals it (0 = must not exist). Returns the new version, or null when the condition failed.
   */
  putRecord(entry: Omit<RecordEntry, 'version'>, expectVersion?: number): Promise<number | null>;
  /** A live record, or undefined when missing or expired; `touchMs` slides its expiry to now + touchMs. */
  getRecord(namespace: string, key: string, touchMs?: number): Promise<RecordEntry | undefined>;
  /** Deletes a record; true when it existed. */
  deleteRecord(namespace: string, key: string): Promise<boolean>;
  /** Live records of a namespace (optionally whose key starts with `prefix`). */
  countRecords(namespace: string, prefix?: string): Promise<number>;
  /** Live records of a namespace (optionally whose key starts with `prefix`), in key order. */
  listRecords(namespace: string, prefix?: string): Promise<RecordEntry[]>;
  /**
   * Writes a new record (which must not exist live) only while fewer than `max` live records of its
   * namespace have keys starting with `prefix`, counted in the same transaction as the insert, so that
   * replicas racing for the last slot of a bound cannot both take it. Returns the version (1), or null when
   * the bound is reached or the record exists.
   */
  putRecordBounded(entry: Omit<RecordEntry, 'version'>, prefix: string, max: number): Promise<number | null>;
  /** Deletes expired records; returns how many. */
  sweepRecords(): Promise<number>;

  /**
   * Takes one token from `caller`'s bucket (`burst` tokens, refilled at `ratePerSecond`), atomically for
   * every replica: the rate limit holds per caller across the deployment. Returns whether the request may
   * proceed and the tokens left (fractional; below 1 means the next request waits).
   */
  takeToken(
    caller: string,
    ratePerSecond: number,
    burst: number,
  ): Promise<{ allowed: boolean; tokens: number }>;

  /** Publishes a payload (at most 7 KiB) to every listener of the channel, on every replica. */
  publish(channel: string, payload: string): Promise<void>;
  /** Listens on a channel; resolves once listening, with a function that stops it. */
  listen(channel: string, listener: ChannelListener): Promise<() => Promise<void>>;
}

/** A store error that names what was wrong (bad argument, unknown row, database unreachable). */
export class StoreError extends Error {
  constructor(
    message: string,
    /** `NOT_FOUND`, `CONFLICT`, `BAD_REQUEST`, `LIMIT_EXCEEDED` (a bound) or `UNAVAILABLE`. */
    readonly code: 'NOT_FOUND' | 'CONFLICT' | 'BAD_REQUEST' | 'LIMIT_EXCEEDED' | 'UNAVAILABLE',
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** The identity of a sample within a job, as {@link StateStore.doneKeys} lists it. */
export function sampleKey(model: string, strategy: string, objectId: string, variant: number): string {
  return `${model}|${strategy}|${objectId}|${variant}`;
}

/** Largest payload of {@link StateStore.publish} in bytes (PostgreSQL's NOTIFY limit is 8000). */
export const MAX_PAYLOAD_BYTES = 7168;

/** Checks a publish payload's size; throws StoreError otherwise. */
export function checkPayload(channel: string, payload: string): void {
  if (!/^[\w:.-]{1,128}$/.test(channel)) {
    throw new StoreError(
      `channel must be 1-128 of [A-Za-z0-9_:.-], got '${channel.slice(0, 40)}'`,
      'BAD_REQUEST',
    );
  }
  const bytes = Buffer.byteLength(payload);
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new StoreError(`payload of ${bytes} bytes exceeds ${MAX_PAYLOAD_BYTES}`, 'BAD_REQUEST');
  }
}

/** The refusal of a job over its caller's bound of queued and running benchmark jobs (MAX_JOBS_PER_CALLER). */
export function activeJobsLimit(running: number, max: number): StoreError {
  return new StoreError(
    `this caller runs ${running} benchmark jobs (limit ${max} per caller); wait or cancel one`,
    'LIMIT_EXCEEDED',
  );
}
