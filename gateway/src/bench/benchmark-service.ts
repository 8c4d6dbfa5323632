/**
 * The benchmark engine as one long-lived object for the API: starts jobs, resumes interrupted ones, cancels
 * and reports, and streams progress. Work is leased, not owned by a process (issue 15): a running job holds
 * a lease in the store that this replica renews; a sweeper claims queued jobs and jobs whose holder died
 * once their lease runs out, and resumes them after the last stored sample. Progress is published on the
 * store's channels, so a subscriber on any replica sees it; the final state is always read back from the
 * store, so a missed notification never loses the end of a job. GraphQL resolvers call this; it owns no
 * transport.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Segmenter } from '../core/segmenter.ts';
import type { Dataset, DatasetOptions } from './datasets/dataset.ts';
import { openRegisteredDataset, registerDataset } from './datasets/registry.ts';
import {
  GALLERY_STRATEGIES,
  GalleryError,
  MAX_GALLERY_CASES,
  rebuildCases,
  renderThumbnail,
  selectGallery,
  type GalleryCase,
  type GalleryPick,
} from './gallery.ts';
import type { DatasetRow, JobRow, JobStore } from './job-store.ts';
import { buildReport, type BenchmarkReport, type ReportGallery } from './report/build-report.ts';
import { renderReport, type ReportFormat } from './report/render.ts';
import {
  BenchmarkError,
  resumeBenchmark,
  startBenchmark,
  type BenchmarkEvent,
  type BenchmarkHandle,
  type BenchmarkInput,
  type ProgressEvent,
} from './runner.ts';
import type { JobStatus } from './types.ts';

/** Options of {@link BenchmarkService}. */
export interface BenchmarkServiceOptions {
  /** This replica's lease owner id (default `host/pid/uuid`). */
  replicaId?: string;
  /** Lease length in milliseconds (default 30000); a dead replica's job moves on after this. */
  leaseMs?: number;
  /** How often the sweeper looks for claimable jobs and a watcher re-reads a job, in ms (default leaseMs/3). */
  pollMs?: number;
  /** Most jobs this replica runs at once; the sweeper leaves the rest to other replicas (default unbounded). */
  maxLocalJobs?: number;
  /**
   * Most jobs running at once across every replica of the store (MAX_BENCHMARK_JOBS; default unbounded):
   * starting or resuming one more is refused with {@link BenchmarkLimitError}, and the sweeper leaves queued
   * jobs queued until a slot frees.
   */
  maxRunningJobs?: number;
  /** Hears jobs this replica picks up and background errors. */
  onEvent?: (
    e: { type: 'resumed'; jobId: string; handle: BenchmarkHandle } | { type: 'error'; error: unknown },
  ) => void;
}

const TERMINAL: ReadonlySet<JobStatus> = new Set<JobStatus>(['completed', 'cancelled', 'failed']);
const CANCEL_CHANNEL = 'bench-cancel';

/** The store channel carrying one job's events. */
export function jobChannel(jobId: string): string {
  return `bench:${jobId.replace(/[^\w:.-]/g, '_').slice(0, 100)}`;
}

// Replica ids of the services alive in this process (tests run several replicas in one process).
const LIVE_REPLICAS = new Set<string>();

