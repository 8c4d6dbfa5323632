/**
 * The image/mask-pair layout of Kvasir-SEG, ISIC and BUSI-style datasets: `images/<name>.<ext>` and
 * `masks/<name>.<ext>` with the same name (the extensions may differ: a JPEG image with a PNG or GIF mask).
 * Each mask is one object of the dataset's single class. Masks must be binary, or be read with
 * `maskThreshold` (the grey value above which a pixel is inside) when they are lossy JPEG or greyscale.
 */
import { join } from 'node:path';
import type { BinaryMask } from '../../core/mask.ts';
import { maskFromImage, MaskFormatError } from '../../imaging/mask-image.ts';
import {
  DatasetError,
  MIN_OBJECT_PIXELS,
  type Dataset,
  type DatasetImage,
  type DatasetObject,
  type DatasetOptions,
  type DatasetProblem,
  type LoadedImage,
} from './dataset.ts';
import {
  assembleDataset,
  imageSizeOrProblem,
  isProblem,
  listImageFiles,
  objectMaskOrProblem,
} from './assemble.ts';
import { imageStem, readRasterWithBytes } from './read-raster.ts';

/** The class value of every object of this layout. */
const CLASS_VALUE = 1;

/** The class name: the one name of `classes` when given (e.g. {"1": "polyp"}), else "object". */
function className(options: DatasetOptions): string {
  const names = Object.values(options.classes ?? {});
  if (names.length > 1)
    throw new DatasetError(
      'BAD_DATASET',
      `the images/masks layout has one class; got ${names.length} in classes`,
    );
  return names[0] ?? 'object';
}

/** Reads one mask file by the dataset's rule (binary, or above `maskThreshold`). */
async function readPairMask(root: string, file: string, options: DatasetOptions): Promise<BinaryMask> {
  const { raster, bytes } = await readRasterWithBytes(root, file);
  try {
    return maskFromImage(raster, { threshold: options.maskThreshold }, bytes);
  } catch (err: unknown) {
    if (err instanceof MaskFormatError)
      throw new Error(
        err.message.replace(/a threshold/g, 'maskThreshold (dataset.json or --mask-threshold)'),
        { cause: err },
      );
    throw err;
  }
}

/** Scans an images/ + masks/ directory of same-named pairs. Bad files land in `problems`, their images excluded. */
export async function loadImagesMasksDataset(root: string, options: DatasetOptions): Promise<Dataset> {
  const name = className(options);
  const imageFiles = await listImageFiles(join(root, 'images'));
  const maskFiles = await listImageFiles(join(root, 'masks'));
  const maskOf = new Map<string, string>();
  const problems: DatasetProblem[] = [];
  for (const f of maskFiles) {
    const stem = imageStem(f)!;
    const other = maskOf.get(stem);
    if (other !== undefined)
      problems.push({ file: `masks/${f}`, problem: `a second mask for '${stem}' (also masks/${other})` });
    else maskOf.set(stem, f);
  }
  const imageIds = new Set(imageFiles.map((f) => imageStem(f)!));
  for (const [stem, f] of maskOf)
    if (!imageIds.has(stem))
      problems.push({ file: `masks/${f}`, problem: `no image named '${stem}' in images/` });

  const images: DatasetImage[] = [];
  const objects: DatasetObject[] = [];
  const dropped: DatasetObject[] = [];
  let excluded = 0;
  for (const file of imageFiles) {
    const id = imageStem(file)!;
    const rel = `images/${file}`;
    const maskFile = maskOf.get(id);
    if (maskFile === undefined) {
      problems.push({ file: rel, problem: `no mask: expected masks/${id} with an image extension` });
      excluded++;
      continue;
    }
    const size = await imageSizeOrProblem(root, rel);
    if (isProblem(size)) {
      problems.push(size);
      excluded++;
      continue;
    }
    const read = await objectMaskOrProblem(root, `masks/${maskFile}`, size, (f) =>
      readPairMask(root, f, options),
    );
    if (isProblem(read)) {
      problems.push(read);
      excluded++;
      continue;
    }
    const object: DatasetObject = {
      id: `${id}#${name}`,
      imageId: id,
      classValue: CLASS_VALUE,
      className: name,
      pixels: read.pixels,
    };
    images.push({ id, file: rel, width: size.width, height: size.height });
    if (read.pixels > MIN_OBJECT_PIXELS) objects.push(object);
    else dropped.push(object);
  }
  const scan = { classMap: { [CLASS_VALUE]: name }, images, objects, dropped, problems, excluded };
  return assembleDataset(root, options, { layout: 'images-masks', ...scan }, async (im, mine) => {
    const { raster: image } = await readRasterWithBytes(root, join(root, im.file));
    const out: LoadedImage['objects'] = [];
    for (const object of mine)
      out.push({ object, mask: await readPairMask(root, join(root, 'masks', maskOf.get(im.id)!), options) });
    return { image, objects: out };
  });
}

/** True when most mask files of `masks/` have the exact name (stem) of an image: this layout, not per-structure. */
export async function looksLikeImagesMasks(root: string): Promise<boolean> {
  let images: string[];
  let masks: string[];
  try {
    images = await listImageFiles(join(root, 'images'));
    masks = await listImageFiles(join(root, 'masks'));
  } catch {
    return false;
  }
  if (masks.length === 0) return false;
  const stems = new Set(images.map((f) => imageStem(f)!));
  const same = masks.filter((f) => stems.has(imageStem(f)!)).length;
  return same * 2 > masks.length;
}
