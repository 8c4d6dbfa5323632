/**
 * Volume segmentation jobs: each runs one 3-D propagation in the background, publishes progress events on
 * its pub/sub topic, can be cancelled (it stops before its next slice), and keeps its outcome until evicted
 * (the oldest finished job goes first once more than `maxJobs` are held).
 */
import { randomUUID } from 'node:crypto';
import { ApiError, toApiError } from './errors.ts';
import { topic, type PubSub, type Topic } from './subscriptions.ts';

/** A job's lifecycle. */
export type VolumeJobPhase = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

/** One progress event of a volume job (the `volumeProgress` subscription's payload). */
export interface VolumeProgressEvent {
  jobId: string;
  status: VolumeJobPhase;
  /** Slices segmented so far. */
  slicesDone: number;
  /** Upper bound of slices to segment. */
  slicesPlanned: number;
  /** slicesDone / slicesPlanned while running; 1 when succeeded. */
  progress: number;
  /** The slice just segmented (absent in the final event). */
  slice: number | null;
  /** Its mask area in pixels. */
  area: number | null;
  /** True in the last event of the job. */
  done: boolean;
}

/** A job as held by the store; `result` is set when it succeeded. */
export interface VolumeJob<R> {
  id: string;
  status: VolumeJobPhase;
  slicesDone: number;
  slicesPlanned: number;
  createdAtMs: number;
  finishedAtMs?: number;
  result?: R;
  error?: ApiError;
  controller: AbortController;
  /** The caller that started it (principal kind:id); only it, or an admin, may see or cancel it. */
  owner: string;
}

/** Who asks for a job: a principal id (kind:id) and whether it is an admin. */
export interface JobCaller {
  id: string;
  admin: boolean;
}

/** What a running job reports through. */
export interface JobReporter {
  signal: AbortSignal;
  progress(done: number, planned: number, slice: number, area: number): void;
}

/** The pub/sub topic of one job's progress events. */
export function volumeTopic(jobId: string): Topic<VolumeProgressEvent> {
  return topic<VolumeProgressEvent>(`volume:${jobId}`);
}

/** Holds volume jobs; see the module comment. */
export class VolumeJobStore<R> {
  private readonly jobs = new Map<string, VolumeJob<R>>();

  constructor(
    private readonly pubsub: PubSub,
    private readonly options: { maxJobs: number },
  ) {}

  /** Starts a job running `work`; returns at once. `work` resolving undefined means it was cancelled. */
  start(
    work: (reporter: JobReporter) => Promise<R | undefined>,
    owner = 'anonymous',
    maxRunningPerOwner = Number.POSITIVE_INFINITY,
  ): VolumeJob<R> {
    this.evict();
    let running = 0;
    for (const j of this.jobs.values()) if (j.owner === owner && j.status === 'RUNNING') running++;
    if (running >= maxRunningPerOwner)
      throw new ApiError(
        'LIMIT_EXCEEDED',
        `this caller runs ${running} volume jobs (limit ${maxRunningPerOwner} per caller); wait or cancel one`,
      );
    const job: VolumeJob<R> = {
      id: randomUUID(),
      status: 'RUNNING',
      slicesDone: 0,
      slicesPlanned: 0,
      createdAtMs: Date.now(),
      controller: new AbortController(),
      owner,
    };
    this.jobs.set(job.id, job);
    const reporter: JobReporter = {
      signal: job.controller.signal,
      progress: (done, planned, slice, area) => {
        job.slicesDone = done;
        job.slicesPlanned = planned;
        this.pubsub.publish(volumeTopic(job.id), { ...this.snapshot(job), slice, area });
      },
    };
    // Deferred so the caller holds the job id before the first event is published.
    setImmediate(() => {
      work(reporter)
        .then((result) => {
          if (result === undefined || job.controller.signal.aborted) job.status = 'CANCELLED';
          else {
            job.status = 'SUCCEEDED';
            job.result = result;
            job.slicesPlanned = job.slicesDone;
          }
        })
        .catch((err: unknown) => {
          job.status = job.controller.signal.aborted ? 'CANCELLED' : 'FAILED';
          job.error = toApiError(err);
        })
        .finally(() => {
          job.finishedAtMs = Date.now();
          this.pubsub.publish(volumeTopic(job.id), this.snapshot(job));
        });
    });
    return job;
  }

  /** A job by id, or undefined (also when `caller` is given and neither owns it nor is an admin). */
  find(id: string, caller?: JobCaller): VolumeJob<R> | undefined {
    const job = this.jobs.get(id);
    if (job && caller && !caller.admin && job.owner !== caller.id) return undefined;
    return job;
  }

  /** A job by id; NOT_FOUND when unknown, evicted, or another caller's (then the answer is the same). */
  get(id: string, caller?: JobCaller): VolumeJob<R> {
    const job = this.find(id, caller);
    if (!job) throw new ApiError('NOT_FOUND', `volume job '${id}' is unknown or was evicted`);
    return job;
  }

  /** Asks a running job to stop before its next slice; false when it had already finished. */
  cancel(id: string, caller?: JobCaller): boolean {
    const job = this.get(id, caller);
    if (job.status !== 'RUNNING') return false;
    job.controller.abort();
    return true;
  }

  /** The job's state as a progress event (final when it has finished). */
  snapshot(job: VolumeJob<R>): VolumeProgressEvent {
    const finished = job.status !== 'RUNNING';
    return {
      jobId: job.id,
      status: job.status,
      slicesDone: job.slicesDone,
      slicesPlanned: job.slicesPlanned,
      progress:
        job.status === 'SUCCEEDED' ? 1 : job.slicesPlanned > 0 ? job.slicesDone / job.slicesPlanned : 0,
      slice: null,
      area: null,
      done: finished,
    };
  }

  /** Cancels every running job (shutdown). */
  cancelAll(): void {
    for (const job of this.jobs.values()) if (job.status === 'RUNNING') job.controller.abort();
  }

  private evict(): void {
    if (this.jobs.size < this.options.maxJobs) return;
    const finished = [...this.jobs.values()]
      .filter((j) => j.status !== 'RUNNING')
      .sort((a, b) => (a.finishedAtMs ?? 0) - (b.finishedAtMs ?? 0));
    while (this.jobs.size >= this.options.maxJobs && finished.length > 0)
      this.jobs.delete(finished.shift()!.id);
    if (this.jobs.size >= this.options.maxJobs) {
      throw new ApiError(
        'LIMIT_EXCEEDED',
        `${this.jobs.size} volume jobs are running; the limit is ${this.options.maxJobs}`,
      );
    }
  }
}
