/**
 * COCO run-length encoding, bit-compatible with pycocotools (`maskApi.c`): runs are counted in column-major
 * (Fortran) order, the first run is background (0 when the first pixel is foreground), and the compressed
 * form is pycocotools' LEB128-like string (5-bit groups, +48 offset, counts from index 3 on stored as the
 * difference to the count two places before). `size` is [height, width]. See DESIGN.md "Masks".
 */
import type { BinaryMask } from './mask.ts';

/** COCO RLE with the compressed counts string, as pycocotools' `encode` returns it (counts decoded to str). */
export interface CocoRle {
  size: [number, number];
  counts: string;
}

/** COCO RLE with plain run lengths (the "uncompressed" form COCO uses for iscrowd annotations). */
export interface UncompressedRle {
  size: [number, number];
  counts: number[];
}

/** Either RLE form. */
export type RleInput = CocoRle | UncompressedRle;

/** A malformed RLE (bad characters, truncated string, counts that do not add up to height x width). */
export class RleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RleError';
  }
}

/** Run lengths of a mask in column-major order, starting with a background run (pycocotools `rleEncode`). */
export function maskToCounts(mask: BinaryMask): Uint32Array {
  const { width: w, height: h, data } = mask;
  if (data.length !== w * h) {
    throw new RleError(`mask data length ${data.length} does not match width x height = ${w}x${h}`);
  }
  const n = w * h;
  if (n === 0) return Uint32Array.of(0);
  // Reading column by column strides through memory, so the mask is read row by row instead: a vertical
  // transition in column x at row y (pixel differs from the one above) is recorded as (x, y); identical
  // stretches of consecutive rows are skipped four bytes at a time when rows are 4-byte aligned.
  const xs: number[] = [];
  const ys: number[] = [];
  const aligned = w % 4 === 0 && data.byteOffset % 4 === 0;
  const words = aligned ? new Uint32Array(data.buffer, data.byteOffset, n >> 2) : null;
  const wpr = w >> 2;
  for (let y = 1; y < h; y++) {
    const row = y * w;
    if (words !== null) {
      const wr = y * wpr;
      for (let k = 0; k < wpr; k++) {
        if (words[wr + k] === words[wr - wpr + k]) continue;
        for (let x = k << 2, e = x + 4; x < e; x++) {
          if ((data[row + x] === 0) !== (data[row - w + x] === 0)) {
            xs.push(x);
            ys.push(y);
          }
        }
      }
    } else {
      for (let x = 0; x < w; x++) {
        if ((data[row + x] === 0) !== (data[row - w + x] === 0)) {
          xs.push(x);
          ys.push(y);
        }
      }
    }
  }
  // Group transitions by column (counting sort keeps rows ascending within a column).
  const m = xs.length;
  const colStart = new Int32Array(w + 1);
  for (let t = 0; t < m; t++) colStart[xs[t] + 1]++;
  for (let x = 0; x < w; x++) colStart[x + 1] += colStart[x];
  const fill = colStart.slice(0, w);
  const sortedY = new Int32Array(m);
  for (let t = 0; t < m; t++) sortedY[fill[xs[t]]++] = ys[t];
  // Column-major positions where the value changes, then run lengths between them.
  const runs: number[] = [];
  let last = 0;
  let prevValue = 0;
  for (let x = 0; x < w; x++) {
    const top = data[x] === 0 ? 0 : 1;
    if (top !== prevValue) {
      runs.push(x * h - last);
      last = x * h;
    }
    for (let t = colStart[x]; t < colStart[x + 1]; t++) {
      const p = x * h + sortedY[t];
      runs.push(p - last);
      last = p;
    }
    prevValue = data[(h - 1) * w + x] === 0 ? 0 : 1;
  }
  runs.push(n - last);
  return Uint32Array.from(runs);
}

/** The pycocotools compressed string of a counts array (`rleToString`). */
export function countsToString(counts: ArrayLike<number>): string {
  const chars: number[] = [];
  let out = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      // Arithmetic on doubles instead of 32-bit bit operators: counts may exceed 2^31.
      let c = x - Math.floor(x / 32) * 32;
      x = Math.floor(x / 32);
      more = (c & 0x10) !== 0 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      chars.push(c + 48);
    }
    if (chars.length > 8192) {
      out += String.fromCharCode(...chars);
      chars.length = 0;
    }
  }
  return out + String.fromCharCode(...chars);
}

