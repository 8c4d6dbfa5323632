import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DatasetError } from '../../../gateway/src/bench/datasets/dataset.ts';
import { loadDataset } from '../../../gateway/src/bench/datasets/load-dataset.ts';
import { matchMaskName } from '../../../gateway/src/bench/datasets/per-structure.ts';
import { writePng, writeSyntheticDataset } from '../../helpers/synthetic-dataset.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { discMask, maskGif, maskJpeg } from '../../helpers/mask-files.ts';
import { generatePhantom } from '../../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../../gateway/src/imaging/encode-png.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const samples = resolve(repoRoot, '../shared/samples');

test('COSMOS layout: synthetic dataset objects, classes and masks match what was written', async () => {
  const synth = writeSyntheticDataset({ images: 3, seed: 7 });
  try {
    const ds = await loadDataset(synth.dir);
    assert.equal(ds.layout, 'cosmos');
    assert.equal(ds.modality, 'MRI');
    assert.deepEqual(ds.problems, []);
    assert.equal(ds.images.length, 3);
    const expected = synth.objects.filter((o) => o.pixels > 50);
    assert.deepEqual(
      ds.objects.map((o) => [o.imageId, o.classValue, o.className, o.pixels]),
      expected.map((o) => [o.imageId, o.classValue, o.className, o.pixels]),
    );
    const loaded = await ds.loadImage(synth.imageIds[1]);
    assert.equal(loaded.image.width, 64);
    for (const { object, mask } of loaded.objects) {
      assert.equal(
        mask.data.reduce((s, v) => s + v, 0),
        object.pixels,
      );
    }
  } finally {
    rmSync(synth.dir, { recursive: true, force: true });
  }
});

test('COSMOS layout: the cardiac MRI sample with modality and class map from options', async () => {
  const ds = await loadDataset(join(samples, 'mri-cardiac-cosmos'), {
    modality: 'MRI',
    classes: { '85': 'left ventricle', '170': 'myocardium', '255': 'right ventricle' },
  });
  assert.equal(ds.stats.images, 5);
  assert.equal(ds.stats.modality, 'MRI');
  // 22_Heart_5_2 has no right ventricle: 5 x 3 - 1 objects, all larger than 50 pixels.
  assert.equal(ds.stats.objects, 14);
  assert.deepEqual(ds.stats.objectsPerClass, { 'left ventricle': 5, myocardium: 5, 'right ventricle': 4 });
  assert.deepEqual(ds.problems, []);
  const heart32 = ds.objects.filter((o) => o.imageId === '22_Heart_3_2');
  assert.deepEqual(
    heart32.map((o) => [o.classValue, o.pixels]),
    [
      [85, 300],
      [170, 438],
      [255, 75],
    ],
  );
});

test('per-structure layout: the CT multi-organ sample, matched by longest image-name prefix', async () => {
  const ds = await loadDataset(join(samples, 'ct-multiorgan'), { modality: 'CT' });
  assert.equal(ds.layout, 'per-structure');
  assert.equal(ds.stats.images, 4);
  assert.equal(ds.stats.objects, 30);
  assert.deepEqual(ds.problems, []);
  assert.equal(ds.stats.objectsPerClass.hip_left, 2);
  const liver = ds.objects.find((o) => o.id === 'amos_0006_90#liver_000');
  assert.equal(liver?.pixels, 20023);
  const loaded = await ds.loadImage('s0619_32');
  assert.equal(loaded.image.channels, 3);
  assert.equal(loaded.objects.length, 8);
  const rib = ds.objects.find((o) => o.id === 's0114_111#rib_left_9_000');
  assert.equal(rib?.className, 'rib_left_9');
});

test('matchMaskName picks the longest prefix and rejects names without an instance number', () => {
  assert.deepEqual(matchMaskName('case_1_2_liver_000', ['case_1', 'case_1_2']), {
    imageId: 'case_1_2',
    structure: 'liver',
    instance: '000',
  });
  assert.deepEqual(matchMaskName('case_1_liver_left_003', ['case_1', 'case_1_2']), {
    imageId: 'case_1',
    structure: 'liver_left',
    instance: '003',
  });
  assert.ok('problem' in matchMaskName('other_liver_000', ['case_1']));
  assert.ok('problem' in matchMaskName('case_1_liver', ['case_1']));
});

