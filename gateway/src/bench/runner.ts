/**
 * The benchmark runner (issue 4): plans every model x strategy x object sample of a job, runs them through a
 * Segmenter, scores them (oracle and deployable choices), and commits each sample as it finishes. Progress
 * is published as events; a job can be cancelled; a job left `running` by a crash resumes and skips every
 * sample already stored, so each sample is computed and stored exactly once.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { everythingOnGrid, type EverythingCandidate } from '../core/everything.ts';
import { nextClick, runBoxThenClicks, runInteractive } from '../core/interactive.ts';
import { emptyMask, type BinaryMask } from '../core/mask.ts';
import { overlapMetrics } from '../core/metrics.ts';
import { EVERYTHING_MODE, simulatePrompt, type ObjectPrompt } from '../core/prompts.ts';
import type { Raster } from '../core/raster.ts';
import type { LowResLogits, MaskCandidate, PromptSet, Segmenter } from '../core/segmenter.ts';
import { multimaskCandidates, scoreCandidates, toMetricValues } from './candidates.ts';
import type { Dataset, DatasetObject } from './datasets/dataset.ts';
import { openRegisteredDataset } from './datasets/registry.ts';
import { sampleKey, type JobStore } from './job-store.ts';
import { StoreError } from '../store/state-store.ts';
import { computeObjectFactors, perturbPrompt } from './protocol.ts';
import { computeMetrics } from '../core/metrics.ts';
import {
  interactiveKey,
  RANDOMNESS,
  STRATEGIES,
  type BenchmarkConfig,
  type ChoiceResult,
  type CurvePoint,
  type FactorValues,
  type InteractiveProtocol,
  type JobStatus,
  type PromptMode,
  type Randomness,
  type SampleRecord,
  type SelectionName,
  type StrategyName,
} from './types.ts';

/** What a caller may pass to {@link startBenchmark}; omitted fields take the protocol defaults. */
export interface BenchmarkInput {
  /** Id of a registered dataset. */
  dataset: string;
  models: string[];
  strategies: StrategyName[];
  /** Default `faithful`. */
  mode?: PromptMode;
  /** Default `oracle` (the paper's). Both are stored either way. */
  selection?: SelectionName;
  /** Default `none`. */
  randomness?: Randomness;
  /** Interactive clicks (default 20 for errorRegion, 5 for boxThen5); omitted or null for none. */
  interactive?: { clicks?: number; protocol?: InteractiveProtocol } | null;
  /** Default 0. */
  seed?: number;
  limit?: number | null;
  shard?: { index: number; count: number } | null;
  /** NSD tolerance in pixels; default 2. */
  nsdTolerance?: number;
}

/** Bad benchmark input: says what was expected and what arrived. */
export class BenchmarkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchmarkError';
  }
}

/** A model name as the KServe repository spells it. */
const MODEL_NAME = /^[\w.-]{1,128}$/;
/** Most distinct models one job compares. */
export const MAX_MODELS_PER_JOB = 16;

