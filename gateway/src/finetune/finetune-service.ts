/**
 * Fine-tuning jobs: the mask decoder of a served SAM-family model trained on a registered dataset with the
 * recipe of "Segment Anything Model for Medical Images?" (trainer/), then published as a new model beside
 * its base and served without a restart.
 *
 * A job: checks its inputs (dataset, base model, split, objects) before anything is stored; encodes the
 * training and validation images with the gateway's own encoder and embedding cache (the trainer never
 * re-implements the encoder) and writes one sample file per image (embedding, a box prompt per object, the
 * object masks); runs the trainer process (checkpoint each epoch, best by validation Dice); checks the
 * exported ONNX decoder against PyTorch with ONNX Runtime; publishes it (staged, renamed in); waits until the
 * server lists it ready. Every step can be resumed: a cancelled, failed or interrupted job continues from
 * its last checkpoint, and sample files already written are reused.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetError, type Dataset } from '../bench/datasets/dataset.ts';
import { openRegisteredDataset, slug } from '../bench/datasets/registry.ts';
import type { JobStore } from '../bench/job-store.ts';
import { isStaleLocalOwner, newReplicaId } from '../bench/benchmark-service.ts';
import { StoreError } from '../store/state-store.ts';
import { maskBounds } from '../core/mask.ts';
import { mapPointStretched, mapPointToModel } from '../core/sam-transform.ts';
import type { EmbeddingCache } from '../sam/embedding-cache.ts';
import type { SamSession } from '../sam/session.ts';
import type {
  EpochRow,
  FineTuneConfig,
  FineTuneJobRow,
  FineTunePatch,
  FineTuneResult,
  FineTuneStatus,
} from './finetune-store.ts';
// Only the type: onnx-check loads ONNX Runtime, which runs in a child process (see checkExport).
import type { DecoderComparison } from './onnx-check.ts';
import { MODEL_NAME, modelFolders, PublishError, publishModel } from './publish.ts';
import { splitDataset, SplitError, type DatasetSplit } from './split.ts';
import { writeTensorFile } from './tensor-file.ts';
import { TrainerError, TrainerProcess, type TrainerEvent } from './trainer-process.ts';

/**
 * Largest export difference accepted between PyTorch (float64) and ONNX Runtime on the probe: 1e-4 of the
 * logits' scale (see scaledDifference; the absolute difference is recorded too).
 */
export const EXPORT_TOLERANCE = 1e-4;
/** Most epochs one job may ask for. */
export const MAX_EPOCHS = 1000;

/**
 * The largest difference of a comparison relative to its outputs' scale: max over outputs of
 * maxAbsDiff / max(1, maxAbs). ONNX Runtime's own float32 rounding grows with the logits' magnitude (about
 * 3e-6 of it on real cardiac slices), while a wrong weight moves outputs by a large fraction of it.
 */
export function scaledDifference(c: DecoderComparison): number {
  return Math.max(...Object.keys(c.maxAbsDiff).map((k) => c.maxAbsDiff[k] / Math.max(1, c.maxAbs[k] ?? 0)));
}

/** Why fine-tuning refused or failed; the API's error table (api/errors.ts) maps these onto public codes. */
export type FineTuneErrorCode =
  | 'RESOURCE_EXHAUSTED'
  | 'NOT_FOUND'
  | 'BAD_REQUEST'
  | 'ALREADY_EXISTS'
  | 'NO_OBJECTS'
  | 'EMPTY_DATASET'
  | 'BAD_DATASET'
  | 'BAD_SPLIT'
  | 'MODEL_NOT_FOUND'
  | 'LIMIT_EXCEEDED'
  | 'CANCELLED'
  | 'EXPORT_MISMATCH'
  | 'INTERNAL';

/** A fine-tuning failure with its own code. */
export class FineTuneError extends Error {
  constructor(
    readonly code: FineTuneErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FineTuneError';
  }
}

/** What a caller asks for. */
export interface FineTuneInput {
  dataset: string;
  baseModel: string;
  split?: string;
  epochs: number;
  seed?: number;
  modelName?: string;
  threads?: number;
}

/** Progress of a job: one event per epoch (and the base model's validation Dice), then its final status. */
export type FineTuneEvent =
  | {
      type: 'epoch';
      jobId: string;
      epochs: number;
      row: EpochRow;
      bestValDice: number;
      baseValDice: number | null;
    }
  | { type: 'status'; jobId: string; status: FineTuneStatus; errorCode: string | null; error: string | null };