/** Parses a pycocotools compressed counts string (`rleFrString`); throws RleError when malformed. */
export function stringToCounts(s: string): Uint32Array {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) {
        throw new RleError(`RLE string ends inside a count at character ${p} (a continuation flag was set)`);
      }
      const code = s.charCodeAt(p);
      const c = code - 48;
      if (c < 0 || c > 63) {
        throw new RleError(
          `RLE string has character '${s[p]}' (code ${code}) at ${p}; expected codes 48..111 ('0'..'o')`,
        );
      }
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (k > 8) throw new RleError(`RLE string has a count longer than 8 characters at ${p}`);
      if (!more && (c & 0x10) !== 0) x -= 2 ** (5 * k);
    }
    const m = counts.length;
    if (m > 2) x += counts[m - 2];
    if (x < 0) throw new RleError(`RLE string decodes to a negative run length (${x}) at count ${m}`);
    counts.push(x);
  }
  return Uint32Array.from(counts);
}

/** Checks a [height, width] size and returns it. */
function checkSize(size: unknown): [number, number] {
  if (
    !Array.isArray(size) ||
    size.length !== 2 ||
    !size.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0)
  ) {
    throw new RleError(
      `RLE size must be [height, width] with non-negative integers, got ${JSON.stringify(size)}`,
    );
  }
  return [size[0] as number, size[1] as number];
}

/** Counts of either RLE form, validated against the size (they must add up to height x width). */
export function rleCounts(rle: RleInput): Uint32Array {
  const [h, w] = checkSize(rle.size);
  let counts: Uint32Array;
  if (typeof rle.counts === 'string') {
    counts = stringToCounts(rle.counts);
  } else if (Array.isArray(rle.counts)) {
    for (let i = 0; i < rle.counts.length; i++) {
      const v = rle.counts[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new RleError(`RLE counts[${i}] must be a non-negative integer, got ${JSON.stringify(v)}`);
      }
    }
    counts = Uint32Array.from(rle.counts);
  } else {
    throw new RleError(`RLE counts must be a string or an array of integers, got ${typeof rle.counts}`);
  }
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total !== h * w) {
    throw new RleError(`RLE counts add up to ${total} pixels but size ${h}x${w} has ${h * w}`);
  }
  return counts;
}

/** Encodes a mask as COCO RLE with the compressed counts string (pycocotools `encode`). */
export function encodeRle(mask: BinaryMask): CocoRle {
  return { size: [mask.height, mask.width], counts: countsToString(maskToCounts(mask)) };
}

/** Encodes a mask as COCO RLE with plain run lengths. */
export function encodeRleUncompressed(mask: BinaryMask): UncompressedRle {
  return { size: [mask.height, mask.width], counts: Array.from(maskToCounts(mask)) };
}

/** Converts either form to the compressed-string form. */
export function compressRle(rle: RleInput): CocoRle {
  const counts = rleCounts(rle);
  return { size: [rle.size[0], rle.size[1]], counts: countsToString(counts) };
}

/** Converts either form to the plain run-length form. */
export function uncompressRle(rle: RleInput): UncompressedRle {
  return { size: [rle.size[0], rle.size[1]], counts: Array.from(rleCounts(rle)) };
}

/** Decodes either RLE form to a row-major BinaryMask (pycocotools `decode`, transposed to row-major). */
export function decodeRle(rle: RleInput): BinaryMask {
  const counts = rleCounts(rle);
  const [h, w] = [rle.size[0], rle.size[1]];
  const data = new Uint8Array(w * h);
  let pos = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k];
    if ((k & 1) === 1 && c > 0) {
      // Walk the run column by column: y and x advance together with the column-major index.
      let x = Math.floor(pos / h);
      let y = pos - x * h;
      let left = c;
      while (left > 0) {
        const take = Math.min(left, h - y);
        for (let i = y * w + x, end = (y + take) * w + x; i < end; i += w) data[i] = 1;
        left -= take;
        y = 0;
        x++;
      }
    }
    pos += c;
  }
  return { width: w, height: h, data };
}

/** Foreground pixel count of an RLE (pycocotools `area`). */
export function rleArea(rle: RleInput): number {
  return countsArea(rleCounts(rle));
}