/** Validates input and fills defaults (models and strategies de-duplicated in order); throws BenchmarkError. */
export function normalizeConfig(input: BenchmarkInput): BenchmarkConfig {
  if (typeof input.dataset !== 'string' || input.dataset.length === 0) {
    throw new BenchmarkError(`dataset must be a registered dataset id, got ${JSON.stringify(input.dataset)}`);
  }
  if (
    !Array.isArray(input.models) ||
    input.models.length === 0 ||
    input.models.some((m) => typeof m !== 'string' || !MODEL_NAME.test(m))
  ) {
    throw new BenchmarkError(
      `models must be a non-empty list of model names (1-128 of [A-Za-z0-9_.-]), got ${JSON.stringify(input.models).slice(0, 200)}`,
    );
  }
  // A model listed twice would be encoded twice per image and counted twice in the total, while its
  // samples share one key: the job looked done at once and a cancel read as completed.
  const models = [...new Set(input.models)];
  if (models.length > MAX_MODELS_PER_JOB) {
    throw new BenchmarkError(`at most ${MAX_MODELS_PER_JOB} distinct models per job, got ${models.length}`);
  }
  if (!Array.isArray(input.strategies) || input.strategies.length > STRATEGIES.length * 4) {
    throw new BenchmarkError(
      `strategies must be a list of at most ${STRATEGIES.length} of ${STRATEGIES.join(', ')}`,
    );
  }
  const interactive = input.interactive ?? null;
  if (!Array.isArray(input.strategies) || (input.strategies.length === 0 && interactive === null)) {
    throw new BenchmarkError(
      'strategies must list at least one of S1..S6 (or an interactive protocol must be set)',
    );
  }
  for (const s of input.strategies) {
    if (!(STRATEGIES as readonly string[]).includes(s)) {
      throw new BenchmarkError(`unknown strategy '${String(s)}'; expected one of ${STRATEGIES.join(', ')}`);
    }
  }
  const mode = input.mode ?? 'faithful';
  if (mode !== 'faithful' && mode !== 'corrected') {
    throw new BenchmarkError(`mode must be faithful or corrected, got '${String(mode)}'`);
  }
  const selection = input.selection ?? 'oracle';
  if (selection !== 'oracle' && selection !== 'predictedIou') {
    throw new BenchmarkError(`selection must be oracle or predictedIou, got '${String(selection)}'`);
  }
  const randomness = input.randomness ?? 'none';
  if (!(RANDOMNESS as readonly string[]).includes(randomness)) {
    throw new BenchmarkError(
      `randomness must be one of ${RANDOMNESS.join(', ')}, got '${String(randomness)}'`,
    );
  }
  let inter: BenchmarkConfig['interactive'] = null;
  if (interactive !== null) {
    const protocol = interactive.protocol ?? 'errorRegion';
    if (protocol !== 'errorRegion' && protocol !== 'boxThen5') {
      throw new BenchmarkError(
        `interactive protocol must be errorRegion or boxThen5, got '${String(protocol)}'`,
      );
    }
    const clicks = interactive.clicks ?? (protocol === 'boxThen5' ? 5 : 20);
    if (!Number.isInteger(clicks) || clicks < 1 || clicks > 100) {
      throw new BenchmarkError(`interactive clicks must be an integer in 1..100, got ${clicks}`);
    }
    inter = { clicks, protocol };
  }
  const seed = input.seed ?? 0;
  if (!Number.isInteger(seed)) throw new BenchmarkError(`seed must be an integer, got ${seed}`);
  const limit = input.limit ?? null;
  if (limit !== null && (!Number.isInteger(limit) || limit < 1)) {
    throw new BenchmarkError(`limit must be an integer >= 1, got ${limit}`);
  }
  const shard = input.shard ?? null;
  if (
    shard !== null &&
    (!Number.isInteger(shard.index) ||
      !Number.isInteger(shard.count) ||
      shard.count < 1 ||
      shard.index < 0 ||
      shard.index >= shard.count)
  ) {
    throw new BenchmarkError(`shard must satisfy 0 <= index < count, got ${JSON.stringify(shard)}`);
  }
  const nsdTolerance = input.nsdTolerance ?? 2;
  if (!(nsdTolerance >= 0)) throw new BenchmarkError(`nsdTolerance must be >= 0, got ${nsdTolerance}`);
  return {
    dataset: input.dataset,
    models,
    strategies: [...new Set(input.strategies)],
    mode,
    selection,
    randomness,
    interactive: inter,
    seed,
    limit,
    shard,
    nsdTolerance,
  };
}

/** A progress report, after every stored sample and at each status change. */
export interface ProgressEvent {
  type: 'progress';
  jobId: string;
  /** Samples stored, including those stored before a resume. */
  done: number;
  total: number;
  /** Stored samples whose status is failed (prompt could not be made, etc.). */
  failed: number;
  /** Samples per second over this run (excluding samples skipped on resume). */
  rate: number;
  /** Seconds left at the current rate; null before the first sample. */
  etaSeconds: number | null;
}

/** A job status change; `completed`, `cancelled` and `failed` are terminal. */
export interface StatusEvent {
  type: 'status';
  jobId: string;
  status: JobStatus;
  error: string | null;
}

/** Everything a job publishes. */
export type BenchmarkEvent = ProgressEvent | StatusEvent;

/** The summary error of a run that stopped because another replica took over its job's lease. */
export const LEASE_LOST = 'lease lost: another replica continues the job';

/** The final account of one run of a job. */
export interface JobSummary {
  jobId: string;
  status: JobStatus;
  done: number;
  total: number;
  failed: number;
  /** Samples computed in this run (the rest were already stored). */
  computed: number;
  wallMs: number;
  /** Time spent awaiting the Segmenter in this run. */
  segmenterMs: number;
  error: string | null;
}

/** A running (or finished) job. */
export interface BenchmarkHandle {
  readonly jobId: string;
  /** Emits `event` with every {@link BenchmarkEvent}. */
  readonly events: EventEmitter<{ event: [BenchmarkEvent] }>;
  /** Resolves when the job stops (completed, cancelled or failed); never rejects. */
  readonly done: Promise<JobSummary>;
  /** The latest progress. */
  progress(): ProgressEvent;
  /** Asks the job to stop after the sample in flight; it ends `cancelled`. */
  cancel(): void;
  /** The events from now on, ending after the terminal status event. */
  subscribe(): AsyncIterableIterator<BenchmarkEvent>;
}