test('bad COSMOS files are reported per file and their images excluded', async () => {
  const synth = writeSyntheticDataset({ images: 5, seed: 3 });
  try {
    // case_000: label removed; case_001: label of the wrong size; case_002: unknown grey value 42.
    rmSync(join(synth.dir, 'labels', 'case_000.png'));
    writePng(join(synth.dir, 'labels', 'case_001.png'), 10, 10, new Uint8Array(100));
    const odd = new Uint8Array(64 * 48);
    odd.fill(42, 0, 100);
    writePng(join(synth.dir, 'labels', 'case_002.png'), 64, 48, odd);
    writePng(join(synth.dir, 'labels', 'orphan.png'), 64, 48, new Uint8Array(64 * 48));
    writeFileSync(join(synth.dir, 'images', 'broken.png'), 'not a png');
    copyFileSync(join(synth.dir, 'labels', 'case_003.png'), join(synth.dir, 'labels', 'broken.png'));
    const ds = await loadDataset(synth.dir);
    const byFile = Object.fromEntries(ds.problems.map((p) => [p.file, p.problem]));
    assert.match(byFile['images/case_000.png'], /no label/);
    assert.match(byFile['labels/case_001.png'], /10x10 but its image is 64x48/);
    assert.match(byFile['labels/case_002.png'], /grey value\(s\) 42 not in the class map/);
    assert.match(byFile['labels/orphan.png'], /label without an image/);
    assert.match(byFile['images/broken.png'], /unreadable image/);
    assert.deepEqual(
      ds.images.map((i) => i.id),
      ['case_003', 'case_004'],
    );
    assert.equal(ds.stats.excludedImages, 4);
  } finally {
    rmSync(synth.dir, { recursive: true, force: true });
  }
});

test('bad per-structure files: mask without image, non-binary mask, image without masks', async () => {
  const synth = writeSyntheticDataset({ images: 3, seed: 5, layout: 'per-structure' });
  try {
    writePng(join(synth.dir, 'masks', 'ghost_liver_000.png'), 64, 48, new Uint8Array(64 * 48));
    const grey = new Uint8Array(64 * 48).fill(7, 0, 80);
    writePng(join(synth.dir, 'masks', 'case_001_liver_000.png'), 64, 48, grey);
    writePng(join(synth.dir, 'images', 'lonely.png'), 64, 48, new Uint8Array(64 * 48));
    const ds = await loadDataset(synth.dir, { modality: 'CT' });
    const byFile = Object.fromEntries(ds.problems.map((p) => [p.file, p.problem]));
    assert.match(byFile['masks/ghost_liver_000.png'], /no image/);
    assert.match(byFile['masks/case_001_liver_000.png'], /mask value 7/);
    assert.match(byFile['images/lonely.png'], /no mask/);
    assert.deepEqual(
      ds.images.map((i) => i.id),
      ['case_000', 'case_002'],
    );
  } finally {
    rmSync(synth.dir, { recursive: true, force: true });
  }
});

