/**
 * Volume segmentation jobs: each runs one 3-D propagation in the background, publishes progress events on
 * its pub/sub topic, can be cancelled (it stops before its next slice), and keeps its outcome until evicted
 * (the oldest finished job goes first once more than `maxJobs` are held). Beside a shared store (PostgreSQL)
 * a job is leased like a benchmark job: its replica renews the lease; when that replica dies, a sweeper on
 * another replica takes the lease over with a compare-and-set and runs the job again from its stored input.
 */
import { randomUUID } from 'node:crypto';
import type { RecordEntry, StateStore } from '../store/state-store.ts';
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
 * `cancelVolume` and streams `volumeProgress`; each running job's lease and input, so another replica takes
 * it over when its replica dies.
 */
export interface VolumeMirror {
  store: StateStore;
  /** How long a finished job's record is kept, in ms. */
  ttlMs: number;
  /** Lease length in ms (default 30000): a job whose replica stops renewing is taken over after this. */
  leaseMs?: number;
  /** This replica's id as a lease holder (default a random one). */
  replicaId?: string;
  onError?: (err: unknown) => void;
  /** Hears the jobs this replica takes over. */
  onTakeover?: (jobId: string) => void;
}

/**
 * Runs a job again from its stored input (the `spec` given to {@link VolumeJobStore.start}) on a replica that
 * took it over; resolving undefined means it was cancelled.
 */
export type VolumeRunner<R> = (spec: unknown, reporter: JobReporter) => Promise<R | undefined>;

interface MirroredJob<R> {
  status: VolumeJobPhase;
  /** When the running replica last wrote (ms since the epoch): it rewrites at least every heartbeat. */
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

/** The lease record of a running job: who runs it, and until when (ms since the epoch). */
interface LeaseValue {
  replica: string;
  untilMs: number;
}

const CANCEL_CHANNEL = 'volume-cancel';
/** Record namespace of running volume jobs by owner: keys `<owner, URI-encoded>|<job id>`. */
const OWNER_NS = 'volume-owner';
/** Record namespace of the leases of running jobs (key: job id; the version is the compare-and-set token). */
const LEASE_NS = 'volume-lease';
/** Record namespace of the inputs of running jobs (bytes: the JSON `spec`), read by a replica taking over. */
const SPEC_NS = 'volume-spec';
/** Record namespace of cancel requests, for a job whose replica died before it heard one. */
const CANCELLED_NS = 'volume-cancelled';

const ownerKey = (owner: string, id: string): string => `${encodeURIComponent(owner)}|${id}`;

/** A running job's hold on its lease. */
interface Held {
  version: number;
  /** Another replica holds the lease now: this one stops and writes nothing more. */
  lost: boolean;
}

/** Holds volume jobs; see the module comment. */
export class VolumeJobStore<R> {
  private readonly jobs = new Map<string, VolumeJob<R>>();
  private mirror: VolumeMirror | undefined;
  private readonly held = new Map<string, Held>();
  // One write at a time per job keeps the mirrored record and events in order.
  private readonly chains = new Map<string, Promise<void>>();
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;
  private replicaId = `volumes/${randomUUID()}`;
  private leaseMs = 30_000;

  constructor(
    private readonly pubsub: PubSub,
    private readonly options: { maxJobs: number },
  ) {}

  /** A running record not rewritten for this long, with no lease, belongs to a replica of an older release. */
  private get staleMs(): number {
    return 3 * this.leaseMs;
  }

  /**
   * Mirrors jobs to a shared store and hears cancels sent from other replicas. With `runner`, this replica
   * also takes over the jobs of replicas that died (a sweeper every third of the lease).
   */
  async attach(mirror: VolumeMirror, runner?: VolumeRunner<R>): Promise<void> {
    this.mirror = mirror;
    this.leaseMs = mirror.leaseMs ?? 30_000;
    if (mirror.replicaId) this.replicaId = mirror.replicaId;
    await mirror.store.listen(CANCEL_CHANNEL, (id) => {
      const job = this.jobs.get(id);
      if (job?.status === 'RUNNING') job.controller.abort();
    });
    if (runner) {
      this.sweeper = setInterval(
        () => {
          if (this.sweeping) return;
          this.sweeping = true;
          this.sweep(runner)
            .catch((err: unknown) => mirror.onError?.(err))
            .finally(() => (this.sweeping = false));
        },
        Math.max(50, Math.floor(this.leaseMs / 3)),
      );
      this.sweeper.unref();
    }
  }

  /** Runs `fn` after the job's earlier writes; errors go to onError. */
  private enqueue(id: string, fn: (m: VolumeMirror) => Promise<void>): void {
    const m = this.mirror;
    if (!m) return;
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.then(() => fn(m)).catch((err: unknown) => m.onError?.(err));
    this.chains.set(id, next);
    void next.then(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    });
  }