/** The lease a job runs under when replicas share the store (BenchmarkService claims it first). */
export interface JobLease {
  /** This replica's id, as stored in the job's lease. */
  owner: string;
  /** Lease length in milliseconds; renewed every third of it. */
  ttlMs: number;
}

/** What a job runs with. */
export interface BenchmarkDeps {
  store: JobStore;
  segmenter: Segmenter;
  /** Job id to use (default: a random UUID). */
  jobId?: string;
  /** Loads a registered dataset (default: re-scan its directory). */
  openDataset?: (id: string) => Promise<Dataset>;
  /** The API caller starting the job (principal kind:id); absent for the CLI. */
  owner?: string;
  /** Most queued or running jobs `owner` may have (MAX_JOBS_PER_CALLER), checked with the insert. */
  maxActivePerOwner?: number;
  /**
   * The lease already claimed for the job: the runner renews it, stops (leaving the job to its new holder)
   * when it is lost, and stops `cancelled` when a cancel was requested through the store.
   */
  lease?: JobLease;
}

/** Creates a job for `input` and starts it in the background. Throws BenchmarkError for bad input. */
export async function startBenchmark(input: BenchmarkInput, deps: BenchmarkDeps): Promise<BenchmarkHandle> {
  const config = normalizeConfig(input);
  if ((await deps.store.getDataset(config.dataset)) === undefined) {
    throw new BenchmarkError(`no dataset registered as '${config.dataset}'`);
  }
  const jobId = deps.jobId ?? randomUUID();
  try {
    await deps.store.createJob(jobId, config, deps.lease, deps.owner ?? null, deps.maxActivePerOwner);
  } catch (err: unknown) {
    if (err instanceof StoreError && err.code === 'CONFLICT') throw new BenchmarkError(err.message);
    throw err;
  }
  return runJob(jobId, deps);
}

/** Resumes a stored job (any status but completed): already-stored samples are skipped. */
export async function resumeBenchmark(
  jobId: string,
  deps: Omit<BenchmarkDeps, 'jobId'>,
): Promise<BenchmarkHandle> {
  const job = await deps.store.getJob(jobId);
  if (job === undefined) throw new BenchmarkError(`no job '${jobId}'`);
  if (job.status === 'completed') throw new BenchmarkError(`job '${jobId}' is already completed`);
  // Queued before this returns, as a new job is: a caller that reads the job right after resuming must not
  // still see the old terminal status (the run sets 'running' only after a microtask and a dataset scan).
  // Only a terminal job: a running one taken over from a dead replica keeps a cancel asked for meanwhile.
  if (job.status === 'cancelled' || job.status === 'failed') await deps.store.setJobStatus(jobId, 'queued');
  return runJob(jobId, deps);
}

/** Resumes every job a crash left `running` or `queued` (single process, no leases); call once at start-up. */
export async function resumeInterruptedJobs(deps: Omit<BenchmarkDeps, 'jobId'>): Promise<BenchmarkHandle[]> {
  const jobs = [...(await deps.store.listJobs('running')), ...(await deps.store.listJobs('queued'))];
  return jobs.map((j) => runJob(j.id, deps));
}

interface PlannedObject {
  object: DatasetObject;
  /** Samples of this object still to compute: `model|strategy`. */
  pending: Set<string>;
}

/** What a job covers: its configuration, dataset, objects and sample keys (strategies, then interactive). */
interface JobPlan {
  config: BenchmarkConfig;
  dataset: Dataset;
  objects: DatasetObject[];
  strategyKeys: string[];
  /** Samples of the whole plan: objects x models x strategy keys. */
  total: number;
}

/** Plans a stored job; jobs stored before models were de-duplicated are run with each model once. */
function planJob(stored: BenchmarkConfig, dataset: Dataset): JobPlan {
  const config = {
    ...stored,
    models: [...new Set(stored.models)],
    strategies: [...new Set(stored.strategies)],
  };
  const objects = selectObjects(dataset.objects, config);
  const strategyKeys: string[] = [
    ...config.strategies,
    ...(config.interactive ? [interactiveKey(config.interactive.protocol)] : []),
  ];
  return {
    config,
    dataset,
    objects,
    strategyKeys,
    total: objects.length * config.models.length * strategyKeys.length,
  };
}

/**
 * The plan's samples not in `stored`, grouped by image in dataset order (images with none left are left
 * out), and how many of the plan's samples are stored (the dataset may have changed since they were).
 */
