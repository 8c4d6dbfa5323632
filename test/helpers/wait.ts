/**
 * Waiting for a condition in tests. Tests wait for what they need to see, never for a fixed time, and the
 * deadline is generous (minutes), so a 2-core machine busy with other work slows a test down but never fails it.
 */

/** The default deadline of {@link waitFor}, in milliseconds: far beyond any healthy wait, short of a hang. */
export const GENEROUS_MS = 180_000;

/** Resolves after `ms` milliseconds (a polling interval, never a stand-in for a condition). */
export const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined/false and resolves to it;
 * rejects naming `what` (and the last value `describe` gives) when `timeoutMs` passes first.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number; describe?: () => string } = {},
): Promise<T> {
  const { timeoutMs = GENEROUS_MS, intervalMs = 50 } = options;
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > end) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${options.describe ? `; ${options.describe()}` : ''}`,
      );
    }
    await pause(intervalMs);
  }
}

/**
 * Reads `read` until `ok` accepts its value and resolves to that value; rejects naming `what` and the last value
 * read when `timeoutMs` passes first. For waits across processes (replicas, jobs), hence the longer deadline.
 */
export async function waitForValue<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = 300_000,
): Promise<T> {
  let last: T | undefined;
  const found = await waitFor(
    what,
    async () => {
      last = await read();
      return ok(last) ? { value: last } : undefined;
    },
    { timeoutMs, intervalMs: 200, describe: () => `last ${JSON.stringify(last)}` },
  );
  return found.value;
}
