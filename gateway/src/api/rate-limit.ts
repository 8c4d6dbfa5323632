/**
 * Per-caller rate limiting with token buckets: each caller (the gateway uses API key ids and JWT subjects)
 * holds up to `burst` tokens refilled at `ratePerSecond`; a request takes one. An empty bucket
 * says how many seconds until the next token, for `Retry-After` (RFC 9110 section 10.2.3).
 *
 * Why not rate-limiter-flexible (evaluated at 11.4.0): its SQLite and PostgreSQL limiters count points in
 * fixed windows (a window opens at the first request and resets when it expires), not a bucket that refills
 * continuously, so a caller could spend two bursts across a window edge and then wait a whole window; they
 * stamp windows with each replica's own clock where the PostgreSQL bucket here uses the database's one; and
 * they create and sweep tables of their own outside the state store's schema, its pool and its conformance
 * tests (store/), which already take a token atomically on both stores.
 */

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Sustained requests per second per caller; 0 turns limiting off. */
  ratePerSecond: number;
  /** Bucket size: requests a caller may make at once after being idle. */
  burst: number;
  /** Most callers tracked; the least recently seen are forgotten first (default 10 000). */
  maxCallers?: number;
  /** Clock in milliseconds (tests inject one). */
  now?: () => number;
}

/** The outcome of one request: allowed, or refused with whole seconds to wait (at least 1). */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Anything that takes a token for a caller: the in-process limiter, or the store-backed one. */
export interface CallerLimiter {
  take(caller: string): RateDecision | Promise<RateDecision>;
}

/**
 * The rate limit of replicas sharing a store: one token bucket per caller in the store, taken atomically,
 * so a caller gets `ratePerSecond` across the whole deployment rather than per replica. While the store
 * cannot answer, each replica falls back to its own in-process bucket (neither open nor closed).
 */
export class StoreRateLimiter implements CallerLimiter {
  private readonly local: RateLimiter;

  constructor(
    private readonly store: {
      takeToken(
        caller: string,
        ratePerSecond: number,
        burst: number,
      ): Promise<{ allowed: boolean; tokens: number }>;
    },
    private readonly options: Pick<RateLimiterOptions, 'ratePerSecond' | 'burst'>,
  ) {
    this.local = new RateLimiter(options);
  }

  async take(caller: string): Promise<RateDecision> {
    const { ratePerSecond, burst } = this.options;
    if (ratePerSecond === 0) return { allowed: true };
    let taken: { allowed: boolean; tokens: number };
    try {
      taken = await this.store.takeToken(caller, ratePerSecond, burst);
    } catch {
      return this.local.take(caller);
    }
    if (taken.allowed) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - taken.tokens) / ratePerSecond)) };
  }
}

/** Token buckets by caller key. */
export class RateLimiter implements CallerLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxCallers: number;

  constructor(private readonly options: RateLimiterOptions) {
    if (!(options.ratePerSecond >= 0) || !(options.burst >= 1)) {
      throw new RangeError(
        `rate limiter needs ratePerSecond >= 0 and burst >= 1, got ${options.ratePerSecond} and ${options.burst}`,
      );
    }
    this.now = options.now ?? (() => performance.now());
    this.maxCallers = options.maxCallers ?? 10_000;
  }

  /** Takes one token from the caller's bucket. */
  take(caller: string): RateDecision {
    const { ratePerSecond, burst } = this.options;
    if (ratePerSecond === 0) return { allowed: true };
    const now = this.now();
    let bucket = this.buckets.get(caller);
    if (bucket) {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * ratePerSecond);
      bucket.updatedMs = now;
      // Re-insert so that Map order is least recently seen first, for eviction.
      this.buckets.delete(caller);
    } else {
      bucket = { tokens: burst, updatedMs: now };
      if (this.buckets.size >= this.maxCallers) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    }
    this.buckets.set(caller, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond)) };
  }

  /** Number of callers tracked (for tests). */
  get size(): number {
    return this.buckets.size;
  }
}