  private mirrorWrite(job: VolumeJob<R>, event?: VolumeProgressEvent): void {
    this.enqueue(job.id, async (m) => {
      if (this.held.get(job.id)?.lost) return;
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
      await m.store.putRecord({
        namespace: 'volume',
        key: job.id,
        value,
        bytes: null,
        expiresMs: Date.now() + m.ttlMs,
      });
      // Running jobs indexed by owner, for the per-caller bound across replicas; the heartbeat keeps the
      // entry alive (a job whose replica died keeps its place while it waits to be taken over).
      if (job.status === 'RUNNING') {
        await m.store.putRecord({
          namespace: OWNER_NS,
          key: ownerKey(job.owner, job.id),
          value: null,
          bytes: null,
          expiresMs: Date.now() + this.staleMs,
        });
      } else {
        await m.store.deleteRecord(OWNER_NS, ownerKey(job.owner, job.id));
      }
      if (event) await m.store.publish(`volume:${job.id}`, JSON.stringify(event));
    });
  }

  /**
   * The per-caller bound across replicas, atomic: takes one of `owner`'s `max` slots in the store (counted
   * and taken in one transaction, so two replicas cannot both take the last) and returns the job id it is
   * reserved for, to pass to {@link start}; LIMIT_EXCEEDED when none is left. Without a mirror, undefined
   * ({@link start} counts this process's jobs). A reservation not started is given back with
   * {@link releaseReservation} (or lapses after three leases).
   */
  async checkSharedQuota(owner: string, max: number): Promise<string | undefined> {
    const m = this.mirror;
    if (!m) return undefined;
    const id = randomUUID();
    const taken = await m.store.putRecordBounded(
      {
        namespace: OWNER_NS,
        key: ownerKey(owner, id),
        value: null,
        bytes: null,
        expiresMs: Date.now() + this.staleMs,
      },
      `${encodeURIComponent(owner)}|`,
      max,
    );
    if (taken === null) {
      const running = await m.store.countRecords(OWNER_NS, `${encodeURIComponent(owner)}|`);
      throw new ApiError(
        'LIMIT_EXCEEDED',
        `this caller runs ${running} volume jobs (limit ${max} per caller); wait or cancel one`,
      );
    }
    return id;
  }