test('small objects (<= 50 pixels) are dropped and counted', async () => {
  const dir = tempDir('medseg-small-');
  try {
    mkdirSync(join(dir, 'images'));
    mkdirSync(join(dir, 'labels'));
    const label = new Uint8Array(20 * 20);
    label.fill(1, 0, 50); // exactly 50 pixels: dropped
    label.fill(2, 100, 151); // 51 pixels: kept
    writePng(join(dir, 'images', 'a.png'), 20, 20, new Uint8Array(400));
    writePng(join(dir, 'labels', 'a.png'), 20, 20, label);
    const ds = await loadDataset(dir, { modality: 'CT', classes: { '1': 'small', '2': 'big' } });
    assert.deepEqual(
      ds.objects.map((o) => o.id),
      ['a#2'],
    );
    assert.deepEqual(ds.stats.droppedSmallPerClass, { small: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dataset misuse: missing directory, COSMOS without class map, bad dataset.json', async () => {
  await assert.rejects(
    loadDataset('/nonexistent/medseg'),
    (e: unknown) => e instanceof DatasetError && e.code === 'NOT_FOUND',
  );
  const synth = writeSyntheticDataset({ images: 1, writeJson: false });
  try {
    await assert.rejects(loadDataset(synth.dir), /needs a class map/);
    writeFileSync(join(synth.dir, 'dataset.json'), '{not json');
    await assert.rejects(loadDataset(synth.dir), /not valid JSON/);
    writeFileSync(join(synth.dir, 'dataset.json'), JSON.stringify({ classes: { x: 'a' } }));
    await assert.rejects(loadDataset(synth.dir), /class value 'x'/);
  } finally {
    rmSync(synth.dir, { recursive: true, force: true });
  }
});

test('NIfTI pairs: the tiny MRI fixture keeps its one labelled slice, scaled to 0-255', async () => {
  const ds = await loadDataset(join(samples, 'nifti/tiny-mri-fixture'), {
    modality: 'MRI',
    classes: { '1': 'target' },
  });
  assert.equal(ds.layout, 'nifti');
  assert.deepEqual(
    ds.images.map((i) => [i.id, i.width, i.height]),
    [['anatomical@2:12', 33, 41]],
  );
  assert.deepEqual(
    ds.objects.map((o) => [o.className, o.pixels]),
    [['target', 330]],
  );
  const loaded = await ds.loadImage('anatomical@2:12');
  let lo = 255;
  let hi = 0;
  for (const v of loaded.image.data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.equal(loaded.image.data.constructor, Uint8Array);
  assert.equal(hi, 255);
  assert.equal(lo, 0);
  assert.deepEqual(loaded.image.spacing, [2, 2]);
  assert.equal(
    loaded.objects[0].mask.data.reduce((s, v) => s + v, 0),
    330,
  );
});

test('NIfTI pairs: BraTS FLAIR with explicit pairs, class map and a pair outside the dataset reported', async () => {
  const brats = join(samples, 'nifti/brats2015-flair/brats_2013_pat0006_1');
  const ds = await loadDataset(brats, {
    modality: 'MRI',
    classes: { '1': 'necrosis', '2': 'edema', '3': 'non-enhancing', '4': 'enhancing' },
    pairs: [
      { image: 'Flair_subtrMeanDivStd.nii.gz', label: 'OTMultiClass.nii.gz' },
      { image: '../../tiny-mri-fixture/anatomical.nii', label: 'OTMultiClass.nii.gz' },
    ],
  });
  assert.equal(ds.problems.length, 1);
  // A pair that leaves the dataset folder is never read (issue 11: dataset reads are confined to the folder).
  assert.match(ds.problems[0].problem, /leads outside the allowed folders/);
  // Every kept slice has more than 50 labelled voxels; every object more than 50 pixels.
  assert.ok(ds.images.length > 50);
  assert.ok(ds.objects.every((o) => o.pixels > 50));
  assert.equal(ds.stats.objectsPerClass.edema, ds.images.length);
});

test('images/masks pairs of the same name (Kvasir-SEG, ISIC, BUSI): GIF and PNG masks, JPEG with a threshold', async () => {
  const dir = tempDir('medseg-pairs-');
  mkdirSync(join(dir, 'images'));
  mkdirSync(join(dir, 'masks'));
  const image = generatePhantom({ seed: 5, width: 48, height: 40 }).image;
  const discs = {
    a: discMask(48, 40, 20, 18, 9),
    b: discMask(48, 40, 30, 20, 7),
    c: discMask(48, 40, 14, 14, 6),
  };
  for (const name of Object.keys(discs))
    writeFileSync(join(dir, 'images', `${name}.jpg`), maskJpeg(discMask(48, 40, 24, 20, 15), 90));
  // Images as JPEG like Kvasir; one PNG image to show the extensions of a pair may differ.
  writeFileSync(join(dir, 'images', 'd.png'), encodePng(image));
  writeFileSync(join(dir, 'masks', 'a.gif'), maskGif(discs.a));
  writeFileSync(
    join(dir, 'masks', 'b.png'),
    encodePng({ ...discs.b, channels: 1, data: discs.b.data.map((v) => v * 255) }),
  );
  writeFileSync(join(dir, 'masks', 'c.jpg'), maskJpeg(discs.c, 60));
  writeFileSync(
    join(dir, 'masks', 'd.png'),
    encodePng({ ...discs.a, channels: 1, data: discs.a.data.map((v) => v * 255) }),
  );
  writeFileSync(join(dir, 'masks', 'orphan.png'), encodePng({ ...discs.a, channels: 1, data: discs.a.data }));

  // Without a threshold the lossy JPEG mask is a reported problem, not a misread mask.
  const strict = await loadDataset(dir, { classes: { '1': 'polyp' } });
  assert.equal(strict.layout, 'images-masks');
  assert.deepEqual(strict.classMap, { 1: 'polyp' });
  assert.deepEqual(
    strict.objects.map((o) => [o.imageId, o.className, o.pixels]),
    [
      ['a', 'polyp', discs.a.data.reduce((n, v) => n + v, 0)],
      ['b', 'polyp', discs.b.data.reduce((n, v) => n + v, 0)],
      ['d', 'polyp', discs.a.data.reduce((n, v) => n + v, 0)],
    ],
  );
  const problem = (file: string) => strict.problems.find((p) => p.file === file)?.problem ?? '';
  assert.match(problem('masks/c.jpg'), /JPEG is lossy, so a JPEG mask needs maskThreshold/);
  assert.match(problem('masks/orphan.png'), /no image named 'orphan'/);
  const loaded = await strict.loadImage('a');
  assert.deepEqual(loaded.objects[0].mask.data, discs.a.data, 'the GIF mask reads back exactly');

  // With maskThreshold the JPEG mask is read, close to the disc it was made from.
  const lossy = await loadDataset(dir, { maskThreshold: 127 });
  assert.equal(lossy.objects.length, 4);
  const c = (await lossy.loadImage('c')).objects[0].mask;
  let same = 0;
  for (let i = 0; i < c.data.length; i++) same += c.data[i] === discs.c.data[i] ? 1 : 0;
  assert.ok(same / c.data.length > 0.99, `${same} of ${c.data.length} pixels agree`);
  await assert.rejects(loadDataset(dir, { classes: { '1': 'a', '2': 'b' } }), /has one class/);
});