/** The services a job uses. */
export interface FineTuneDeps {
  /** The shared state store: datasets and fine-tuning jobs (SQLite by default, PostgreSQL across replicas). */
  jobStore: JobStore;
  /** This replica's lease owner id (default `host/pid/uuid`; the gateway passes its benchmark service's). */
  replicaId?: string;
  /** Lease length in ms (default 30000): a dead replica's job is taken over after this. */
  leaseMs?: number;
  /** How often a lease is renewed, the sweeper looks for jobs and a watcher re-reads a job, in ms (default leaseMs/3). */
  pollMs?: number;
  /** Most queued or running jobs of one API caller across every replica (default unbounded). */
  maxJobsPerCaller?: number;
  session: SamSession;
  cache: EmbeddingCache;
  /** The model repository folder the embedded server (or Triton, in poll mode) serves. */
  repository: string;
  /** Work folders of jobs go under `<stateDir>/finetune/`. */
  stateDir: string;
  /** Trainer threads (default 2). */
  threads?: number;
  /** Environment of the trainer and check processes (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Jobs running at once on this replica (default 1); a start beyond is RESOURCE_EXHAUSTED. */
  maxRunning?: number;
  /** How long to wait for a published model to be listed ready (default 120 s). */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

interface Running {
  cancelled: boolean;
  /** Stopped by a shutdown rather than a user: left queued, for any replica to resume. */
  requeue: boolean;
  /** Another replica holds the lease now: stop without writing anything more. */
  lost: boolean;
  trainer?: TrainerProcess;
  done: Promise<void>;
  /** Publishes one at a time, so events keep their order across pooled connections. */
  chain: Promise<void>;
}

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/medseg.js');
const CANCEL_CHANNEL = 'finetune-cancel';
const TERMINAL: ReadonlySet<FineTuneStatus> = new Set<FineTuneStatus>(['completed', 'failed', 'cancelled']);
/** Longest error message carried in an event (a store payload is at most 7 KiB; the row keeps it whole). */
const EVENT_ERROR_CHARS = 2000;

/** The store channel carrying one fine-tuning job's events. */
export function fineTuneChannel(jobId: string): string {
  return `finetune:${jobId.replace(/[^\w:.-]/g, '_').slice(0, 100)}`;
}

/**
 * Fine-tuning jobs over one store, session and model repository. Jobs live in the shared store (issue 15):
 * a job runs on the replica holding its lease, which renews it; any replica lists it, streams its progress
 * (store channels, with the row re-read so a missed notification never loses the end), cancels it (store
 * flag and cancel channel) and reads its result. A sweeper takes over the job of a replica that died once
 * its lease runs out; the new holder starts the training again in a work folder of its own.
 */
export class FineTuneService {
  /** This replica's lease owner id. */
  readonly replicaId: string;
  private readonly running = new Map<string, Running>();
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();
  private stopCancelListener: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(private readonly deps: FineTuneDeps) {
    this.replicaId = deps.replicaId ?? newReplicaId();
    this.leaseMs = deps.leaseMs ?? 30_000;
    this.pollMs = deps.pollMs ?? Math.max(50, Math.floor(this.leaseMs / 3));
  }

  private get store(): JobStore {
    return this.deps.jobStore;
  }

  /**
   * Checks the input, stores a queued job leased to this replica and starts it; bad input throws
   * FineTuneError and stores nothing. `owner` (an API caller) is bounded by `maxJobsPerCaller` across every
   * replica, checked atomically with the insert.
   */
  async start(input: FineTuneInput, owner: string | null = null): Promise<FineTuneJobRow> {
    this.checkCapacity();
    const config = await this.validate(input);
    const id = randomUUID();
    try {
      await this.store.createFineTuneJob(id, config, {
        owner,
        lease: { owner: this.replicaId, ttlMs: this.leaseMs },
        ...(owner !== null && this.deps.maxJobsPerCaller !== undefined
          ? { maxActivePerOwner: this.deps.maxJobsPerCaller }
          : {}),
      });
    } catch (err: unknown) {
      if (err instanceof StoreError && err.code === 'LIMIT_EXCEEDED')
        throw new FineTuneError('LIMIT_EXCEEDED', err.message);
      if (err instanceof StoreError && err.code === 'CONFLICT')
        throw new FineTuneError('ALREADY_EXISTS', err.message);
      throw err;
    }
    this.launch(id);
    return (await this.store.getFineTuneJob(id))!;
  }

