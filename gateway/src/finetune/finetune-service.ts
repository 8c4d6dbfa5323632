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
import type Database from 'better-sqlite3';
import type { JobStore } from '../bench/job-store.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { maskBounds } from '../core/mask.ts';
import { mapPointStretched, mapPointToModel } from '../core/sam-transform.ts';
import type { EmbeddingCache } from '../sam/embedding-cache.ts';
import type { SamSession } from '../sam/session.ts';
import {
  FineTuneStore,
  type EpochRow,
  type FineTuneConfig,
  type FineTuneJobRow,
  type FineTuneResult,
  type FineTuneStatus,
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
  /** The benchmark store: it knows the datasets, and on SQLite its database holds the fine-tuning table. */
  jobStore: JobStore;
  /** The database of the fine-tuning table when the store is not SQLite (PostgreSQL). */
  finetuneDb?: Database.Database;
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
  /** Jobs running at once (default 1); a start beyond is RESOURCE_EXHAUSTED. */
  maxRunning?: number;
  /** How long to wait for a published model to be listed ready (default 120 s). */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

interface Running {
  cancelled: boolean;
  /** Stopped by a shutdown rather than a user: left queued, to resume at the next start. */
  requeue: boolean;
  trainer?: TrainerProcess;
  listeners: Set<(e: FineTuneEvent) => void>;
  done: Promise<void>;
}

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/medseg.js');

/** Fine-tuning jobs over one store, session and model repository. */
export class FineTuneService {
  /** The stored jobs. */
  readonly store: FineTuneStore;
  private readonly running = new Map<string, Running>();

  constructor(private readonly deps: FineTuneDeps) {
    const db = deps.finetuneDb ?? (deps.jobStore instanceof SqliteStore ? deps.jobStore.db : undefined);
    if (db === undefined)
      throw new Error('fine-tuning needs a SQLite database (finetuneDb) beside a PostgreSQL store');
    this.store = new FineTuneStore(db);
  }

  /** Checks the input, stores a queued job and starts it; bad input throws FineTuneError and stores nothing. */
  async start(input: FineTuneInput): Promise<FineTuneJobRow> {
    const max = this.deps.maxRunning ?? 1;
    if (this.running.size >= max) {
      // Each job holds a trainer process (cores, about 1 GiB): more queue up as an error, not as load.
      throw new FineTuneError(
        'RESOURCE_EXHAUSTED',
        `${this.running.size} fine-tuning job(s) running; at most ${max} at once`,
      );
    }
    const config = await this.validate(input);
    const id = randomUUID();
    this.store.create(id, config);
    this.launch(id);
    return this.store.get(id)!;
  }

  /** Resumes a cancelled, failed or interrupted job from its last checkpoint. */
  resume(jobId: string): FineTuneJobRow {
    const job = this.store.get(jobId);
    if (!job) throw new FineTuneError('NOT_FOUND', `no fine-tuning job '${jobId}'`);
    if (this.running.has(jobId)) throw new FineTuneError('BAD_REQUEST', `job '${jobId}' is already running`);
    if (job.status === 'completed') throw new FineTuneError('BAD_REQUEST', `job '${jobId}' has completed`);
    this.launch(jobId);
    return this.store.get(jobId)!;
  }

  /** Resumes every job a crash left queued or running; call once at start-up. */
  resumeInterrupted(): string[] {
    const ids = this.store
      .list()
      .filter((j) => (j.status === 'running' || j.status === 'queued') && !this.running.has(j.id))
      .map((j) => j.id);
    for (const id of ids) this.launch(id);
    return ids;
  }

  /** Asks a running job to stop (it ends as `cancelled`); false when it is not running here. */
  cancel(jobId: string): boolean {
    const r = this.running.get(jobId);
    if (!r) return false;
    r.cancelled = true;
    r.trainer?.cancel();
    return true;
  }

  /** A stored job. */
  job(jobId: string): FineTuneJobRow | undefined {
    return this.store.get(jobId);
  }

  /** Stored jobs, newest first. */
  jobs(): FineTuneJobRow[] {
    return this.store.list();
  }

  /** The provenance of a published fine-tuned model, or undefined for any other model. */
  provenance(modelName: string): FineTuneResult | undefined {
    return this.store.byModel(modelName)?.result ?? undefined;
  }

  /** Resolves when a job running here has stopped (at once when none is). */
  async settled(jobId: string): Promise<FineTuneJobRow | undefined> {
    await this.running.get(jobId)?.done;
    return this.store.get(jobId);
  }

  /**
   * Waits for every running job to stop; with `stop` (a shutdown), asks them to stop first and leaves them
   * queued, so that {@link resumeInterrupted} continues them from their last checkpoint at the next start.
   */
  async drain(stop = false): Promise<void> {
    const all = [...this.running.entries()];
    if (stop) {
      for (const [id, r] of all) {
        r.requeue = true;
        this.cancel(id);
      }
    }
    await Promise.all(all.map(([, r]) => r.done));
  }

  /**
   * Events of a job: every stored epoch first, then live ones until it stops with a status event. A job not
   * running here yields its stored epochs and status.
   */
  async *events(jobId: string): AsyncGenerator<FineTuneEvent> {
    const job = this.store.get(jobId);
    if (!job) throw new FineTuneError('NOT_FOUND', `no fine-tuning job '${jobId}'`);
    const r = this.running.get(jobId);
    const queue: FineTuneEvent[] = [];
    let wake: (() => void) | undefined;
    const listener = (e: FineTuneEvent) => {
      queue.push(e);
      wake?.();
    };
    r?.listeners.add(listener);
    try {
      let best = job.baseValDice ?? 0;
      for (const row of job.history) {
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
      if (!r) {
        yield { type: 'status', jobId, status: job.status, errorCode: job.errorCode, error: job.error };
        return;
      }
      const seen = new Set(job.history.map((h) => h.epoch));
      while (true) {
        while (queue.length === 0) await new Promise<void>((w) => (wake = w));
        const e = queue.shift()!;
        if (e.type === 'epoch' && seen.has(e.row.epoch)) continue;
        yield e;
        if (e.type === 'status' && e.status !== 'running') return;
      }
    } finally {
      r?.listeners.delete(listener);
    }
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
    const clash = this.store
      .list()
      .find(
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
    const r: Running = { cancelled: false, requeue: false, listeners: new Set(), done: Promise.resolve() };
    this.running.set(jobId, r);
    r.done = this.run(jobId, r).finally(() => this.running.delete(jobId));
  }

  private emit(r: Running, e: FineTuneEvent): void {
    for (const l of r.listeners) l(e);
  }

  private setStatus(
    jobId: string,
    r: Running,
    status: FineTuneStatus,
    err?: { code: string; message: string },
  ): void {
    this.store.setStatus(jobId, status, err ?? null);
    this.emit(r, {
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
      const job = this.store.get(jobId)!;
      this.setStatus(jobId, r, 'running');
      const { config } = job;
      const dataset = await this.openDataset(config.dataset);
      const split = this.split(dataset, config.split, config.seed);
      this.store.setSplit(jobId, split);
      const base = await this.baseDecoderFile(config.baseModel);
      const work = join(this.deps.stateDir, 'finetune', jobId);
      const samples = join(work, 'samples');
      mkdirSync(samples, { recursive: true });
      const trainFiles = await this.prepare(dataset, split.train, config.baseModel, samples, r);
      const valFiles = await this.prepare(dataset, split.val, config.baseModel, samples, r);
      if (r.cancelled) throw new FineTuneError('CANCELLED', 'cancelled while preparing samples');
      const trainer = TrainerProcess.start({ threads: config.threads, env: this.deps.env });
      r.trainer = trainer;
      let done: TrainerEvent;
      let baseValDice = this.store.get(jobId)?.baseValDice ?? null;
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
              this.store.setBaseValDice(jobId, baseValDice);
            } else if (e.event === 'epoch') {
              const row: EpochRow = {
                epoch: Number(e.epoch),
                loss: Number(e.loss),
                valDice: Number(e.valDice),
                seconds: Number(e.seconds),
                decoderSeconds: Number(e.decoderSeconds),
                peakRssMiB: Number(e.peakRssMiB),
              };
              this.store.addEpoch(jobId, row);
              log(
                `fine-tuning ${jobId}: epoch ${row.epoch}/${config.epochs} loss ${row.loss.toFixed(4)} val Dice ${row.valDice.toFixed(4)}`,
              );
              this.emit(r, {
                type: 'epoch',
                jobId,
                epochs: config.epochs,
                row,
                bestValDice: Number(e.bestValDice),
                baseValDice,
              });
            }
          },
        );
      } finally {
        await trainer.close();
        r.trainer = undefined;
      }
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
      this.store.complete(jobId, result);
      await this.waitReady(config.modelName);
      rmSync(work, { recursive: true, force: true });
      this.emit(r, { type: 'status', jobId, status: 'completed', errorCode: null, error: null });
      log(`fine-tuning ${jobId}: published ${config.modelName} (val Dice ${result.valDice.toFixed(4)})`);
    } catch (err: unknown) {
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
      this.setStatus(
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