function pendingByImage(
  plan: JobPlan,
  stored: ReadonlySet<string>,
): { byImage: Map<string, PlannedObject[]>; done: number } {
  const byImage = new Map<string, PlannedObject[]>();
  let pendingCount = 0;
  for (const object of plan.objects) {
    const pending = new Set<string>();
    for (const model of plan.config.models) {
      for (const s of plan.strategyKeys)
        if (!stored.has(sampleKey(model, s, object.id, 0))) pending.add(`${model}|${s}`);
    }
    pendingCount += pending.size;
    if (pending.size === 0) continue;
    const list = byImage.get(object.imageId) ?? [];
    list.push({ object, pending });
    byImage.set(object.imageId, list);
  }
  return { byImage, done: plan.total - pendingCount };
}

function runJob(jobId: string, deps: Omit<BenchmarkDeps, 'jobId'>): BenchmarkHandle {
  const { store, segmenter } = deps;
  const events = new EventEmitter<{ event: [BenchmarkEvent] }>();
  let cancelled = false;
  let last: ProgressEvent = {
    type: 'progress',
    jobId,
    done: 0,
    total: 0,
    failed: 0,
    rate: 0,
    etaSeconds: null,
  };
  const emit = (e: BenchmarkEvent): void => {
    if (e.type === 'progress') last = e;
    events.emit('event', e);
  };
  const setStatus = async (status: JobStatus, error: string | null = null): Promise<void> => {
    await store.setJobStatus(jobId, status, error);
    emit({ type: 'status', jobId, status, error });
  };
  // Set when another replica holds the lease now: this run stops and leaves the job's status to it.
  let leaseLost = false;
  const lease = deps.lease;
  const renewal = lease
    ? renewLease(store, jobId, lease, (state) => {
        if (!state.held) {
          leaseLost = true;
          cancelled = true;
        } else if (state.cancelRequested) cancelled = true;
      })
    : undefined;

  const done = (async (): Promise<JobSummary> => {
    // Let the caller subscribe before the first event.
    await Promise.resolve();
    const started = performance.now();
    let segmenterMs = 0;
    let computed = 0;
    let doneCount = 0;
    let failed = 0;
    let total = 0;
    const timed = async <T>(p: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      try {
        return await p();
      } finally {
        segmenterMs += performance.now() - t0;
      }
    };
    const summary = (status: JobStatus, error: string | null): JobSummary => ({
      jobId,
      status,
      done: doneCount,
      total,
      failed,
      computed,
      wallMs: performance.now() - started,
      segmenterMs,
      error,
    });
    try {
      const job = (await store.getJob(jobId))!;
      if (job.cancelRequested) cancelled = true;
      const dataset = await (deps.openDataset ?? ((id: string) => openRegisteredDataset(store, id)))(
        job.config.dataset,
      );
      const plan = planJob(job.config, dataset);
      total = plan.total;
      await store.setJobTotal(jobId, total);
      const pending = pendingByImage(plan, await store.doneKeys(jobId));
      failed = await store.countSamples(jobId, 'failed');
      await setStatus('running');
      doneCount = pending.done;
      const progress = (): void => {
        const elapsed = (performance.now() - started) / 1000;
        const rate = elapsed > 0 ? computed / elapsed : 0;
        emit({
          type: 'progress',
          jobId,
          done: doneCount,
          total,
          failed,
          rate,
          etaSeconds: computed > 0 && rate > 0 ? (total - doneCount) / rate : null,
        });
      };
      progress();
      const run: JobRun = {
        jobId,
        store,
        segmenter,
        plan,
        timed,
        segmenterMs: () => segmenterMs,
        cancelled: () => cancelled,
        async record(sample, curve) {
          let stored: boolean;
          try {
            stored = await store.putSample(sample, curve, lease?.owner);
          } catch (err: unknown) {
            // Fenced out: another replica holds the lease now and continues the job.
            if (err instanceof StoreError && err.code === 'CONFLICT' && lease) leaseLost = true;
            throw err;
          }
          if (stored) {
            doneCount++;
            computed++;
            if (sample.status === 'failed') failed++;
          }
          progress();
        },
      };
      for (const [imageId, objects] of pending.byImage) {
        if (cancelled) break;
        await runImage(run, imageId, objects);
      }
      if (leaseLost) return summary('running', LEASE_LOST);
      // A job that was asked to stop is reported cancelled, never completed: it stays resumable, and a
      // resume with nothing left to do completes it at once.
      const status: JobStatus = cancelled ? 'cancelled' : 'completed';
      await setStatus(status);
      return summary(status, null);
    } catch (err: unknown) {
      const message = err instanceof Error ? err.message : String(err);
      if (leaseLost) return summary('running', LEASE_LOST);
      if (err instanceof StoreError && err.code === 'UNAVAILABLE') {
        // The database went away: the job stays `running` under a lease that runs out, and whichever replica
        // claims it once the database is back resumes after the last stored sample.
        return summary('running', message);
      }
      try {
        await setStatus('failed', message);
      } catch {
        // The store itself may be what failed; the summary still reports the error.
      }
      return summary('failed', message);
    } finally {
      clearInterval(renewal);
    }
  })();

  return {
    jobId,
    events,
    done,
    progress: () => last,
    cancel: () => {
      cancelled = true;
    },
    subscribe: () => subscribe(events),
  };
}

