/**
 * Volume segmentation jobs: each runs one 3-D propagation in the background, publishes progress events on
 * its pub/sub topic, can be cancelled (it stops before its next slice), and keeps its outcome until evicted
 * (the oldest finished job goes first once more than `maxJobs` are held).
 */
import { randomUUID } from 'node:crypto';
import type { StateStore } from '../store/state-store.ts';
import { ApiError, toApiError } from './errors.ts';
import { topic, type PubSub, type Topic } from './pubsub.ts';

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

/**
 * Where replicas mirror their volume jobs (PostgreSQL): each job's state and outcome as a record, each
 * progress event on the store channel `volume:<id>`, so any replica answers `volumeJob`, forwards
 * `cancelVolume` and streams `volumeProgress`. A job still runs on the replica that started it.
 */
export interface VolumeMirror {
  store: StateStore;
  /** How long a finished job's record is kept, in ms. */
  ttlMs: number;
  onError?: (err: unknown) => void;
}

interface MirroredJob<R> {
  status: VolumeJobPhase;
  /** When the running replica last wrote (ms since the epoch): it rewrites at least every HEARTBEAT_MS. */
  updatedAtMs: number;
  slicesDone: number;
  slicesPlanned: number;
  createdAtMs: number;
  finishedAtMs: number | null;
  result: R | null;
  error: { code: string; message: string } | null;
  /** The caller that started it (absent in records of older releases: anonymous). */
  owner?: string;
}

const CANCEL_CHANNEL = 'volume-cancel';
/** How often a running job's record is rewritten even without progress, in ms. */
const HEARTBEAT_MS = 10_000;
/** A running record not rewritten for this long belongs to a replica that died: the job is reported failed. */
const STALE_MS = 6 * HEARTBEAT_MS;
/** Record namespace of running volume jobs by owner: keys `<owner, URI-encoded>|<job id>`. */
const OWNER_NS = 'volume-owner';

