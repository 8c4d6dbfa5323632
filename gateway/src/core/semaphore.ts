/**
 * A counting semaphore with a bounded waiting line: at most `permits` holders at once, at most `maxWaiting`
 * callers queued behind them (in arrival order); a caller beyond that is refused at once instead of queueing
 * without bound.
 */

/** Thrown by {@link Semaphore.acquire} when the waiting line is full. */
export class SemaphoreFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SemaphoreFullError';
  }
}

/** Permits handed out in arrival order. */
export class Semaphore {
  private held = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    /** Holders at once (>= 1). */
    readonly permits: number,
    /** Callers that may wait for a permit (>= 0). */
    readonly maxWaiting: number,
  ) {
    if (!Number.isInteger(permits) || permits < 1 || !Number.isInteger(maxWaiting) || maxWaiting < 0)
      throw new RangeError(
        `semaphore needs permits >= 1 and maxWaiting >= 0, got ${permits} and ${maxWaiting}`,
      );
  }

  /** Holders now. */
  get active(): number {
    return this.held;
  }

  /** Callers waiting now. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Waits for a permit; resolves to its release function (idempotent). Throws SemaphoreFullError when full. */
  async acquire(): Promise<() => void> {
    if (this.held < this.permits) this.held++;
    else {
      if (this.waiting.length >= this.maxWaiting)
        throw new SemaphoreFullError(
          `${this.held} running and ${this.waiting.length} waiting (limits ${this.permits} and ${this.maxWaiting})`,
        );
      // The releasing holder hands its permit over directly, so `held` stays counted.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.held--;
    };
  }

  /** Runs `fn` holding a permit. */
  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
