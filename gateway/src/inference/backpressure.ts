/**
 * A guard around the inference backend that SamSession uses: a bounded queue per model (at most `maxInflight`
 * calls running and `maxQueued` waiting; beyond that RESOURCE_EXHAUSTED with a retry hint instead of a queue
 * that grows until memory runs out), and bounded retries with jittered exponential backoff for calls that
 * found the backend unavailable. Every call the gateway makes is idempotent (ModelReady, ModelConfig,
 * ModelMetadata, RepositoryIndex, and ModelInfer of the encoder and of the decoder: pure functions of their
 * inputs), so a retry never does work twice that matters; retries stay within the caller's deadline.
 */
import { InferenceError } from './errors.ts';
import type {
  InferenceBackend,
  InferRequest,
  InferResponse,
  ModelMetadata,
  RepositoryModel,
} from '../protocol/types.ts';
import type { ModelConfig } from '../protocol/model-config.ts';

/** Options of {@link GuardedBackend}. */
export interface GuardOptions {
  /** Calls in flight at once per model. */
  maxInflight: number;
  /** Calls waiting per model beyond those in flight; 0 = refuse as soon as all slots are busy. */
  maxQueued: number;
  /** Retries after BACKEND_UNAVAILABLE or MODEL_NOT_READY (0 = none). */
  retries: number;
  /** Default deadline of one call in milliseconds (the wait in the queue counts against it). */
  deadlineMs: number;
  /** First backoff in milliseconds, doubled per retry, with full jitter (default 100). */
  backoffMs?: number;
  /** Random source in [0, 1) for the jitter (tests inject one). */
  random?: () => number;
  /** Called when a call is refused for a full queue, or retried (for metrics and logs). */
  onEvent?: (event: { type: 'rejected' | 'retry'; model: string; code?: string }) => void;
}

/** Queue figures of one model. */
export interface QueueStats {
  inflight: number;
  queued: number;
  rejected: number;
  retries: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

class ModelQueue {
  inflight = 0;
  rejected = 0;
  retries = 0;
  readonly waiting: Waiter[] = [];
  /** Moving average of call durations in milliseconds, for the retry hint. */
  avgMs = 100;
}

const RETRYABLE = new Set(['BACKEND_UNAVAILABLE', 'MODEL_NOT_READY']);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The backend as SamSession sees it, with a bounded queue per model and retries. */
export class GuardedBackend implements InferenceBackend {
  private readonly queues = new Map<string, ModelQueue>();
  private readonly random: () => number;

  constructor(
    private readonly inner: InferenceBackend,
    private readonly options: GuardOptions,
  ) {
    if (options.maxInflight < 1 || options.maxQueued < 0 || options.retries < 0) {
      throw new RangeError(
        `backend guard needs maxInflight >= 1, maxQueued >= 0, retries >= 0; got ${options.maxInflight}, ${options.maxQueued}, ${options.retries}`,
      );
    }
    this.random = options.random ?? Math.random;
  }

  /** Current figures of one model's queue. */
  stats(model: string): QueueStats {
    const q = this.queues.get(model);
    return {
      inflight: q?.inflight ?? 0,
      queued: q?.waiting.length ?? 0,
      rejected: q?.rejected ?? 0,
      retries: q?.retries ?? 0,
    };
  }

  private queue(model: string): ModelQueue {
    let q = this.queues.get(model);
    if (!q) {
      q = new ModelQueue();
      this.queues.set(model, q);
    }
    return q;
  }

  /** Waits for a slot of the model, or refuses at once when the queue is full, or times out at the deadline. */
  private acquire(model: string, q: ModelQueue, deadlineAt: number): Promise<void> {
    if (q.inflight < this.options.maxInflight) {
      q.inflight += 1;
      return Promise.resolve();
    }
    if (q.waiting.length >= this.options.maxQueued) {
      q.rejected += 1;
      this.options.onEvent?.({ type: 'rejected', model });
      // How long until a queue's worth of calls has drained through the slots, rounded up to whole seconds.
      const drainMs = ((q.waiting.length + 1) / this.options.maxInflight) * q.avgMs;
      const err = new InferenceError(
        'RESOURCE_EXHAUSTED',
        `model '${model}' has ${q.inflight} calls running and ${q.waiting.length} waiting (the limits); retry later`,
      );
      return Promise.reject(
        Object.assign(err, { retryAfterSeconds: Math.max(1, Math.ceil(drainMs / 1000)) }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(
          () => {
            const i = q.waiting.indexOf(waiter);
            if (i >= 0) q.waiting.splice(i, 1);
            reject(
              new InferenceError(
                'DEADLINE_EXCEEDED',
                `model '${model}': deadline passed while queued behind ${q.inflight} calls`,
              ),
            );
          },
          Math.max(0, deadlineAt - Date.now()),
        ),
      };
      q.waiting.push(waiter);
    });
  }

  private release(q: ModelQueue): void {
    const next = q.waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      next.resolve();
    } else q.inflight -= 1;
  }

  /** Runs `call` with retries for transient unavailability, within `deadlineMs` overall. */
  private async withRetries<T>(
    model: string,
    deadlineMs: number,
    call: (remainingMs: number) => Promise<T>,
  ): Promise<T> {
    const deadlineAt = Date.now() + deadlineMs;
    const base = this.options.backoffMs ?? 100;
    for (let attempt = 0; ; attempt++) {
      try {
        return await call(Math.max(1, deadlineAt - Date.now()));
      } catch (err: unknown) {
        const code = (err as { code?: unknown }).code;
        const wait = this.random() * base * 2 ** attempt;
        if (
          attempt >= this.options.retries ||
          typeof code !== 'string' ||
          !RETRYABLE.has(code) ||
          Date.now() + wait >= deadlineAt
        ) {
          throw err;
        }
        this.queue(model).retries += 1;
        this.options.onEvent?.({ type: 'retry', model, code });
        await sleep(wait);
      }
    }
  }

  /** ModelInfer through the model's queue, retried when the backend was unavailable. */
  async infer(request: InferRequest, options: { deadlineMs?: number } = {}): Promise<InferResponse> {
    const model = request.modelName;
    const q = this.queue(model);
    return this.withRetries(model, options.deadlineMs ?? this.options.deadlineMs, async (remainingMs) => {
      const deadlineAt = Date.now() + remainingMs;
      await this.acquire(model, q, deadlineAt);
      const started = performance.now();
      try {
        return await this.inner.infer(request, { deadlineMs: Math.max(1, deadlineAt - Date.now()) });
      } finally {
        q.avgMs = 0.8 * q.avgMs + 0.2 * (performance.now() - started);
        this.release(q);
      }
    });
  }

  /** RepositoryIndex, retried. */
  repositoryIndex(): Promise<RepositoryModel[]> {
    return this.withRetries('', this.options.deadlineMs, () => this.inner.repositoryIndex());
  }

  /** ModelReady, retried only when the call itself failed (a plain "false" is an answer). */
  modelReady(name: string, version?: string): Promise<boolean> {
    return this.withRetries(name, this.options.deadlineMs, () => this.inner.modelReady(name, version));
  }

  /** ModelConfig, retried. */
  modelConfig(name: string, version?: string): Promise<ModelConfig> {
    return this.withRetries(name, this.options.deadlineMs, () => this.inner.modelConfig(name, version));
  }

  /** ModelMetadata, retried. */
  modelMetadata(name: string, version?: string): Promise<ModelMetadata> {
    return this.withRetries(name, this.options.deadlineMs, () => this.inner.modelMetadata(name, version));
  }
}
