/**
 * A small seeded pseudo-random generator (SplitMix32-style mixing of a Weyl sequence), so every random
 * choice in a benchmark (prompt jitter, sampling) is reproducible from one integer seed. Not cryptographic.
 */

/** A seeded stream of pseudo-random numbers. */
export interface Rng {
  /** A float uniform in [0, 1), 32 bits of randomness. */
  next(): number;
  /** An integer uniform in [0, n) for an integer n >= 1. */
  int(n: number): number;
  /** A float uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** The 32-bit state, to resume the stream later with `createRng(state, true)`. */
  state(): number;
}

/** Creates a generator from a seed (any finite number; its low 32 bits are used). Same seed, same stream. */
export function createRng(seed: number, rawState = false): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  // Mix the seed once so that nearby seeds (0, 1, 2...) start far apart in the sequence.
  let s = rawState ? seed >>> 0 : mix32((Math.trunc(seed) ^ 0x5bd1e995) >>> 0);
  const nextU32 = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    return mix32(s);
  };
  return {
    next: () => nextU32() / 4294967296,
    int(n: number): number {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`int(n) needs an integer n >= 1, got ${n}`);
      return Math.floor((nextU32() / 4294967296) * n);
    },
    uniform: (lo: number, hi: number) => lo + (nextU32() / 4294967296) * (hi - lo),
    state: () => s,
  };
}

/** The 32-bit finaliser of MurmurHash3 / SplitMix32: a bijective avalanche mix of a 32-bit integer. */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