/** A new lease owner id: host, process id and a random part (a restarted process is a new owner). */
export function newReplicaId(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

/**
 * True when a lease owner id names a process of this host that is gone: its pid no longer exists, or it is
 * this very pid under another id (a restarted container, where the pid is always the same). Such a lease
 * is taken over at once instead of after it runs out.
 */
export function isStaleLocalOwner(owner: string, self: string): boolean {
  const [host, pidText] = owner.split('/');
  if (host !== hostname() || owner === self) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return !LIVE_REPLICAS.has(owner);
  try {
    process.kill(pid, 0);
    return false;
  } catch (err: unknown) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A job refused because `limit` jobs are running already (MAX_BENCHMARK_JOBS). */
export class BenchmarkLimitError extends BenchmarkError {
  constructor(
    readonly running: number,
    readonly limit: number,
  ) {
    super(
      `${running} benchmark jobs are running (limit ${limit}, MAX_BENCHMARK_JOBS); wait for one to finish or cancel one`,
    );
    this.name = 'BenchmarkLimitError';
  }
}

/**
 * Throws {@link BenchmarkLimitError} when `limit` jobs of the store run already: jobs `running`, and jobs
 * `queued` under a replica's lease (started, about to run). `jobId`, a job being resumed, is not counted,
 * and one taken over in status `running` is never refused: it was counted already, so taking it over adds
 * none. `admitted` names jobs the caller has just let through without a lease (the CLI's), counted whatever
 * their stored status. The count is read from the store, so it holds across replicas and processes, the CLI
 * included.
 */
export async function checkRunningJobLimit(
  store: JobStore,
  limit: number | undefined,
  jobId?: string,
  admitted: readonly string[] = [],
): Promise<void> {
  if (limit === undefined) return;
  const jobs = await store.listJobs();
  if (jobs.some((j) => j.id === jobId && j.status === 'running')) return;
  const counted = (j: JobRow): boolean =>
    j.status === 'running' || (j.status === 'queued' && j.leaseOwner !== null);
  const running =
    admitted.length + jobs.filter((j) => j.id !== jobId && !admitted.includes(j.id) && counted(j)).length;
  if (running >= limit) throw new BenchmarkLimitError(running, limit);
}

/** Jobs, datasets and reports over one store and one Segmenter. */
export class BenchmarkService {
  private readonly running = new Map<string, BenchmarkHandle>();
  /** This replica's lease owner id. */
  readonly replicaId: string;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();
  private stopCancelListener: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(
    readonly store: JobStore,
    private readonly segmenter: Segmenter,
    private readonly options: BenchmarkServiceOptions = {},
  ) {
    this.replicaId = options.replicaId ?? newReplicaId();
    LIVE_REPLICAS.add(this.replicaId);
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollMs = options.pollMs ?? Math.max(50, Math.floor(this.leaseMs / 3));
  }

  /** Scans and registers a dataset directory (an id taken by another folder needs `replace`). */
  async addDataset(
    root: string,
    options: DatasetOptions & { id?: string; replace?: boolean } = {},
  ): Promise<{ row: DatasetRow; dataset: Dataset }> {
    return registerDataset(this.store, root, options);
  }

  /** Registered datasets. */
  datasets(): Promise<DatasetRow[]> {
    return this.store.listDatasets();
  }

  /**
   * Starts a job on this replica (owned by `owner`, an API caller's kind:id); throws BenchmarkError for bad
   * input.
   */
  async start(
    input: BenchmarkInput,
    jobId?: string,
    owner?: string,
    maxActivePerOwner?: number,
  ): Promise<BenchmarkHandle> {
    return this.admitted(async () => {
      await checkRunningJobLimit(this.store, this.options.maxRunningJobs);
      return this.track(
        await startBenchmark(input, {
          store: this.store,
          segmenter: this.segmenter,
          jobId,
          lease: this.lease(),
          ...(owner !== undefined ? { owner } : {}),
          ...(owner !== undefined && maxActivePerOwner !== undefined ? { maxActivePerOwner } : {}),
        }),
      );
    });
  }

  /** Resumes one stored job (cancelled, failed or interrupted) on this replica. */
  async resume(jobId: string): Promise<BenchmarkHandle> {
    if (this.running.has(jobId)) throw new BenchmarkError(`job '${jobId}' is already running`);
    const job = await this.store.getJob(jobId);
    if (job === undefined) throw new BenchmarkError(`no job '${jobId}'`);
    if (job.status === 'completed') throw new BenchmarkError(`job '${jobId}' is already completed`);
    return this.admitted(() => this.claimAndResume(jobId, job.status));
  }

  private async claimAndResume(jobId: string, status: JobStatus): Promise<BenchmarkHandle> {
    await checkRunningJobLimit(this.store, this.options.maxRunningJobs, jobId);
    // Re-queued and leased in one step (an old cancel request dropped); a live lease elsewhere keeps the job there.
    const claimed = TERMINAL.has(status)
      ? await this.store.requeueJob(jobId, this.replicaId, this.leaseMs)
      : await this.store.claimJob(jobId, this.replicaId, this.leaseMs, this.stale);
    if (!claimed) {
      throw new BenchmarkError(`job '${jobId}' is already running on another replica`);
    }
    return this.track(
      await resumeBenchmark(jobId, { store: this.store, segmenter: this.segmenter, lease: this.lease() }),
    );
  }

  /**
   * Claims and resumes every job that is queued, or whose holder died (its lease ran out, or it was a
   * process of this host that is gone); call at start-up. {@link startSweeper} repeats it.
   */
  async resumeInterrupted(): Promise<BenchmarkHandle[]> {
    const out: BenchmarkHandle[] = [];
    for (const id of await this.store.claimableJobs(this.stale)) {
      if (this.closed || this.running.has(id)) continue;
      if (this.options.maxLocalJobs !== undefined && this.running.size >= this.options.maxLocalJobs) break;
      // A queued job waits while MAX_BENCHMARK_JOBS run; a running one whose holder died is taken over.
      const admitted = await this.admitted(async () => {
        try {
          await checkRunningJobLimit(this.store, this.options.maxRunningJobs, id);
        } catch (err: unknown) {
          if (err instanceof BenchmarkLimitError) return false;
          throw err;
        }
        return this.store.claimJob(id, this.replicaId, this.leaseMs, this.stale);
      });
      if (!admitted) continue;
      const h = this.track(
        await resumeBenchmark(id, { store: this.store, segmenter: this.segmenter, lease: this.lease() }),
      );
      this.options.onEvent?.({ type: 'resumed', jobId: id, handle: h });
      out.push(h);
    }
    return out;
  }

  /**
   * Starts the background work of a replica: a sweeper that picks up claimable jobs every `pollMs`, and a
   * listener that hears cancel requests for jobs running here at once (the lease renewal hears them too).
   */
  async startSweeper(): Promise<void> {
    if (this.sweeper || this.closed) return;
    this.stopCancelListener = await this.store
      .listen(CANCEL_CHANNEL, (jobId) => this.running.get(jobId)?.cancel())
      .catch((error: unknown) => {
        this.options.onEvent?.({ type: 'error', error });
        return undefined;
      });
    this.sweeper = setInterval(() => {
      this.sweeping = this.sweeping
        .then(() => this.resumeInterrupted())
        .catch((error: unknown) => this.options.onEvent?.({ type: 'error', error }));
    }, this.pollMs);
    this.sweeper.unref();
  }

  /**
   * Asks a job to stop wherever it runs: at once when it runs here, through the store otherwise (the
   * holder's cancel listener or its next lease renewal). A queued job nobody holds is cancelled directly.
   * False when the job is unknown or already finished.
   */
  async cancel(jobId: string): Promise<boolean> {
    this.running.get(jobId)?.cancel();
    if (!(await this.store.requestCancel(jobId))) return this.running.has(jobId);
    const job = await this.store.getJob(jobId);
    if (job && job.leaseOwner === null && !this.running.has(jobId)) {
      await this.store.setJobStatus(jobId, 'cancelled');
      await this.publish(jobId, { type: 'status', jobId, status: 'cancelled', error: null });
    } else {
      await this.store.publish(CANCEL_CHANNEL, jobId).catch(() => {});
    }
    return true;
  }

  /** A stored job, or undefined. */
  job(jobId: string): Promise<JobRow | undefined> {
    return this.store.getJob(jobId);
  }

  /** Stored jobs, newest first. */
  jobs(): Promise<JobRow[]> {
    return this.store.listJobs();
  }

  /** Jobs running in this process. */
  localJobs(): string[] {
    return [...this.running.keys()];
  }

  /** The latest progress of a job: live when running here, else from the store. */
  async progress(jobId: string): Promise<ProgressEvent | undefined> {
    const h = this.running.get(jobId);
    if (h) return h.progress();
    const job = await this.store.getJob(jobId);
    if (!job) return undefined;
    return this.storedProgress(job);
  }

  private async storedProgress(job: JobRow): Promise<ProgressEvent> {
    return {
      type: 'progress',
      jobId: job.id,
      done: await this.store.countSamples(job.id),
      total: job.total,
      failed: await this.store.countSamples(job.id, 'failed'),
      rate: 0,
      etaSeconds: null,
    };
  }

  /**
   * Events of a job from now on, on any replica: the current progress first, then live events until the
   * job stops, ending with its terminal status. A finished job yields its stored progress and status once.
   * Besides the live events the job's row is re-read every `pollMs`, so the end is never missed.
   */
  async *events(jobId: string): AsyncGenerator<BenchmarkEvent> {
    const h = this.running.get(jobId);
    if (h) {
      const live = h.subscribe();
      yield h.progress();
      yield* live;
      return;
    }
    const queue: BenchmarkEvent[] = [];
    let wake: (() => void) | undefined;
    const stop = await this.store
      .listen(jobChannel(jobId), (payload) => {
        try {
          queue.push(JSON.parse(payload) as BenchmarkEvent);
        } catch {
          return;
        }
        wake?.();
      })
      // Without live events the store is polled: slower, never wrong.
      .catch(() => async () => {});
    try {
      let job = await this.store.getJob(jobId);
      if (job === undefined) throw new BenchmarkError(`no job '${jobId}'`);
      const first = await this.storedProgress(job);
      let lastDone = first.done;
      yield first;
      for (;;) {
        if (TERMINAL.has(job.status)) {
          yield { type: 'status', jobId, status: job.status, error: job.error };
          return;
        }
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.pollMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
        while (queue.length > 0) {
          const e = queue.shift()!;
          // The terminal status is yielded from the stored row, once; progress never goes backwards (a
          // notification may arrive after the stored count it contributed to was read).
          if (e.type === 'status' && TERMINAL.has(e.status)) continue;
          if (e.type === 'progress') {
            if (e.done < lastDone) continue;
            lastDone = e.done;
          }
          yield e;
        }
        job = (await this.store.getJob(jobId)) ?? job;
      }
    } finally {
      await stop();
    }
  }

  /** The report of a job, built from the store. */
  report(jobId: string): Promise<BenchmarkReport> {
    return buildReport(this.store, jobId);
  }

  /** The report of a job rendered in a format. */
  async renderReport(jobId: string, format: ReportFormat): Promise<string> {
    return (await this.renderReportCounted(jobId, format)).text;
  }

  /**
   * The report of a job rendered in a format, and how many gallery cases were re-created for it (HTML only):
   * at most `galleryBudget` (default MAX_GALLERY_CASES), so a caller can bound the work of one request.
   */
  async renderReportCounted(
    jobId: string,
    format: ReportFormat,
    galleryBudget: number = MAX_GALLERY_CASES,
  ): Promise<{ text: string; galleryCases: number }> {
    const report = await buildReport(this.store, jobId);
    if (format === 'html') report.gallery = await this.reportGallery(jobId, galleryBudget);
    const g = report.gallery;
    return { text: renderReport(report, format), galleryCases: g && 'cases' in g ? g.cases.length : 0 };
  }

  /**
   * The gallery of an HTML report: at most MAX_GALLERY_CASES cases re-created with this service's segmenter;
   * a failure (a dataset moved away, a model no longer served) leaves the report without it, saying why.
   */
  private async reportGallery(jobId: string, budget: number): Promise<ReportGallery> {
    try {
      const picks = selectGallery(await this.store.listSamples(jobId));
      const shown = picks.slice(0, Math.min(MAX_GALLERY_CASES, budget));
      if (shown.length === 0 && picks.length > 0)
        return {
          unavailable: `this request re-created its limit of ${MAX_GALLERY_CASES} gallery cases already`,
        };
      const cases = await this.galleryCases(jobId, shown);
      return {
        of: picks.length,
        cases: cases.map((c) => ({
          model: c.pick.model,
          strategy: c.pick.strategy,
          target: c.pick.target,
          ranks: c.pick.ranks,
          imageId: c.pick.sample.imageId,
          objectId: c.pick.sample.objectId,
          dice: c.pick.dice,
          thumbnail: renderThumbnail(c),
        })),
      };
    } catch (err: unknown) {
      return {
        unavailable: `its cases could not be re-created (${err instanceof Error ? err.message : String(err)})`,
      };
    }
  }

  /**
   * The gallery picks of a job (best, median and worst sample per model x strategy x target), filtered, at
   * most `limit` of them (1..MAX_GALLERY_CASES); GalleryError for a bad filter or limit.
   */
  async galleryPicks(
    jobId: string,
    filter: { model?: string; strategy?: string; target?: string; objectId?: string; limit: number },
  ): Promise<GalleryPick[]> {
    if (!Number.isInteger(filter.limit) || filter.limit < 1 || filter.limit > MAX_GALLERY_CASES)
      throw new GalleryError(`limit must be an integer 1..${MAX_GALLERY_CASES}, got ${filter.limit}`);
    if (filter.strategy !== undefined && !GALLERY_STRATEGIES.includes(filter.strategy))
      throw new GalleryError(
        `the gallery shows the prompt strategies ${GALLERY_STRATEGIES.join(', ')}, got '${filter.strategy}'`,
      );
    if ((await this.store.getJob(jobId)) === undefined) throw new BenchmarkError(`no job '${jobId}'`);
    return selectGallery(await this.store.listSamples(jobId))
      .filter(
        (p) =>
          (filter.model === undefined || p.model === filter.model) &&
          (filter.strategy === undefined || p.strategy === filter.strategy) &&
          (filter.target === undefined || p.target === filter.target) &&
          (filter.objectId === undefined || p.sample.objectId === filter.objectId),
      )
      .slice(0, filter.limit);
  }

  /** Re-creates gallery cases of a job: images and ground truth from its dataset, masks from its model. */
  async galleryCases(jobId: string, picks: readonly GalleryPick[]): Promise<GalleryCase[]> {
    const job = await this.store.getJob(jobId);
    if (job === undefined) throw new BenchmarkError(`no job '${jobId}'`);
    if (picks.length === 0) return [];
    return rebuildCases(picks, await openRegisteredDataset(this.store, job.datasetId), this.segmenter);
  }

  /** Waits for every job running here to stop (for shutdown), after asking them to cancel when `cancel` is set. */
  async drain(cancel = false): Promise<void> {
    this.closed = true;
    LIVE_REPLICAS.delete(this.replicaId);
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.sweeping;
    await this.stopCancelListener?.().catch(() => {});
    const handles = [...this.running.values()];
    if (cancel) for (const h of handles) h.cancel();
    await Promise.all(handles.map((h) => h.done));
  }

  // Our own lease on a job not running here is a run that stopped (the database went away mid-job): take it
  // back at once. Jobs running here are skipped before any claim.
  private readonly stale = (owner: string): boolean =>
    owner === this.replicaId || isStaleLocalOwner(owner, this.replicaId);

  // Admissions of this replica run one at a time, so two starts here cannot both take the last slot (across
  // replicas the store's count bounds it, give or take a start that races another replica's).
  private admission: Promise<unknown> = Promise.resolve();

  private admitted<T>(admit: () => Promise<T>): Promise<T> {
    const next = this.admission.then(admit);
    this.admission = next.catch(() => undefined);
    return next;
  }

  private lease(): { owner: string; ttlMs: number } {
    return { owner: this.replicaId, ttlMs: this.leaseMs };
  }

  private publish(jobId: string, e: BenchmarkEvent): Promise<void> {
    return this.store.publish(jobChannel(jobId), JSON.stringify(e)).catch(() => {});
  }

  private track(h: BenchmarkHandle): BenchmarkHandle {
    this.running.set(h.jobId, h);
    // One publish at a time per job keeps the events in order across pooled connections.
    let chain = Promise.resolve();
    h.events.on('event', (e) => {
      chain = chain.then(() => this.publish(h.jobId, e));
    });
    void h.done.then(async () => {
      this.running.delete(h.jobId);
      await chain;
    });
    return h;
  }
}
