/**
 * The benchmark engine as one long-lived object for the API: starts jobs, finds a running job's handle by
 * id (for cancel and progress subscriptions), resumes interrupted jobs at start-up, and reads stored jobs
 * and reports. GraphQL resolvers call this; it owns no transport.
 */
import type { Segmenter } from '../core/segmenter.ts';
import type { Dataset, DatasetOptions } from './datasets/dataset.ts';
import { registerDataset } from './datasets/registry.ts';
import type { DatasetRow, JobRow, JobStore } from './job-store.ts';
import { buildReport, type BenchmarkReport } from './report/build-report.ts';
import { renderReport, type ReportFormat } from './report/render.ts';
import {
  BenchmarkError,
  resumeBenchmark,
  resumeInterruptedJobs,
  startBenchmark,
  type BenchmarkEvent,
  type BenchmarkHandle,
  type BenchmarkInput,
  type ProgressEvent,
} from './runner.ts';

/** Jobs, datasets and reports over one store and one Segmenter. */
export class BenchmarkService {
  private readonly running = new Map<string, BenchmarkHandle>();

  constructor(
    readonly store: JobStore,
    private readonly segmenter: Segmenter,
  ) {}

  /** Scans and registers a dataset directory (an id taken by another folder needs `replace`). */
  async addDataset(
    root: string,
    options: DatasetOptions & { id?: string; replace?: boolean } = {},
  ): Promise<{ row: DatasetRow; dataset: Dataset }> {
    return registerDataset(this.store, root, options);
  }

  /** Registered datasets. */
  datasets(): DatasetRow[] {
    return this.store.listDatasets();
  }

  /** Starts a job (owned by `owner`, an API caller's kind:id); throws BenchmarkError for bad input. */
  start(input: BenchmarkInput, jobId?: string, owner?: string): BenchmarkHandle {
    return this.track(
      startBenchmark(input, {
        store: this.store,
        segmenter: this.segmenter,
        jobId,
        ...(owner !== undefined ? { owner } : {}),
      }),
    );
  }

  /** Resumes one stored job (cancelled, failed or interrupted). */
  resume(jobId: string): BenchmarkHandle {
    if (this.running.has(jobId)) throw new BenchmarkError(`job '${jobId}' is already running`);
    return this.track(resumeBenchmark(jobId, { store: this.store, segmenter: this.segmenter }));
  }

  /** Resumes every job a crash left running or queued; call once at start-up. */
  resumeInterrupted(): BenchmarkHandle[] {
    return resumeInterruptedJobs({ store: this.store, segmenter: this.segmenter }).map((h) => this.track(h));
  }

  /** Asks a running job to stop; false when it is not running in this process. */
  cancel(jobId: string): boolean {
    const h = this.running.get(jobId);
    h?.cancel();
    return h !== undefined;
  }

  /** A stored job, or undefined. */
  job(jobId: string): JobRow | undefined {
    return this.store.getJob(jobId);
  }

  /** Stored jobs, newest first. */
  jobs(): JobRow[] {
    return this.store.listJobs();
  }

  /** The latest progress of a job: live when running here, else from the store. */
  progress(jobId: string): ProgressEvent | undefined {
    const h = this.running.get(jobId);
    if (h) return h.progress();
    const job = this.store.getJob(jobId);
    if (!job) return undefined;
    return {
      type: 'progress',
      jobId,
      done: this.store.countSamples(jobId),
      total: job.total,
      failed: this.store.countSamples(jobId, 'failed'),
      rate: 0,
      etaSeconds: null,
    };
  }

  /**
   * Events of a job from now on: the current progress first, then live events until the job stops. A job
   * not running here yields its stored progress and status once.
   */
  async *events(jobId: string): AsyncGenerator<BenchmarkEvent> {
    const h = this.running.get(jobId);
    const now = this.progress(jobId);
    if (now === undefined) throw new BenchmarkError(`no job '${jobId}'`);
    if (h === undefined) {
      const job = this.store.getJob(jobId)!;
      yield now;
      yield { type: 'status', jobId, status: job.status, error: job.error };
      return;
    }
    const live = h.subscribe();
    yield now;
    yield* live;
  }

  /** The report of a job, built from the store. */
  report(jobId: string): BenchmarkReport {
    return buildReport(this.store, jobId);
  }

  /** The report of a job rendered in a format. */
  renderReport(jobId: string, format: ReportFormat): string {
    return renderReport(buildReport(this.store, jobId), format);
  }

  /** Waits for every running job to stop (for shutdown), after asking them to cancel when `cancel` is set. */
  async drain(cancel = false): Promise<void> {
    const handles = [...this.running.values()];
    if (cancel) for (const h of handles) h.cancel();
    await Promise.all(handles.map((h) => h.done));
  }

  private track(h: BenchmarkHandle): BenchmarkHandle {
    this.running.set(h.jobId, h);
    void h.done.then(() => this.running.delete(h.jobId));
    return h;
  }
}