function countsArea(counts: Uint32Array): number {
  let a = 0;
  for (let k = 1; k < counts.length; k += 2) a += counts[k];
  return a;
}

/**
 * Bounding box [x, y, w, h] in pixels of an RLE's foreground, as pycocotools `toBbox` (w and h count pixels,
 * so a single pixel is 1x1); [0, 0, 0, 0] for an empty mask.
 */
export function rleToBbox(rle: RleInput): [number, number, number, number] {
  const counts = rleCounts(rle);
  const h = rle.size[0];
  const w = rle.size[1];
  let xs = w;
  let ys = h;
  let xe = 0;
  let ye = 0;
  let any = false;
  let pos = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k];
    if ((k & 1) === 1 && c > 0) {
      any = true;
      const s = pos;
      const e = pos + c - 1;
      const x0 = Math.floor(s / h);
      const x1 = Math.floor(e / h);
      const y0 = s - x0 * h;
      const y1 = e - x1 * h;
      xs = Math.min(xs, x0);
      xe = Math.max(xe, x1);
      if (x1 > x0) {
        // The run wraps into a later column, so it covers the last row of one column and the first of the next.
        ys = 0;
        ye = h - 1;
      } else {
        ys = Math.min(ys, y0);
        ye = Math.max(ye, y1);
      }
    }
    pos += c;
  }
  if (!any) return [0, 0, 0, 0];
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

/**
 * Walks two run-length lists of the same length in step, calling `seg(va, vb, len)` for each stretch where
 * both values are constant.
 */
function walkPair(a: Uint32Array, b: Uint32Array, seg: (va: number, vb: number, len: number) => void): void {
  let ia = 0;
  let ib = 0;
  let ra = a.length > 0 ? a[0] : 0;
  let rb = b.length > 0 ? b[0] : 0;
  let va = 0;
  let vb = 0;
  while (true) {
    while (ra === 0 && ia < a.length - 1) {
      ia++;
      ra = a[ia];
      va ^= 1;
    }
    while (rb === 0 && ib < b.length - 1) {
      ib++;
      rb = b[ib];
      vb ^= 1;
    }
    if (ra === 0 || rb === 0) return;
    const len = ra < rb ? ra : rb;
    seg(va, vb, len);
    ra -= len;
    rb -= len;
  }
}

function checkSameSize(a: RleInput, b: RleInput): void {
  if (a.size[0] !== b.size[0] || a.size[1] !== b.size[1]) {
    throw new RleError(`RLE sizes differ: ${a.size[0]}x${a.size[1]} vs ${b.size[0]}x${b.size[1]}`);
  }
}

/**
 * IoU of two RLEs (pycocotools `iou` for one pair). With `iscrowd` (b is a crowd region) the denominator is
 * the area of `a` alone, as COCO does. 0 when the denominator is 0 (both masks empty).
 */
export function rleIou(a: RleInput, b: RleInput, iscrowd = false): number {
  checkSameSize(a, b);
  const ca = rleCounts(a);
  const cb = rleCounts(b);
  let inter = 0;
  walkPair(ca, cb, (va, vb, len) => {
    if (va === 1 && vb === 1) inter += len;
  });
  const areaA = countsArea(ca);
  const denom = iscrowd ? areaA : areaA + countsArea(cb) - inter;
  return denom > 0 ? inter / denom : 0;
}

/** Union (or intersection with `intersect`) of RLEs of one size, compressed (pycocotools `merge`). */
export function rleMerge(rles: RleInput[], intersect = false): CocoRle {
  if (rles.length === 0) throw new RleError('rleMerge needs at least one RLE');
  let acc = rleCounts(rles[0]);
  for (let i = 1; i < rles.length; i++) {
    checkSameSize(rles[0], rles[i]);
    const next = rleCounts(rles[i]);
    const out: number[] = [];
    let cur = 0;
    let run = 0;
    walkPair(acc, next, (va, vb, len) => {
      const v = intersect ? va & vb : va | vb;
      if (v !== cur) {
        out.push(run);
        run = 0;
        cur = v;
      }
      run += len;
    });
    out.push(run);
    acc = Uint32Array.from(out);
  }
  return { size: [rles[0].size[0], rles[0].size[1]], counts: countsToString(acc) };
}