/**
 * Renews a job's lease every third of its length, handing each answer to `onState`; an unreachable store is
 * retried at the next tick (the lease runs out if it stays away). Returns the timer to clear.
 */
function renewLease(
  store: JobStore,
  jobId: string,
  lease: JobLease,
  onState: (state: { held: boolean; cancelRequested: boolean }) => void,
): NodeJS.Timeout {
  let renewing = false;
  const timer = setInterval(
    () => {
      if (renewing) return;
      renewing = true;
      store
        .renewLease(jobId, lease.owner, lease.ttlMs)
        .then(onState)
        .catch(() => {})
        .finally(() => (renewing = false));
    },
    Math.max(50, Math.floor(lease.ttlMs / 3)),
  );
  timer.unref();
  return timer;
}

/** One run of a job as its image loop and strategy kinds see it. */
interface JobRun {
  jobId: string;
  store: JobStore;
  segmenter: Segmenter;
  plan: JobPlan;
  /** Awaits a Segmenter call, adding its time to the run's segmenter time. */
  timed: Timed;
  /** Milliseconds spent awaiting the Segmenter in this run so far. */
  segmenterMs(): number;
  /** True once the job was asked to stop (or lost its lease): no further sample starts. */
  cancelled(): boolean;
  /** Stores one finished sample (and its interactive curve) and reports progress. */
  record(sample: SampleRecord, curve?: { protocol: string; points: CurvePoint[] }): Promise<void>;
}

/** One image encoded for one model: what the strategy kinds of its samples share. */
interface ImageModel {
  run: JobRun;
  model: string;
  image: Raster;
  embeddingId: string;
  /** The ground-truth mask of an object of the image. */
  maskOf: ReadonlyMap<string, BinaryMask>;
  /** An object's protocol factors, computed once per image. */
  factorsOf(object: DatasetObject): FactorValues | null;
  /** True when the object's sample for this model and strategy key is still to compute. */
  wants(p: PlannedObject, key: string): boolean;
}

/** The fields every sample of an object, model and strategy key starts with. */
type SampleBase = Pick<
  SampleRecord,
  | 'jobId'
  | 'model'
  | 'strategy'
  | 'variant'
  | 'objectId'
  | 'imageId'
  | 'classValue'
  | 'className'
  | 'modality'
>;

/** The time one sample took: Segmenter time charged to it, and wall time. */
type SampleTiming = () => Pick<SampleRecord, 'segmenterMs' | 'totalMs'>;

/** How the samples of one kind of strategy key are computed. */
interface StrategyKind {
  /**
   * Called once per image and model before its samples, with the objects that want this key: starts work
   * its samples share; the returned state is handed to each {@link StrategyKind.sample}.
   */
  prepare(at: ImageModel, key: string, objects: readonly PlannedObject[]): Promise<KindState>;
  /** Computes and records the sample of one object. */
  sample(
    at: ImageModel,
    state: KindState,
    p: PlannedObject,
    gt: BinaryMask,
    base: SampleBase,
    timing: SampleTiming,
  ): Promise<void>;
}

/** What a strategy kind shares between the samples of one image, model and key. */
interface KindState {
  /** Prefetched decodes of a prompt strategy, by object id. */
  prefetched?: Map<string, Promise<MaskCandidate[]>>;
  /** S1's kept masks, computed by the first S1 sample of the image. */
  everything?: EverythingMask[];
}

/** S1: SAM's automatic masks of the image, each object matched to its best one. */
const EVERYTHING_KIND: StrategyKind = {
  prepare: async () => ({}),
  async sample(at, state, p, gt, base, timing) {
    const { run } = at;
    // The grid decode is shared by the image's objects; its time is charged to the first S1 sample.
    state.everything ??= await runEverything(run.segmenter, at.embeddingId, at.image, run.timed);
    await run.record({
      ...base,
      ...scoreEverything(state.everything, gt, run.plan.config.nsdTolerance),
      factors: at.factorsOf(p.object),
      prompt: { everything: EVERYTHING_MODE },
      ...timing(),
    });
  },
};

