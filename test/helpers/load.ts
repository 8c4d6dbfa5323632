/**
 * A small closed-loop load driver for tests and benchmarks: N clients each send one request, wait for the
 * answer, and send the next, for a fixed time (benchmarks) or a fixed number of requests each (tests, which
 * must not depend on how fast the machine is). Records latencies of successes and counts outcomes by code.
 */

/** What one request ended with: 'ok', an error code, or a transport failure. */
export type Outcome = string;

/** Results of one load run. */
export interface LoadResult {
  /** Wall time of the run in seconds. */
  seconds: number;
  /** Successful requests. */
  ok: number;
  /** Non-ok outcomes by code. */
  errors: Record<string, number>;
  /** Latencies of successful requests in milliseconds, sorted ascending. */
  latenciesMs: number[];
  /** Successful requests per second. */
  throughput: number;
}

/** The p-th percentile (0-100, nearest rank) of ascending values; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Runs `clients` loops of `request`, each for `durationMs` or for `requestsPerClient` requests (whichever is
 * given); `onOutcome` sees every outcome as it happens.
 */
export async function driveLoad(options: {
  clients: number;
  durationMs?: number;
  requestsPerClient?: number;
  request: () => Promise<Outcome>;
  onOutcome?: (outcome: Outcome, ms: number) => void;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const started = performance.now();
  if ((options.durationMs === undefined) === (options.requestsPerClient === undefined))
    throw new Error('driveLoad needs exactly one of durationMs and requestsPerClient');
  const end = started + (options.durationMs ?? Number.POSITIVE_INFINITY);
  const loop = async (): Promise<void> => {
    for (let sent = 0; performance.now() < end && sent < (options.requestsPerClient ?? Infinity); sent++) {
      const t = performance.now();
      let outcome: Outcome;
      try {
        outcome = await options.request();
      } catch (err: unknown) {
        outcome = (err as Error).name === 'TimeoutError' ? 'TIMEOUT' : `FETCH_${(err as Error).message}`;
      }
      const ms = performance.now() - t;
      if (outcome === 'ok') latencies.push(ms);
      else {
        errors[outcome] = (errors[outcome] ?? 0) + 1;
        // Back off a little on errors so a dead backend does not turn into a busy loop.
        await new Promise((r) => setTimeout(r, 10));
      }
      options.onOutcome?.(outcome, ms);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, loop));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    seconds,
    ok: latencies.length,
    errors,
    latenciesMs: latencies,
    throughput: latencies.length / seconds,
  };
}

/** A request function that POSTs one GraphQL operation and reports 'ok' or the first error code. */
export function graphqlRequest(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): () => Promise<Outcome> {
  const body = JSON.stringify({ query, variables });
  return async () => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const json = (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    const code = json.errors?.[0]?.extensions?.code;
    return code ?? (res.status === 200 ? 'ok' : `HTTP_${res.status}`);
  };
}

/** Peak resident set size (VmHWM) of a Linux process in bytes, or undefined where /proc is unavailable. */
export async function peakRssBytes(pid: number): Promise<number | undefined> {
  try {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