  /**
   * Resumes a cancelled, failed or interrupted job on this replica from its last checkpoint here (from the
   * start when it last ran elsewhere). A job another live replica runs is BAD_REQUEST.
   */
  async resume(jobId: string): Promise<FineTuneJobRow> {
    const job = await this.store.getFineTuneJob(jobId);
    if (!job) throw new FineTuneError('NOT_FOUND', `no fine-tuning job '${jobId}'`);
    if (this.running.has(jobId)) throw new FineTuneError('BAD_REQUEST', `job '${jobId}' is already running`);
    if (job.status === 'completed') throw new FineTuneError('BAD_REQUEST', `job '${jobId}' has completed`);
    this.checkCapacity();
    const claimed =
      job.status === 'queued' || job.status === 'running'
        ? await this.store.claimFineTuneJob(jobId, this.replicaId, this.leaseMs, this.stale)
        : await this.store.requeueFineTuneJob(jobId, this.replicaId, this.leaseMs);
    if (!claimed) {
      throw new FineTuneError('BAD_REQUEST', `job '${jobId}' is running on another replica`);
    }
    this.launch(jobId);
    return (await this.store.getFineTuneJob(jobId))!;
  }

  /**
   * Claims and starts jobs left queued or running by a stop, a crash or a replica that died (their lease is
   * free or has run out), at most `limit` (default: the room left under `maxRunning`). Returns their ids.
   */
  async resumeInterrupted(limit?: number): Promise<string[]> {
    let room = limit ?? (this.deps.maxRunning ?? 1) - this.running.size;
    const ids: string[] = [];
    for (const id of await this.store.claimableFineTuneJobs(this.stale)) {
      if (room <= 0 || this.closed) break;
      if (this.running.has(id)) continue;
      if (!(await this.store.claimFineTuneJob(id, this.replicaId, this.leaseMs, this.stale))) continue;
      this.launch(id);
      ids.push(id);
      room--;
    }
    return ids;
  }

  /**
   * Starts the background work of a replica: a sweeper that takes over claimable jobs every `pollMs`, and a
   * listener that hears cancels of jobs running here (the lease renewal hears them too).
   */
  async startSweeper(onError?: (err: unknown) => void): Promise<void> {
    if (this.sweeper || this.closed) return;
    this.stopCancelListener = await this.store
      .listen(CANCEL_CHANNEL, (jobId) => {
        const r = this.running.get(jobId);
        if (r) this.stopLocal(r);
      })
      .catch((err: unknown) => {
        onError?.(err);
        return undefined;
      });
    this.sweeper = setInterval(() => {
      this.sweeping = this.sweeping
        .then(async () => {
          for (const id of await this.resumeInterrupted())
            (this.deps.log ?? (() => {}))(`fine-tuning ${id}: taken over by ${this.replicaId}`);
        })
        .catch((err: unknown) => onError?.(err));
    }, this.pollMs);
    this.sweeper.unref();
  }

  /**
   * Asks a job to stop wherever it runs (it ends as `cancelled`): at once when it runs here, through the
   * store otherwise; a queued job nobody holds is cancelled directly. False when it is unknown or finished.
   */
  async cancel(jobId: string): Promise<boolean> {
    const r = this.running.get(jobId);
    if (r) {
      this.stopLocal(r);
      return true;
    }
    if (!(await this.store.requestFineTuneCancel(jobId))) return false;
    const job = await this.store.getFineTuneJob(jobId);
    if (job && job.leaseOwner === null) {
      const error = { code: 'CANCELLED', message: 'cancelled before any replica started it' };
      await this.store.updateFineTuneJob(jobId, { status: 'cancelled', error });
      await this.publish(jobId, undefined, {
        type: 'status',
        jobId,
        status: 'cancelled',
        errorCode: error.code,
        error: error.message,
      });
    } else {
      await this.store.publish(CANCEL_CHANNEL, jobId).catch(() => {});
    }
    return true;
  }

  /** A stored job. */
  job(jobId: string): Promise<FineTuneJobRow | undefined> {
    return this.store.getFineTuneJob(jobId);
  }

  /** Stored jobs, newest first. */
  jobs(): Promise<FineTuneJobRow[]> {
    return this.store.listFineTuneJobs();
  }