/** S2-S6: a simulated prompt per object, decoded with multimask; the oracle and deployable choices. */
const PROMPT_KIND: StrategyKind = {
  async prepare(at, key, objects) {
    const { run } = at;
    const strategy = key as Exclude<StrategyName, 'S1'>;
    // Each prompt strategy decodes every object of the image in one request: a decoder that batches
    // prompts takes them in one call on the shared embedding; the call's time is charged to the first
    // sample that reads it, as the S1 grid's is.
    const prefetched = new Map<string, Promise<MaskCandidate[]>>();
    const ready: Array<{ id: string; prompt: PromptSet }> = [];
    for (const p of objects) {
      const gt = at.maskOf.get(p.object.id);
      if (gt === undefined || !at.wants(p, key)) continue;
      const prompt = await objectPrompt(run, p.object, gt, strategy, at.image);
      if (!('failure' in prompt)) ready.push({ id: p.object.id, prompt: prompt.prompt });
    }
    if (ready.length === 0) return { prefetched };
    const all = run.timed(() =>
      run.segmenter.decode(
        at.embeddingId,
        ready.map((r) => r.prompt),
        { multimask: true },
      ),
    );
    ready.forEach((r, i) => {
      const one = all.then((lists) => lists[i]);
      // A cancel can leave a prefetched result unread: its failure must not go unhandled.
      one.catch(() => undefined);
      prefetched.set(r.id, one);
    });
    return { prefetched };
  },
  async sample(at, state, p, gt, base, timing) {
    const { run } = at;
    const strategy = base.strategy as Exclude<StrategyName, 'S1'>;
    const prompt = await objectPrompt(run, p.object, gt, strategy, at.image);
    if ('failure' in prompt) {
      await run.record({
        ...base,
        status: 'failed',
        failureReason: prompt.failure,
        oracle: null,
        deployable: null,
        candidates: [],
        factors: at.factorsOf(p.object),
        prompt: null,
        segmenterMs: 0,
        totalMs: timing().totalMs,
      });
      return;
    }
    const cands =
      (await state.prefetched?.get(p.object.id)) ??
      (await run.timed(() => run.segmenter.decode(at.embeddingId, [prompt.prompt], { multimask: true })))[0];
    const scored = scoreCandidates(multimaskCandidates(cands ?? []), gt, {
      nsdTolerance: run.plan.config.nsdTolerance,
    });
    await run.record({
      ...base,
      status: 'ok',
      failureReason: null,
      oracle: scored.oracle,
      deployable: scored.deployable,
      candidates: scored.all,
      factors: at.factorsOf(p.object),
      prompt: prompt.prompt,
      ...timing(),
    });
  },
};

/** `interactive-*`: a simulated click session per object, stored with its Dice curve. */
const INTERACTIVE_KIND: StrategyKind = {
  prepare: async () => ({}),
  async sample(at, _state, p, gt, base, timing) {
    const { run } = at;
    const protocol = run.plan.config.interactive!.protocol;
    const result = await runInteractiveSession(
      run.segmenter,
      at.embeddingId,
      gt,
      protocol,
      run.plan.config,
      run.timed,
    );
    await run.record(
      {
        ...base,
        status: 'ok',
        failureReason: null,
        oracle: result.final,
        deployable: result.final,
        candidates: [],
        factors: at.factorsOf(p.object),
        prompt: result.prompts,
        ...timing(),
      },
      { protocol, points: result.curve },
    );
  },
};

/** The strategy kind of a sample key: S1, an interactive protocol, or a prompt strategy. */
function strategyKind(key: string): StrategyKind {
  if (key === 'S1') return EVERYTHING_KIND;
  if (key.startsWith('interactive-')) return INTERACTIVE_KIND;
  return PROMPT_KIND;
}

/**
 * The samples of one image still to compute: the image is loaded once, encoded once per model, each
 * strategy kind prepares what its samples share, then every object's samples run in strategy order.
 */
async function runImage(run: JobRun, imageId: string, objects: readonly PlannedObject[]): Promise<void> {
  const { config, dataset, strategyKeys } = run.plan;
  const loaded = await dataset.loadImage(imageId);
  const maskOf = new Map(loaded.objects.map((o) => [o.object.id, o.mask]));
  const factorCache = new Map<string, FactorValues | null>();
  const factorsOf = (object: DatasetObject): FactorValues | null => {
    if (!factorCache.has(object.id)) {
      factorCache.set(object.id, safeFactors(loaded.image, maskOf.get(object.id)!));
    }
    return factorCache.get(object.id)!;
  };
  for (const model of config.models) {
    if (run.cancelled()) break;
    const wants = (p: PlannedObject, s: string): boolean => p.pending.has(`${model}|${s}`);
    if (!objects.some((p) => strategyKeys.some((s) => wants(p, s)))) continue;
    const embedding = await run.timed(() => run.segmenter.encode(loaded.image, model));
    const at: ImageModel = {
      run,
      model,
      image: loaded.image,
      embeddingId: embedding.id,
      maskOf,
      factorsOf,
      wants,
    };
    const states = new Map<string, KindState>();
    for (const s of strategyKeys) states.set(s, await strategyKind(s).prepare(at, s, objects));
    for (const p of objects) {
      const gt = maskOf.get(p.object.id);
      if (gt === undefined) throw new Error(`object ${p.object.id} has no mask in its image`);
      for (const s of strategyKeys) {
        if (run.cancelled()) break;
        if (!wants(p, s)) continue;
        const t0 = performance.now();
        const segBefore = run.segmenterMs();
        const base: SampleBase = {
          jobId: run.jobId,
          model,
          strategy: s,
          variant: 0,
          objectId: p.object.id,
          imageId,
          classValue: p.object.classValue,
          className: p.object.className,
          modality: dataset.modality,
        };
        const timing: SampleTiming = () => ({
          segmenterMs: run.segmenterMs() - segBefore,
          totalMs: performance.now() - t0,
        });
        await strategyKind(s).sample(at, states.get(s)!, p, gt, base, timing);
      }
    }
  }
}

