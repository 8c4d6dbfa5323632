/**
 * Seeded synthetic phantoms for tests and demos: discs, ellipses and rings of distinct grey levels on a
 * darker background, with Gaussian noise and a smooth multiplicative bias field (as MR coil shading). Pure:
 * the same options always give the same image.
 */
import { emptyMask, type BinaryMask } from './mask.ts';
import type { Raster } from './raster.ts';

/** A shape a phantom object can take. */
export type PhantomShape = 'disc' | 'ellipse' | 'ring';

/** Options of {@link generatePhantom}; sizes in pixels, grey levels on the 0-255 scale. */
export interface PhantomOptions {
  seed: number;
  width: number;
  height: number;
  /** Shapes to place, in order (default: disc, ellipse, ring). */
  shapes?: PhantomShape[];
  /** Standard deviation of the additive Gaussian noise (grey levels; default 8). */
  noiseSigma?: number;
  /** Peak relative amplitude of the multiplicative bias field (default 0.15: gains in 0.85..1.15). */
  biasStrength?: number;
  /** Background grey level (default drawn in 40..70). */
  background?: number;
}

/** One object of a phantom: its label (`<shape>-<index>`) and its exact mask. */
export interface PhantomObject {
  label: string;
  shape: PhantomShape;
  mask: BinaryMask;
  /** Grey level before bias and noise. */
  grey: number;
}

/** A phantom: the grey 8-bit image and its objects. */
export interface Phantom {
  image: Raster;
  objects: PhantomObject[];
}

/** mulberry32: a small seeded 32-bit PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal sample from a uniform generator (Box-Muller). */
export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

interface Placed {
  cx: number;
  cy: number;
  r: number;
}

/**
 * Generates a phantom: objects placed without overlap (bounding circles at least 4 px apart), each with its
 * own grey level in 130..235 (at least 25 apart), a smooth bias field, then noise; rounded and clipped to
 * 0..255.
 */
export function generatePhantom(options: PhantomOptions): Phantom {
  const { width, height, seed } = options;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 16 || height < 16) {
    throw new RangeError(`generatePhantom: expected integer width and height >= 16, got ${width}x${height}`);
  }
  const shapes = options.shapes ?? ['disc', 'ellipse', 'ring'];
  const noise = options.noiseSigma ?? 8;
  const biasStrength = options.biasStrength ?? 0.15;
  const rand = seededRandom(seed);
  const background = options.background ?? 40 + Math.floor(rand() * 31);
  const minSide = Math.min(width, height);

  const placed: Placed[] = [];
  const greys: number[] = [];
  const objects: PhantomObject[] = [];
  const field = new Float32Array(width * height).fill(background);

  shapes.forEach((shape, index) => {
    let spot: Placed | undefined;
    for (let attempt = 0; attempt < 500 && !spot; attempt++) {
      const r = minSide * (0.1 + rand() * 0.08);
      const cx = r + 2 + rand() * (width - 2 * r - 4);
      const cy = r + 2 + rand() * (height - 2 * r - 4);
      if (placed.every((p) => Math.hypot(p.cx - cx, p.cy - cy) > p.r + r + 4)) spot = { cx, cy, r };
    }
    if (!spot)
      throw new RangeError(`generatePhantom: no room for object ${index} (${shape}) in ${width}x${height}`);
    placed.push(spot);
    let grey = 0;
    do grey = 130 + Math.floor(rand() * 106);
    while (greys.some((g) => Math.abs(g - grey) < 25));
    greys.push(grey);

    const { cx, cy, r } = spot;
    const theta = rand() * Math.PI;
    const aspect = shape === 'ellipse' ? 0.45 + rand() * 0.25 : 1;
    const inner = shape === 'ring' ? 0.5 + rand() * 0.15 : 0;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const mask = emptyMask(width, height);
    for (let y = Math.max(0, Math.floor(cy - r - 1)); y <= Math.min(height - 1, Math.ceil(cy + r + 1)); y++) {
      for (
        let x = Math.max(0, Math.floor(cx - r - 1));
        x <= Math.min(width - 1, Math.ceil(cx + r + 1));
        x++
      ) {
        const dx = x + 0.5 - cx;
        const dy = y + 0.5 - cy;
        const u = (dx * cos + dy * sin) / r;
        const v = (-dx * sin + dy * cos) / (r * aspect);
        const d = Math.sqrt(u * u + v * v);
        if (d <= 1 && d >= inner) {
          mask.data[y * width + x] = 1;
          field[y * width + x] = grey;
        }
      }
    }
    objects.push({ label: `${shape}-${index}`, shape, mask, grey });
  });

  // A smooth gain: a random low-frequency cosine pattern, peak |gain - 1| <= biasStrength.
  const fx = 0.5 + rand();
  const fy = 0.5 + rand();
  const px = rand() * 2 * Math.PI;
  const py = rand() * 2 * Math.PI;
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const b =
        0.5 * (Math.cos((fx * Math.PI * x) / width + px) + Math.cos((fy * Math.PI * y) / height + py));
      const value = field[y * width + x] * (1 + biasStrength * b) + noise * gaussian(rand);
      data[y * width + x] = Math.min(255, Math.max(0, Math.round(value)));
    }
  }
  return { image: { width, height, channels: 1, data }, objects };
}
