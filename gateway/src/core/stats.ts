/**
 * Descriptive and rank statistics for benchmark aggregation and factor analysis (DESIGN.md "Benchmark
 * protocol": population standard deviations, Spearman (partial) correlation with p-values). Conventions
 * follow numpy/scipy: `std` has ddof 0, `percentile` interpolates linearly, Spearman's p-value uses the
 * t-distribution with n - 2 degrees of freedom (n - 2 - k for k controlled variables).
 */

/** A statistics input that cannot be used (lengths differ, too few values, singular controls). */
export class StatsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatsError';
  }
}

type Values = ArrayLike<number>;

/** Arithmetic mean; NaN for no values. */
export function mean(xs: Values): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Population standard deviation (ddof 0, numpy's default and the paper's); NaN for no values. */
export function std(xs: Values): number {
  const m = mean(xs);
  if (Number.isNaN(m)) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) * (xs[i] - m);
  return Math.sqrt(s / xs.length);
}

/**
 * The q-th percentile (q in [0, 100]) with linear interpolation between closest ranks (numpy's default
 * `method='linear'`): position (n - 1) q / 100 in the sorted values. NaN for no values. Does not modify xs.
 */
export function percentile(xs: Values, q: number): number {
  if (!(q >= 0 && q <= 100)) throw new StatsError(`percentile q must be within [0, 100], got ${q}`);
  const n = xs.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(xs).sort();
  return percentileOfSorted(sorted, q);
}

/** `percentile` on values already sorted ascending (no copy). */
export function percentileOfSorted(sorted: Values, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = ((n - 1) * q) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Ranks 1..n with ties given their average rank (scipy `rankdata(method='average')`). */
export function rankAverage(xs: Values): Float64Array {
  const n = xs.length;
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => xs[a] - xs[b]);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && xs[idx[j + 1]] === xs[idx[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[idx[k]] = r;
    i = j + 1;
  }
  return ranks;
}

/** Pearson's correlation coefficient; NaN when either variable is constant. */
export function pearson(x: Values, y: Values): number {
  checkPair(x, y, 2);
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r));
}

/** A correlation coefficient with its two-sided p-value and the sample size / degrees of freedom used. */
export interface Correlation {
  rho: number;
  p: number;
  n: number;
  df: number;
}

/** Spearman's rank correlation (ties: average ranks) with the two-sided t-test p-value (df = n - 2). */
export function spearman(x: Values, y: Values): Correlation {
  checkPair(x, y, 3);
  const rho = pearson(rankAverage(x), rankAverage(y));
  const df = x.length - 2;
  return { rho, p: correlationPValue(rho, df), n: x.length, df };
}

/**
 * Partial Spearman correlation of x and y controlling for `controls` (each an array like x): every variable
 * is ranked, x and y ranks are regressed on the control ranks (with intercept) by least squares, and the
 * residuals are correlated (Pearson). p-value from the t-distribution with df = n - 2 - k.
 */
export function partialSpearman(x: Values, y: Values, controls: Values[]): Correlation {
  const k = controls.length;
  checkPair(x, y, k + 3);
  for (const [i, c] of controls.entries()) {
    if (c.length !== x.length) {
      throw new StatsError(`control ${i} has ${c.length} values, expected ${x.length} like x`);
    }
  }
  if (k === 0) return spearman(x, y);
  const rc = controls.map((c) => rankAverage(c));
  const rx = residuals(rankAverage(x), rc);
  const ry = residuals(rankAverage(y), rc);
  const rho = pearson(rx, ry);
  const df = x.length - 2 - k;
  return { rho, p: correlationPValue(rho, df), n: x.length, df };
}

/** Two-sided p-value of a correlation r with df degrees of freedom: t = r sqrt(df / (1 - r^2)). */
export function correlationPValue(r: number, df: number): number {
  if (Number.isNaN(r) || df <= 0) return NaN;
  if (Math.abs(r) >= 1) return 0;
  const t2 = (r * r * df) / (1 - r * r);
  return studentTTwoSided(t2, df);
}