  /** The completed job that published a model, or undefined for any other model. */
  async byModel(modelName: string): Promise<FineTuneJobRow | undefined> {
    return (await this.jobs()).find((j) => j.status === 'completed' && j.result?.modelName === modelName);
  }

  /** The provenance of a published fine-tuned model, or undefined for any other model. */
  async provenance(modelName: string): Promise<FineTuneResult | undefined> {
    return (await this.byModel(modelName))?.result ?? undefined;
  }

  /** Resolves when a job running here has stopped (at once when none is). */
  async settled(jobId: string): Promise<FineTuneJobRow | undefined> {
    await this.running.get(jobId)?.done;
    return this.store.getFineTuneJob(jobId);
  }

  /**
   * Stops the sweeper and waits for every running job to stop; with `stop` (a shutdown), asks them to stop
   * first and leaves them queued without a lease, so that any replica continues them.
   */
  async drain(stop = false): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.sweeping;
    await this.stopCancelListener?.().catch(() => {});
    const all = [...this.running.values()];
    if (stop) {
      for (const r of all) {
        r.requeue = true;
        this.stopLocal(r);
      }
    }
    await Promise.all(all.map((r) => r.done));
  }

  /**
   * Events of a job, on any replica: every stored epoch first, then live ones until it ends with a status
   * event (completed, failed or cancelled). Live events come from the store's channel; the row is re-read
   * every `pollMs`, so a lost notification delays an event but never loses it or the end.
   */
  async *events(jobId: string): AsyncGenerator<FineTuneEvent> {
    const queue: FineTuneEvent[] = [];
    let wake: (() => void) | undefined;
    const stop = await this.store.listen(fineTuneChannel(jobId), (payload) => {
      try {
        queue.push(JSON.parse(payload) as FineTuneEvent);
      } catch {
        return;
      }
      wake?.();
    });
    try {
      const first = await this.store.getFineTuneJob(jobId);
      if (!first) throw new FineTuneError('NOT_FOUND', `no fine-tuning job '${jobId}'`);
      const seen = new Set<number>();
      let best = first.baseValDice ?? 0;
      let status: FineTuneStatus = first.status;
      const stored = function* (job: FineTuneJobRow): Generator<FineTuneEvent> {
        for (const row of job.history) {
          if (seen.has(row.epoch)) continue;
          seen.add(row.epoch);
          best = Math.max(best, row.valDice);
          yield {
            type: 'epoch',
            jobId,
            epochs: job.config.epochs,
            row,
            bestValDice: best,
            baseValDice: job.baseValDice,
          };
        }
      };
      const final = (job: FineTuneJobRow): FineTuneEvent => ({
        type: 'status',
        jobId,
        status: job.status,
        errorCode: job.errorCode,
        error: job.error,
      });
      yield* stored(first);
      if (TERMINAL.has(first.status)) {
        yield final(first);
        return;
      }
      for (;;) {
        while (queue.length > 0) {
          const e = queue.shift()!;
          if (e.type === 'epoch') {
            if (seen.has(e.row.epoch)) continue;
            seen.add(e.row.epoch);
            best = Math.max(best, e.bestValDice);
            yield e;
            continue;
          }
          if (e.status === status && !TERMINAL.has(e.status)) continue;
          status = e.status;
          yield e;
          if (TERMINAL.has(e.status)) return;
        }
        await new Promise<void>((w) => {
          const timer = setTimeout(w, this.pollMs);
          wake = () => {
            clearTimeout(timer);
            w();
          };
        });
        wake = undefined;
        if (queue.length > 0) continue;
        const job = await this.store.getFineTuneJob(jobId);
        if (!job) throw new FineTuneError('NOT_FOUND', `fine-tuning job '${jobId}' was removed`);
        yield* stored(job);
        if (TERMINAL.has(job.status)) {
          yield final(job);
          return;
        }
      }
    } finally {
      await stop();
    }
  }

  /** RESOURCE_EXHAUSTED when this replica already runs `maxRunning` jobs. */
  private checkCapacity(): void {
    const max = this.deps.maxRunning ?? 1;
    if (this.running.size >= max) {
      // Each job holds a trainer process (cores, about 1 GiB): more queue up as an error, not as load.
      throw new FineTuneError(
        'RESOURCE_EXHAUSTED',
        `${this.running.size} fine-tuning job(s) running; at most ${max} at once`,
      );
    }
  }

  // Our own lease on a job not running here is a run that stopped: take it back at once. Jobs running here
  // are skipped before any claim.
  private readonly stale = (owner: string): boolean =>
    owner === this.replicaId || isStaleLocalOwner(owner, this.replicaId);