  /** Gives back a slot taken by {@link checkSharedQuota} for a job that did not start. */
  async releaseReservation(owner: string, id: string): Promise<void> {
    await this.mirror?.store.deleteRecord(OWNER_NS, ownerKey(owner, id));
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
    // Its replica stopped writing long ago and no lease says another will take it over (a record of an older
    // release, or a job whose input could not be stored): say so instead of running forever.
    const orphaned =
      v.status === 'RUNNING' &&
      Date.now() - v.updatedAtMs > this.staleMs &&
      !(await this.mirror.store.getRecord(LEASE_NS, id));
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
    // Stored too: a job waiting to be taken over (its replica died) ends cancelled instead of running again.
    await this.mirror.store.putRecord({
      namespace: CANCELLED_NS,
      key: id,
      value: true,
      bytes: null,
      expiresMs: Date.now() + this.mirror.ttlMs,
    });
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

  /**
   * Starts a job running `work`; returns at once. `work` resolving undefined means it was cancelled. With a
   * mirror, `options.id` is the id {@link checkSharedQuota} reserved, and `options.spec` (JSON) the input a
   * replica taking the job over runs it again from.
   */
  start(
    work: (reporter: JobReporter) => Promise<R | undefined>,
    owner = 'anonymous',
    maxRunningPerOwner = Number.POSITIVE_INFINITY,
    options: { id?: string; spec?: unknown } = {},
  ): VolumeJob<R> {
    try {
      this.evict();
      let running = 0;
      for (const j of this.jobs.values()) if (j.owner === owner && j.status === 'RUNNING') running++;
      if (running >= maxRunningPerOwner)
        throw new ApiError(
          'LIMIT_EXCEEDED',
          `this caller runs ${running} volume jobs (limit ${maxRunningPerOwner} per caller); wait or cancel one`,
        );
    } catch (err: unknown) {
      if (options.id !== undefined) void this.releaseReservation(owner, options.id).catch(() => {});
      throw err;
    }
    const job: VolumeJob<R> = {
      id: options.id ?? randomUUID(),
      status: 'RUNNING',
      slicesDone: 0,
      slicesPlanned: 0,
      createdAtMs: Date.now(),
      controller: new AbortController(),
      owner,
    };
    const held: Held = { version: 0, lost: false };
    this.enqueue(job.id, async (m) => {
      if (options.spec !== undefined) {
        await m.store.putRecord({
          namespace: SPEC_NS,
          key: job.id,
          value: null,
          bytes: Buffer.from(JSON.stringify(options.spec)),
          expiresMs: Date.now() + m.ttlMs,
        });
      }
      const version = await m.store.putRecord(this.leaseEntry(job.id, m), 0);
      if (version === null) throw new Error(`volume job ${job.id}: its lease exists already`);
      held.version = version;
    });
    this.run(job, work, held);
    return job;
  }

  private leaseEntry(id: string, m: VolumeMirror): Omit<RecordEntry, 'version'> {
    const value: LeaseValue = { replica: this.replicaId, untilMs: Date.now() + this.leaseMs };
    return { namespace: LEASE_NS, key: id, value, bytes: null, expiresMs: Date.now() + m.ttlMs };
  }

  /** Runs a job here (started or taken over), renewing its lease while it runs. */
  private run(job: VolumeJob<R>, work: (reporter: JobReporter) => Promise<R | undefined>, held: Held): void {
    this.jobs.set(job.id, job);
    if (this.mirror) this.held.set(job.id, held);
    this.mirrorWrite(job);
    const heartbeat = this.mirror
      ? setInterval(
          () => {
            this.enqueue(job.id, async (m) => {
              if (held.lost || held.version === 0) return;
              const version = await m.store.putRecord(this.leaseEntry(job.id, m), held.version);
              if (version === null) {
                // Another replica took the job over (this one was paused past its lease): stop here.
                held.lost = true;
                job.controller.abort();
              } else held.version = version;
            });
            this.mirrorWrite(job);
          },
          Math.max(50, Math.floor(this.leaseMs / 3)),
        )
      : undefined;
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
          clearInterval(heartbeat);
          if (held.lost) {
            // The new holder reports this job; here it is forgotten.
            this.jobs.delete(job.id);
            this.held.delete(job.id);
            return;
          }
          job.finishedAtMs = Date.now();
          this.pubsub.publish(volumeTopic(job.id), this.snapshot(job));
          this.mirrorWrite(job, this.snapshot(job));
          this.enqueue(job.id, async (m) => {
            this.held.delete(job.id);
            for (const ns of [LEASE_NS, SPEC_NS, CANCELLED_NS]) await m.store.deleteRecord(ns, job.id);
          });
        });
    });
  }

  /** Takes over the jobs whose lease ran out (their replica died), at most as many as this replica holds room for. */
  private async sweep(runner: VolumeRunner<R>): Promise<void> {
    const m = this.mirror;
    if (!m) return;
    for (const rec of await m.store.listRecords(LEASE_NS)) {
      if (this.jobs.has(rec.key)) continue;
      const lease = rec.value as LeaseValue;
      if (lease.untilMs > Date.now()) continue;
      if (this.jobs.size >= this.options.maxJobs && !this.hasFinished()) return;
      // Compare-and-set on the version read: of replicas sweeping at once exactly one takes the job.
      const version = await m.store.putRecord(this.leaseEntry(rec.key, m), rec.version);
      if (version === null) continue;
      await this.takeOver(rec.key, { version, lost: false }, runner, m);
    }
  }

  private hasFinished(): boolean {
    for (const j of this.jobs.values()) if (j.status !== 'RUNNING') return true;
    return false;
  }

  private async takeOver(id: string, held: Held, runner: VolumeRunner<R>, m: VolumeMirror): Promise<void> {
    const state = (await m.store.getRecord('volume', id))?.value as MirroredJob<R> | undefined;
    const spec = await m.store.getRecord(SPEC_NS, id);
    const cancelled = (await m.store.getRecord(CANCELLED_NS, id)) !== undefined;
    if (!state || state.status !== 'RUNNING') {
      // It had finished; only the clean-up was missing.
      for (const ns of [LEASE_NS, SPEC_NS, CANCELLED_NS]) await m.store.deleteRecord(ns, id);
      return;
    }
    this.evict();
    const job: VolumeJob<R> = {
      id,
      status: 'RUNNING',
      slicesDone: 0,
      slicesPlanned: state.slicesPlanned,
      createdAtMs: state.createdAtMs,
      controller: new AbortController(),
      owner: state.owner ?? 'anonymous',
    };
    m.onTakeover?.(id);
    if (cancelled) job.controller.abort();
    const input = spec?.bytes ? (JSON.parse(spec.bytes.toString('utf8')) as unknown) : undefined;
    // Run again from the start on the stored input: the slices are recomputed, each stored once in the result.
    this.run(
      job,
      async (reporter) => {
        if (reporter.signal.aborted) return undefined;
        if (input === undefined) {
          throw new ApiError(
            'INTERNAL',
            'the replica running this volume job stopped before it finished, and its input was not stored; start the job again',
          );
        }
        return runner(input, reporter);
      },
      held,
    );
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

  /**
   * Shutdown: stops taking over others' jobs and stops every job running here. Beside a shared store the
   * jobs are handed off (their lease given up, nothing more written), so another replica runs them at once;
   * without one they end cancelled. Resolves once the hand-offs are written.
   */
  async cancelAll(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const job of this.jobs.values()) {
      if (job.status !== 'RUNNING') continue;
      const held = this.held.get(job.id);
      if (held && this.mirror && !held.lost) {
        // Set now, before the job's own end can write a final state.
        held.lost = true;
        this.enqueue(job.id, async (m) => {
          if (held.version === 0) return;
          await m.store.putRecord(
            { ...this.leaseEntry(job.id, m), value: { replica: '', untilMs: 0 } },
            held.version,
          );
        });
      }
      job.controller.abort();
    }
    await Promise.all([...this.chains.values()]);
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