/** Two-sided tail probability P(|T| >= t) of Student's t with df degrees of freedom, given t^2. */
export function studentTTwoSided(t2: number, df: number): number {
  return regularizedIncompleteBeta(df / (df + t2), df / 2, 0.5);
}

/** Least-squares residuals of y regressed on the columns `xs` plus an intercept. */
function residuals(y: Float64Array, xs: Float64Array[]): Float64Array {
  const n = y.length;
  const p = xs.length + 1;
  const col = (j: number, i: number): number => (j === 0 ? 1 : xs[j - 1][i]);
  // Normal equations A beta = b with A = X'X, b = X'y; p is tiny (number of factors + 1).
  const a = new Float64Array(p * p);
  const b = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < p; r++) {
      const xr = col(r, i);
      b[r] += xr * y[i];
      for (let c = 0; c < p; c++) a[r * p + c] += xr * col(c, i);
    }
  }
  const beta = solve(a, b, p);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let fit = 0;
    for (let j = 0; j < p; j++) fit += beta[j] * col(j, i);
    out[i] = y[i] - fit;
  }
  return out;
}

/** Solves a p x p system by Gaussian elimination with partial pivoting (a and b are overwritten). */
function solve(a: Float64Array, b: Float64Array, p: number): Float64Array {
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]));
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(a[r * p + c]) > Math.abs(a[piv * p + c])) piv = r;
    if (Math.abs(a[piv * p + c]) <= 1e-12 * scale) {
      throw new StatsError('control variables are collinear (or constant): the regression is singular');
    }
    if (piv !== c) {
      for (let k = 0; k < p; k++) {
        const t = a[c * p + k];
        a[c * p + k] = a[piv * p + k];
        a[piv * p + k] = t;
      }
      const t = b[c];
      b[c] = b[piv];
      b[piv] = t;
    }
    for (let r = c + 1; r < p; r++) {
      const f = a[r * p + c] / a[c * p + c];
      if (f === 0) continue;
      for (let k = c; k < p; k++) a[r * p + k] -= f * a[c * p + k];
      b[r] -= f * b[c];
    }
  }
  const x = new Float64Array(p);
  for (let r = p - 1; r >= 0; r--) {
    let s = b[r];
    for (let k = r + 1; k < p; k++) s -= a[r * p + k] * x[k];
    x[r] = s / a[r * p + r];
  }
  return x;
}

function checkPair(x: Values, y: Values, min: number): void {
  if (x.length !== y.length) throw new StatsError(`x has ${x.length} values but y has ${y.length}`);
  if (x.length < min) throw new StatsError(`need at least ${min} paired values, got ${x.length}`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) {
      throw new StatsError(`value ${i} is not finite (x=${x[i]}, y=${y[i]})`);
    }
  }
}

/** Natural log of the gamma function for x > 0 (Lanczos approximation, g = 7, 9 terms; ~1e-15 relative). */
export function logGamma(x: number): number {
  if (x < 0.5) {
    // Reflection keeps the series in its accurate range.
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  }
  const g = 7;
  const c = LANCZOS;
  const z = x - 1;
  let sum = c[0];
  for (let i = 1; i < c.length; i++) sum += c[i] / (z + i);
  const t = z + g + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/**
 * The regularized incomplete beta function I_x(a, b) for x in [0, 1], a, b > 0, by its continued fraction
 * evaluated with the modified Lentz method, using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where that
 * converges faster.
 */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new StatsError(`incomplete beta needs a, b > 0, got a=${a}, b=${b}`);
  if (Number.isNaN(x) || x < 0 || x > 1) throw new StatsError(`incomplete beta needs x in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const eps = 1e-15;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    // Even step: coefficient m (b - m) x / ((a + 2m - 1)(a + 2m)).
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    // Odd step: coefficient -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < eps) return h;
  }
  return h;
}