  private stopLocal(r: Running): void {
    r.cancelled = true;
    r.trainer?.cancel();
  }

  private async validate(input: FineTuneInput): Promise<FineTuneConfig> {
    const epochs = input.epochs;
    if (!Number.isInteger(epochs) || epochs < 1 || epochs > MAX_EPOCHS) {
      throw new FineTuneError('BAD_REQUEST', `epochs must be an integer in 1..${MAX_EPOCHS}, got ${epochs}`);
    }
    const seed = input.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 31 - 1) {
      throw new FineTuneError('BAD_REQUEST', `seed must be an integer in 0..2^31-1, got ${seed}`);
    }
    const dataset = await this.openDataset(input.dataset);
    await this.baseDecoderFile(input.baseModel);
    const modelName = input.modelName ?? `${input.baseModel}_ft_${slug(input.dataset).replace(/-/g, '_')}`;
    if (!MODEL_NAME.test(modelName)) {
      throw new FineTuneError('BAD_REQUEST', `model name '${modelName}' must match ${MODEL_NAME.source}`);
    }
    if (modelFolders(this.deps.repository, modelName).some((d) => existsSync(d))) {
      throw new FineTuneError('ALREADY_EXISTS', `model '${modelName}' already exists; choose another name`);
    }
    const clash = (await this.jobs()).find(
      (j) => j.config.modelName === modelName && !['completed', 'failed', 'cancelled'].includes(j.status),
    );
    if (clash)
      throw new FineTuneError('ALREADY_EXISTS', `job ${clash.id} is already training '${modelName}'`);
    const split = this.split(dataset, input.split ?? 'auto', seed);
    const trainObjects = dataset.objects.filter((o) => split.train.includes(o.imageId)).length;
    if (trainObjects === 0) {
      throw new FineTuneError(
        'NO_OBJECTS',
        `the training images of dataset '${input.dataset}' have no objects`,
      );
    }
    return {
      dataset: input.dataset,
      baseModel: input.baseModel,
      modelName,
      split: split.spec,
      epochs,
      seed,
      threads: input.threads ?? this.deps.threads ?? 2,
    };
  }

  private async openDataset(id: string): Promise<Dataset> {
    try {
      const ds = await openRegisteredDataset(this.deps.jobStore, id);
      if (ds.images.length === 0) throw new FineTuneError('EMPTY_DATASET', `dataset '${id}' has no images`);
      return ds;
    } catch (err: unknown) {
      if (err instanceof DatasetError) {
        throw new FineTuneError(err.code === 'NOT_FOUND' ? 'NOT_FOUND' : 'BAD_DATASET', err.message);
      }
      throw err;
    }
  }

  private split(dataset: Dataset, spec: string, seed: number): DatasetSplit {
    try {
      return splitDataset(
        dataset.images.map((i) => i.id),
        spec,
        seed,
      );
    } catch (err: unknown) {
      if (err instanceof SplitError) throw new FineTuneError(err.code, err.message);
      throw err;
    }
  }

  /** The base model's decoder ONNX file in the repository (its highest version folder). */
  private async baseDecoderFile(baseModel: string): Promise<{ decoder: string; file: string }> {
    let decoder: string;
    try {
      decoder = (await this.deps.session.resolve(baseModel)).decoder;
    } catch (err: unknown) {
      throw new FineTuneError(
        'MODEL_NOT_FOUND',
        `unknown base model '${baseModel}': ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const dir = join(this.deps.repository, decoder);
    const versions = existsSync(dir)
      ? readdirSync(dir)
          .filter((v) => /^\d+$/.test(v) && existsSync(join(dir, v, 'model.onnx')))
          .sort((a, b) => Number(b) - Number(a))
      : [];
    if (versions.length === 0) {
      throw new FineTuneError(
        'MODEL_NOT_FOUND',
        `base model '${baseModel}': no decoder file under ${dir} (fine-tuning reads the served decoder's weights from the model repository)`,
      );
    }
    return { decoder, file: join(dir, versions[0], 'model.onnx') };
  }

  private launch(jobId: string): void {
    const r: Running = {
      cancelled: false,
      requeue: false,
      lost: false,
      done: Promise.resolve(),
      chain: Promise.resolve(),
    };
    this.running.set(jobId, r);
    // The lease is renewed while the job runs; a renewal that finds a cancel request or another holder stops it.
    const renew = setInterval(() => {
      this.store
        .renewFineTuneLease(jobId, this.replicaId, this.leaseMs)
        .then((state) => {
          if (!state.held) r.lost = true;
          if (!state.held || state.cancelRequested) this.stopLocal(r);
        })
        // The database away for a moment: the next renewal tries again; the lease outlives a few misses.
        .catch(() => {});
    }, this.pollMs);
    renew.unref();
    r.done = this.run(jobId, r)
      .catch((err: unknown) =>
        (this.deps.log ?? (() => {}))(
          `fine-tuning ${jobId}: ${err instanceof Error ? err.message : String(err)}`,
        ),
      )
      .finally(async () => {
        clearInterval(renew);
        await r.chain;
        this.running.delete(jobId);
      });
  }

  /** Publishes an event on the job's store channel, after the events before it. */
  private publish(jobId: string, r: Running | undefined, e: FineTuneEvent): Promise<void> {
    const event =
      e.type === 'status' && e.error !== null && e.error.length > EVENT_ERROR_CHARS
        ? { ...e, error: `${e.error.slice(0, EVENT_ERROR_CHARS)}...` }
        : e;
    const send = () => this.store.publish(fineTuneChannel(jobId), JSON.stringify(event)).catch(() => {});
    if (!r) return send();
    r.chain = r.chain.then(send);
    return r.chain;
  }

  /** Writes to the job's row, fenced by this replica's lease (StoreError CONFLICT once another holds it). */
  private async write(jobId: string, r: Running, patch: FineTunePatch): Promise<void> {
    if (r.lost) throw new StoreError(`fine-tuning job '${jobId}' is leased to another replica`, 'CONFLICT');
    try {
      await this.store.updateFineTuneJob(jobId, patch, this.replicaId);
    } catch (err: unknown) {
      if (err instanceof StoreError && err.code === 'CONFLICT') r.lost = true;
      throw err;
    }
  }

  private async setStatus(
    jobId: string,
    r: Running,
    status: FineTuneStatus,
    err?: { code: string; message: string },
  ): Promise<void> {
    await this.write(jobId, r, { status, ...(status === 'running' ? {} : { error: err ?? null }) });
    await this.publish(jobId, r, {
      type: 'status',
      jobId,
      status,
      errorCode: err?.code ?? null,
      error: err?.message ?? null,
    });
  }

  private async run(jobId: string, r: Running): Promise<void> {
    const log = this.deps.log ?? (() => {});
    try {
      const job = (await this.store.getFineTuneJob(jobId))!;
      const { config } = job;
      const work = join(this.deps.stateDir, 'finetune', jobId);
      if (job.result && modelFolders(this.deps.repository, config.modelName).some((d) => existsSync(d))) {
        // Published before its replica stopped: only the final status was missing.
        await this.setStatus(jobId, r, 'completed');
        return;
      }
      // A job taken over from another replica starts again here (its checkpoints are in that replica's work
      // folder): its old epochs go, so that the history is this run's.
      const restart = !existsSync(work) && (job.history.length > 0 || job.baseValDice !== null);
      await this.write(jobId, r, {
        status: 'running',
        error: null,
        ...(restart ? { history: [], baseValDice: null } : {}),
      });
      await this.publish(jobId, r, {
        type: 'status',
        jobId,
        status: 'running',
        errorCode: null,
        error: null,
      });
      const dataset = await this.openDataset(config.dataset);
      const split = this.split(dataset, config.split, config.seed);
      await this.write(jobId, r, { split });
      const base = await this.baseDecoderFile(config.baseModel);
      const samples = join(work, 'samples');
      mkdirSync(samples, { recursive: true });
      const trainFiles = await this.prepare(dataset, split.train, config.baseModel, samples, r);
      const valFiles = await this.prepare(dataset, split.val, config.baseModel, samples, r);
      if (r.cancelled) throw new FineTuneError('CANCELLED', 'cancelled while preparing samples');
      const trainer = TrainerProcess.start({ threads: config.threads, env: this.deps.env });
      r.trainer = trainer;
      let done: TrainerEvent;
      let baseValDice = restart ? null : job.baseValDice;
      const history = restart ? [] : [...job.history];
      // The trainer reports synchronously; its store writes go one after another and are awaited below.
      let writes = Promise.resolve();
      const queueWrite = (patch: FineTunePatch, then?: () => Promise<void>) => {
        writes = writes.then(async () => {
          await this.write(jobId, r, patch);
          await then?.();
        });
        writes.catch(() => this.stopLocal(r));
      };
      try {
        if (r.cancelled) trainer.cancel();
        done = await trainer.request(
          {
            cmd: 'train',
            workDir: work,
            baseDecoder: base.file,
            train: trainFiles,
            val: valFiles,
            epochs: config.epochs,
            seed: config.seed,
            threads: config.threads,
          },
          (e) => {
            if (e.event === 'baseline') {
              baseValDice = Number(e.valDice);
              queueWrite({ baseValDice });
            } else if (e.event === 'epoch') {
              const row: EpochRow = {
                epoch: Number(e.epoch),
                loss: Number(e.loss),
                valDice: Number(e.valDice),
                seconds: Number(e.seconds),
                decoderSeconds: Number(e.decoderSeconds),
                peakRssMiB: Number(e.peakRssMiB),
              };
              // A resumed job may repeat an epoch: the new row replaces the old one.
              const at = history.findIndex((h) => h.epoch === row.epoch);
              if (at >= 0) history.splice(at, 1);
              history.push(row);
              history.sort((x, y) => x.epoch - y.epoch);
              log(
                `fine-tuning ${jobId}: epoch ${row.epoch}/${config.epochs} loss ${row.loss.toFixed(4)} val Dice ${row.valDice.toFixed(4)}`,
              );
              const event: FineTuneEvent = {
                type: 'epoch',
                jobId,
                epochs: config.epochs,
                row,
                bestValDice: Number(e.bestValDice),
                baseValDice,
              };
              // Stored before it is announced: a watcher that re-reads the row never misses an epoch it saw.
              queueWrite({ history: [...history] }, () => this.publish(jobId, r, event));
            }
          },
        );
      } finally {
        await trainer.close();
        r.trainer = undefined;
      }
      await writes;
      const diff = await this.checkExport(String(done.onnx), String(done.probe));
      if (!(diff.scaled <= EXPORT_TOLERANCE)) {
        throw new FineTuneError(
          'EXPORT_MISMATCH',
          `the exported ONNX decoder differs from PyTorch by ${diff.absolute} (${diff.scaled} of the logits' scale, > ${EXPORT_TOLERANCE})`,
        );
      }
      if (r.cancelled) throw new FineTuneError('CANCELLED', 'cancelled before publishing');
      const result: FineTuneResult = {
        modelName: config.modelName,
        baseModel: config.baseModel,
        dataset: config.dataset,
        split: split.spec,
        splitGroups: split.groups,
        epochs: config.epochs,
        bestEpoch: Number(done.bestEpoch),
        valDice: Number(done.bestValDice),
        baseValDice: baseValDice ?? Number.NaN,
        exportMaxAbsDiff: diff.absolute,
        date: new Date().toISOString(),
      };
      // The result is stored before the model is published (fenced: a replica that lost the lease stops
      // here), and the job completes once the server lists the model.
      await this.write(jobId, r, { result });
      publishModel({
        repository: this.deps.repository,
        baseModel: config.baseModel,
        baseDecoder: base.decoder,
        modelName: config.modelName,
        onnxFile: String(done.onnx),
        tag: jobId,
        provenance: {
          job: jobId,
          base_model: result.baseModel,
          dataset: result.dataset,
          split: result.split,
          train_groups: result.splitGroups.train.join(','),
          val_groups: result.splitGroups.val.join(','),
          test_groups: result.splitGroups.test.join(','),
          epochs: String(result.epochs),
          best_epoch: String(result.bestEpoch),
          val_dice: result.valDice.toFixed(4),
          base_val_dice: Number.isFinite(result.baseValDice) ? result.baseValDice.toFixed(4) : '',
          date: result.date,
        },
      });
      await this.waitReady(config.modelName);
      await this.setStatus(jobId, r, 'completed');
      rmSync(work, { recursive: true, force: true });
      log(`fine-tuning ${jobId}: published ${config.modelName} (val Dice ${result.valDice.toFixed(4)})`);
    } catch (err: unknown) {
      if (r.lost) {
        // Another replica holds the job now: it writes the job's state from here on.
        log(`fine-tuning ${jobId}: stopped here, another replica holds its lease`);
        return;
      }
      const e =
        err instanceof FineTuneError || err instanceof TrainerError || err instanceof PublishError
          ? { code: err.code, message: err.message }
          : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
      const status: FineTuneStatus = r.requeue
        ? 'queued'
        : e.code === 'CANCELLED' || r.cancelled
          ? 'cancelled'
          : 'failed';
      log(`fine-tuning ${jobId}: ${status} (${e.code}: ${e.message})`);
      await this.setStatus(
        jobId,
        r,
        status,
        status === 'cancelled' ? { code: 'CANCELLED', message: e.message } : e,
      );
    }
  }

  /** Writes the sample file of each image not written yet; returns the files in `imageIds` order. */
  private async prepare(
    dataset: Dataset,
    imageIds: string[],
    model: string,
    dir: string,
    r: Running,
  ): Promise<string[]> {
    const files: string[] = [];
    const resolved = await this.deps.session.resolve(model);
    const { profile } = resolved;
    for (const imageId of imageIds) {
      // The slug keeps names readable; the hash keeps ids that slug alike apart.
      const hash = createHash('sha256').update(imageId).digest('hex').slice(0, 12);
      const file = join(dir, `${slug(imageId)}-${hash}.safetensors`);
      files.push(file);
      if (existsSync(file)) continue;
      if (r.cancelled) return files;
      const { image, objects } = await dataset.loadImage(imageId);
      const handle = await this.deps.session.encode(image, model);
      const cached = this.deps.cache.get(handle.id);
      if (!cached) throw new FineTuneError('INTERNAL', `embedding of ${imageId} left the cache at once`);
      const { width: w, height: h } = image;
      const toModel = (x: number, y: number) =>
        profile.resize === 'stretch'
          ? mapPointStretched(x, y, h, w, profile.inputSize)
          : mapPointToModel(x, y, h, w, profile.inputSize);
      const kept = objects.filter((o) => maskBounds(o.mask) !== null);
      const coords = new Float32Array(kept.length * 4);
      const labels = new Float32Array(kept.length * 2);
      const masks = new Uint8Array(kept.length * w * h);
      kept.forEach((o, k) => {
        const [x0, y0, x1, y1] = maskBounds(o.mask)!;
        coords.set([...toModel(x0, y0), ...toModel(x1, y1)], k * 4);
        labels.set([2, 3], k * 2);
        masks.set(o.mask.data, k * w * h);
      });
      writeTensorFile(file, {
        // SAM's single embedding tensor (the decoder's image_embeddings), whatever the cache holds beside it.
        embedding: {
          dtype: 'F32',
          shape: [1, ...profile.embeddingShape],
          data: (cached.tensors.find((t) => t.name === 'image_embeddings') ?? cached.tensors[0]).data,
        },
        point_coords: { dtype: 'F32', shape: [kept.length, 2, 2], data: coords },
        point_labels: { dtype: 'F32', shape: [kept.length, 2], data: labels },
        masks: { dtype: 'U8', shape: [kept.length, h, w], data: masks },
        orig_size: { dtype: 'I32', shape: [2], data: Int32Array.from([h, w]) },
      });
    }
    return files;
  }

  /** Runs the exported file on the trainer's probe with ONNX Runtime in a child process; max abs diff. */
  private checkExport(onnx: string, probe: string): Promise<{ scaled: number; absolute: number }> {
    return new Promise((resolveDiff, reject) => {
      const child = spawn(
        process.execPath,
        [BIN, 'finetune', 'check-onnx', '--onnx', onnx, '--probe', probe],
        {
          env: { ...(this.deps.env ?? process.env), LOG_LEVEL: 'silent' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let errText = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (errText += b.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        try {
          const parsed = JSON.parse(out) as DecoderComparison;
          resolveDiff({
            scaled: scaledDifference(parsed),
            absolute: Math.max(...Object.values(parsed.maxAbsDiff)),
          });
        } catch {
          reject(
            new FineTuneError('EXPORT_MISMATCH', `the export check failed (exit ${code}): ${errText.trim()}`),
          );
        }
      });
    });
  }

  private async waitReady(modelName: string): Promise<void> {
    const end = Date.now() + (this.deps.readyTimeoutMs ?? 120_000);
    while (Date.now() < end) {
      const models = await this.deps.session.listModels().catch(() => []);
      if (models.some((m) => m.name === modelName && m.ready)) return;
      await new Promise((w) => setTimeout(w, 250));
    }
    (this.deps.log ?? (() => {}))(
      `fine-tuning: ${modelName} is published but not listed ready yet (a Triton in explicit model-control mode needs a load request)`,
    );
  }
}
