/**
 * Seeded synthetic benchmark datasets written as real PNG files with pngjs: COSMOS layout (`images/`,
 * `labels/` with one grey value per class, `dataset.json`) or one mask per structure (`images/`, `masks/`).
 * Objects are filled ellipses brighter than the background, so thresholding fakes can segment them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { createRng } from '../../gateway/src/core/random.ts';
import { tempDir } from './temp-dir.ts';

/** Options of {@link writeSyntheticDataset}. */
export interface SyntheticOptions {
  /** Directory to write into (default: a new temp directory). */
  dir?: string;
  images?: number;
  width?: number;
  height?: number;
  /** Grey value to class name. */
  classes?: Record<number, string>;
  modality?: string;
  seed?: number;
  layout?: 'cosmos' | 'per-structure';
  /** Write dataset.json (COSMOS). */
  writeJson?: boolean;
}

/** One generated object, for hand-computed expectations. */
export interface SyntheticObject {
  imageId: string;
  classValue: number;
  className: string;
  pixels: number;
}

/** What was written. */
export interface SyntheticDataset {
  dir: string;
  imageIds: string[];
  objects: SyntheticObject[];
  classes: Record<number, string>;
  modality: string;
}

/** Writes a grey 8-bit (or RGB) PNG from row-major samples. */
export function writePng(
  file: string,
  width: number,
  height: number,
  data: Uint8Array,
  channels: 1 | 3 = 1,
): void {
  const png = new PNG({
    width,
    height,
    colorType: channels === 1 ? 0 : 2,
    inputColorType: channels === 1 ? 0 : 2,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(data);
  writeFileSync(
    file,
    PNG.sync.write(png, {
      colorType: channels === 1 ? 0 : 2,
      inputColorType: channels === 1 ? 0 : 2,
      inputHasAlpha: false,
    }),
  );
}

/** Generates a dataset: each image gets one ellipse per class (non-overlapping columns), intensity per class. */
export function writeSyntheticDataset(options: SyntheticOptions = {}): SyntheticDataset {
  const dir = options.dir ?? tempDir('medseg-synth-');
  const n = options.images ?? 4;
  const width = options.width ?? 64;
  const height = options.height ?? 48;
  const classes = options.classes ?? { 85: 'left', 170: 'middle', 255: 'right' };
  const modality = options.modality ?? 'MRI';
  const layout = options.layout ?? 'cosmos';
  const rng = createRng(options.seed ?? 1);
  mkdirSync(join(dir, 'images'), { recursive: true });
  mkdirSync(join(dir, layout === 'cosmos' ? 'labels' : 'masks'), { recursive: true });
  const values = Object.keys(classes)
    .map(Number)
    .sort((a, b) => a - b);
  const imageIds: string[] = [];
  const objects: SyntheticObject[] = [];
  for (let i = 0; i < n; i++) {
    const id = `case_${String(i).padStart(3, '0')}`;
    imageIds.push(id);
    const image = new Uint8Array(width * height);
    const label = new Uint8Array(width * height);
    for (let p = 0; p < image.length; p++) image[p] = 20 + rng.int(20);
    const colW = width / values.length;
    values.forEach((value, c) => {
      const cx = colW * (c + 0.5) + rng.uniform(-1, 1);
      const cy = height / 2 + rng.uniform(-3, 3);
      const rx = colW * rng.uniform(0.25, 0.42);
      const ry = height * rng.uniform(0.18, 0.4);
      const mask = new Uint8Array(width * height);
      let pixels = 0;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const dx = (x - cx) / rx;
          const dy = (y - cy) / ry;
          if (dx * dx + dy * dy <= 1) {
            const p = y * width + x;
            label[p] = value;
            mask[p] = 255;
            image[p] = 120 + c * 40 + rng.int(10);
            pixels++;
          }
        }
      }
      objects.push({ imageId: id, classValue: value, className: classes[value], pixels });
      if (layout === 'per-structure')
        writePng(join(dir, 'masks', `${id}_${classes[value]}_000.png`), width, height, mask);
    });
    writePng(join(dir, 'images', `${id}.png`), width, height, image);
    if (layout === 'cosmos') writePng(join(dir, 'labels', `${id}.png`), width, height, label);
  }
  if (layout === 'cosmos' && (options.writeJson ?? true)) {
    writeFileSync(
      join(dir, 'dataset.json'),
      JSON.stringify({ name: 'synthetic', modality, classes }, null, 2),
    );
  }
  return { dir, imageIds, objects, classes, modality };
}