/** Holds volume jobs; see the module comment. */
export class VolumeJobStore<R> {
  private readonly jobs = new Map<string, VolumeJob<R>>();
  private mirror: VolumeMirror | undefined;
  // One write at a time per job keeps the mirrored record and events in order.
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly pubsub: PubSub,
    private readonly options: { maxJobs: number },
  ) {}

  /** Mirrors jobs to a shared store and hears cancels sent from other replicas. */
  async attach(mirror: VolumeMirror): Promise<void> {
    this.mirror = mirror;
    await mirror.store.listen(CANCEL_CHANNEL, (id) => {
      const job = this.jobs.get(id);
      if (job?.status === 'RUNNING') job.controller.abort();
    });
  }

  private mirrorWrite(job: VolumeJob<R>, event?: VolumeProgressEvent): void {
    const m = this.mirror;
    if (!m) return;
    const value: MirroredJob<R> = {
      status: job.status,
      updatedAtMs: Date.now(),
      slicesDone: job.slicesDone,
      slicesPlanned: job.slicesPlanned,
      createdAtMs: job.createdAtMs,
      finishedAtMs: job.finishedAtMs ?? null,
      result: job.result ?? null,
      error: job.error ? { code: job.error.code, message: job.error.message } : null,
      owner: job.owner,
    };
    const prev = this.chains.get(job.id) ?? Promise.resolve();
    const next = prev
      .then(async () => {
        await m.store.putRecord({
          namespace: 'volume',
          key: job.id,
          value,
          bytes: null,
          expiresMs: Date.now() + m.ttlMs,
        });
        // Running jobs indexed by owner, for the per-caller bound across replicas; the heartbeat keeps the
        // entry alive, so a job of a replica that died stops counting once it reads as failed.
        const ownerKey = `${encodeURIComponent(job.owner)}|${job.id}`;
        if (job.status === 'RUNNING') {
          await m.store.putRecord({
            namespace: OWNER_NS,
            key: ownerKey,
            value: null,
            bytes: null,
            expiresMs: Date.now() + STALE_MS,
          });
        } else {
          await m.store.deleteRecord(OWNER_NS, ownerKey);
        }
        if (event) await m.store.publish(`volume:${job.id}`, JSON.stringify(event));
      })
      .catch((err: unknown) => m.onError?.(err));
    this.chains.set(job.id, next);
    void next.then(() => {
      if (this.chains.get(job.id) === next) this.chains.delete(job.id);
    });
  }

  /**
   * The per-caller bound across replicas: LIMIT_EXCEEDED when `owner` runs `max` volume jobs on any replica
   * (the mirror's owner index). Without a mirror, {@link start} counts this process's jobs.
   */
  async checkSharedQuota(owner: string, max: number): Promise<void> {
    if (!this.mirror) return;
    const running = await this.mirror.store.countRecords(OWNER_NS, `${encodeURIComponent(owner)}|`);
    if (running >= max)
      throw new ApiError(
        'LIMIT_EXCEEDED',
        `this caller runs ${running} volume jobs (limit ${max} per caller); wait or cancel one`,
      );
  }

  /** Waits until a job's mirrored state is written (so another replica can read it). */
  async flush(id: string): Promise<void> {
    await this.chains.get(id);
  }

  /**
   * A job another replica runs (or ran), read from the mirror; undefined when unknown there too, or when
   * `caller` is given and neither owns it nor is an admin.
   */
  async findShared(id: string, caller?: JobCaller): Promise<VolumeJob<R> | undefined> {
    if (this.jobs.has(id) || !this.mirror) return this.find(id, caller);
    const rec = await this.mirror.store.getRecord('volume', id);
    if (!rec) return undefined;
    const v = rec.value as MirroredJob<R>;
    const owner = v.owner ?? 'anonymous';
    if (caller && !caller.admin && owner !== caller.id) return undefined;
    // Its replica died mid-job (volume jobs are not resumed elsewhere): say so instead of running forever.
    const orphaned = v.status === 'RUNNING' && Date.now() - v.updatedAtMs > STALE_MS;
    if (orphaned) {
      v.status = 'FAILED';
      v.finishedAtMs = v.updatedAtMs;
      v.error = {
        code: 'INTERNAL',
        message: 'the replica running this volume job stopped before it finished; start the job again',
      };
    }
    return {
      id,
      status: v.status,
      slicesDone: v.slicesDone,
      slicesPlanned: v.slicesPlanned,
      createdAtMs: v.createdAtMs,
      ...(v.finishedAtMs !== null ? { finishedAtMs: v.finishedAtMs } : {}),
      ...(v.result !== null ? { result: v.result } : {}),
      ...(v.error ? { error: new ApiError(v.error.code as ApiError['code'], v.error.message) } : {}),
      controller: new AbortController(),
      owner,
    };
  }

  /** Asks a job running on any replica to stop (only its owner or an admin); false when it is finished. */
  async cancelShared(id: string, caller?: JobCaller): Promise<boolean> {
    if (this.jobs.has(id) || !this.mirror) return this.cancel(id, caller);
    const job = await this.findShared(id, caller);
    if (!job) throw new ApiError('NOT_FOUND', `volume job '${id}' is unknown or was evicted`);
    if (job.status !== 'RUNNING') return false;
    await this.mirror.store.publish(CANCEL_CHANNEL, id);
    return true;
  }

  /**
   * The progress events of a job that runs on another replica, ending with its final event; the record is
   * re-read every `pollMs`, so a missed notification never loses the end.
   */
  async *sharedEvents(id: string, pollMs = 1000): AsyncGenerator<VolumeProgressEvent> {
    const m = this.mirror;
    if (!m) return;
    const queue: VolumeProgressEvent[] = [];
    let wake: (() => void) | undefined;
    const stop = await m.store.listen(`volume:${id}`, (p) => {
      try {
        queue.push(JSON.parse(p) as VolumeProgressEvent);
      } catch {
        return;
      }
      wake?.();
    });
    try {
      for (;;) {
        while (queue.length > 0) {
          const e = queue.shift()!;
          yield e;
          if (e.done) return;
        }
        const job = await this.findShared(id);
        if (!job) throw new ApiError('NOT_FOUND', `volume job '${id}' is unknown or was evicted`);
        if (job.status !== 'RUNNING') {
          yield this.snapshot(job);
          return;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      await stop();
    }
  }

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
    this.mirrorWrite(job);
    const heartbeat = this.mirror ? setInterval(() => this.mirrorWrite(job), HEARTBEAT_MS) : undefined;
    heartbeat?.unref();
    const reporter: JobReporter = {
      signal: job.controller.signal,
      progress: (done, planned, slice, area) => {
        job.slicesDone = done;
        job.slicesPlanned = planned;
        const event = { ...this.snapshot(job), slice, area };
        this.pubsub.publish(volumeTopic(job.id), event);
        this.mirrorWrite(job, event);
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
          clearInterval(heartbeat);
          this.mirrorWrite(job, this.snapshot(job));
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