/** The objects a job covers: the shard's share in dataset order, then the first `limit`. */
export function selectObjects(
  objects: readonly DatasetObject[],
  config: Pick<BenchmarkConfig, 'shard' | 'limit'>,
): DatasetObject[] {
  let out = config.shard
    ? objects.filter((_, i) => i % config.shard!.count === config.shard!.index)
    : [...objects];
  if (config.limit !== null) out = out.slice(0, config.limit);
  return out;
}

function subscribe(events: EventEmitter<{ event: [BenchmarkEvent] }>): AsyncIterableIterator<BenchmarkEvent> {
  const queue: BenchmarkEvent[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const on = (e: BenchmarkEvent): void => {
    queue.push(e);
    if (e.type === 'status' && e.status !== 'running' && e.status !== 'queued') ended = true;
    wake?.();
  };
  events.on('event', on);
  const iterator: AsyncIterableIterator<BenchmarkEvent> = {
    async next(): Promise<IteratorResult<BenchmarkEvent>> {
      while (queue.length === 0) {
        if (ended) {
          events.off('event', on);
          return { value: undefined, done: true };
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      return { value: queue.shift()!, done: false };
    },
    async return(): Promise<IteratorResult<BenchmarkEvent>> {
      events.off('event', on);
      ended = true;
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** The stored prompt for an object and strategy, creating (and storing) it on first use. */
async function objectPrompt(
  run: JobRun,
  object: DatasetObject,
  gt: BinaryMask,
  strategy: Exclude<StrategyName, 'S1'>,
  image: Raster,
): Promise<{ prompt: PromptSet } | { failure: string }> {
  const { store } = run;
  const { config, dataset } = run.plan;
  const key = {
    datasetId: config.dataset,
    objectId: object.id,
    strategy,
    mode: config.mode,
    randomness: config.randomness,
    seed: config.randomness === 'none' ? 0 : config.seed,
  };
  const stored = await store.getPrompt(key);
  const value =
    stored ??
    (await store.putPrompt(
      key,
      (() => {
        const r = simulatePrompt(gt, strategy, config.mode);
        if (!r.ok) return { prompt: null, failure: `${r.failure}: ${r.reason}` };
        const prompt =
          config.randomness === 'none'
            ? r.prompt
            : perturbPrompt(
                r.prompt,
                config.randomness,
                `${config.seed}|${dataset.name}|${object.id}|${strategy}`,
                image,
              );
        return { prompt, failure: null };
      })(),
    ));
  if (value.failure !== null) return { failure: value.failure };
  return { prompt: value.prompt as PromptSet };
}

type Timed = <T>(p: () => Promise<T>) => Promise<T>;

interface EverythingMask extends EverythingCandidate {
  index: number;
}

/**
 * S1's masks: the segmenter's own everything method when it has one, else SAM's automatic mask generator
 * over its decoder (core/everything's `everythingOnGrid`, the one the SAM session runs too: the 32x32 grid
 * decoded in batches of 64 points, 3 masks per point, predicted IoU > 0.88, stability >= 0.95, one box NMS
 * at 0.7). Each mask's index is its position among the native masks, or among the grid's candidates.
 */
async function runEverything(
  segmenter: Segmenter,
  embeddingId: string,
  image: Raster,
  timed: Timed,
): Promise<EverythingMask[]> {
  const native = (segmenter as Partial<EverythingSegmenter>).everything;
  if (typeof native === 'function') {
    const { masks } = await timed(() => native.call(segmenter, embeddingId));
    return masks.map((m, index) => ({
      mask: m.mask,
      predictedIou: m.predictedIou,
      stabilityScore: m.stabilityScore,
      index,
    }));
  }
  const { kept } = await everythingOnGrid(
    async (points) => {
      const prompts: PromptSet[] = points.map(([x, y]) => ({ points: [{ x, y, label: 1 }] }));
      const results = await timed(() => segmenter.decode(embeddingId, prompts, { multimask: true }));
      return results.map(multimaskCandidates);
    },
    image.width,
    image.height,
  );
  return kept.map((k) => ({
    mask: k.candidate.mask,
    predictedIou: k.candidate.predictedIou,
    stabilityScore: k.candidate.stabilityScore,
    index: k.gridIndex,
  }));
}

/** A Segmenter that produces S1's masks itself (e.g. a server-side automatic mask generator). */
export interface EverythingSegmenter extends Segmenter {
  /** SAM's automatic mask generator with S1's defaults: the kept masks, best first. */
  everything(embeddingId: string): Promise<{ masks: EverythingCandidate[] }>;
}

/** S1 per object: the kept mask with the highest Dice (the paper's matching); none kept means Dice 0. */
function scoreEverything(
  masks: readonly EverythingMask[],
  gt: BinaryMask,
  nsdTolerance: number,
): Pick<SampleRecord, 'status' | 'failureReason' | 'oracle' | 'deployable' | 'candidates'> {
  let best = -1;
  let bestDice = -1;
  for (let i = 0; i < masks.length; i++) {
    const d = overlapMetrics(masks[i].mask, gt).dice;
    if (d > bestDice) {
      bestDice = d;
      best = i;
    }
  }
  const chosen = best >= 0 ? masks[best] : null;
  const pred = chosen?.mask ?? { width: gt.width, height: gt.height, data: new Uint8Array(gt.data.length) };
  const metrics = toMetricValues(computeMetrics(pred, gt, { nsdTolerance }));
  // Matching a generated mask to an object needs the ground truth, so S1 has no separate deployable choice.
  const choice = { candidateIndex: chosen?.index ?? -1, predictedIou: chosen?.predictedIou ?? 0, metrics };
  return { status: 'ok', failureReason: null, oracle: choice, deployable: choice, candidates: [] };
}

/**
 * Runs one interactive session through core/interactive: errorRegion starts with a positive click at the
 * interior-most point of the object (the first error region of an empty prediction), boxThen5 with the
 * object's box. The first step decodes with multimask, later steps take the single-mask output fed with the
 * previous low-res logits; without the ground truth a tool keeps the highest predicted IoU (deployable).
 */
async function runInteractiveSession(
  segmenter: Segmenter,
  embeddingId: string,
  gt: BinaryMask,
  protocol: InteractiveProtocol,
  config: BenchmarkConfig,
  timed: Timed,
): Promise<{ curve: CurvePoint[]; final: ChoiceResult; prompts: ObjectPrompt }> {
  const clicks = config.interactive!.clicks;
  let final: ChoiceResult | undefined;
  const predict = async (
    prompt: ObjectPrompt,
    previous: LowResLogits | null,
  ): Promise<{ mask: BinaryMask; lowRes: LowResLogits }> => {
    const request: PromptSet = { ...prompt, ...(previous ? { maskInput: previous } : {}) };
    const multimask = previous === null;
    const [cands] = await timed(() => segmenter.decode(embeddingId, [request], { multimask }));
    const pool = multimask ? multimaskCandidates(cands ?? []) : (cands ?? []).slice(0, 1);
    const scored = scoreCandidates(pool, gt, { nsdTolerance: config.nsdTolerance });
    final = scored.deployable;
    return { mask: scored.deployableCandidate.mask, lowRes: scored.deployableCandidate.lowRes };
  };
  let result;
  if (protocol === 'boxThen5') {
    const r = simulatePrompt(gt, 'S5', 'corrected');
    if (!r.ok || !r.prompt.box)
      throw new Error(`interactive box prompt failed: ${r.ok ? 'no box' : r.reason}`);
    result = await runBoxThenClicks(gt, r.prompt.box, predict, clicks);
  } else {
    const first = nextClick(emptyMask(gt.width, gt.height), gt);
    if (first === null) throw new Error('interactive session on an empty object');
    const initial: ObjectPrompt = { points: [{ x: first.x, y: first.y, label: 1 }] };
    result = await runInteractive(gt, initial, predict, { maxInteractions: clicks });
  }
  // For binary masks IoU = Dice / (2 - Dice) exactly.
  const curve = result.dice.map((d, i) => ({ click: i + 1, dice: d, iou: d / (2 - d) }));
  return { curve, final: final!, prompts: result.finalPrompt };
}

function safeFactors(image: Raster, mask: BinaryMask): FactorValues | null {
  try {
    return computeObjectFactors(image, mask);
  } catch {
    // A factor that cannot be computed (degenerate contour) leaves the sample out of the correlations only.
    return null;
  }
}
