import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { METRICS, type MetricTable } from '../../../gateway/src/bench/metric-table.ts';
import { main } from '../../../gateway/src/cli/main.ts';
import type { CliIo } from '../../../gateway/src/cli/command.ts';
import { decodeImage } from '../../../gateway/src/imaging/decode-image.ts';
import { encodePng } from '../../../gateway/src/imaging/encode-png.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { discMask, maskGif, maskJpeg } from '../../helpers/mask-files.ts';

let dir = '';

function capture(): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
  };
  return io;
}

/** Writes an 8-bit grey PNG from rows of digits/letters: '.' is 0, '#' is 255, '1'..'9' are 1..9. */
async function png(name: string, art: string): Promise<string> {
  const rows = art
    .trim()
    .split('\n')
    .map((r) => r.trim());
  const width = rows[0].length;
  const data = new Uint8Array(width * rows.length);
  rows.forEach((r, y) => {
    for (let x = 0; x < width; x++)
      data[y * width + x] = r[x] === '#' ? 255 : r[x] === '.' ? 0 : Number(r[x]);
  });
  const path = join(dir, name);
  await writeFile(path, encodePng({ width, height: rows.length, channels: 1, data }));
  return path;
}

before(async () => {
  dir = tempDir('medseg-mask-cli-');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('rle encode prints the pycocotools string; --json adds size, area and bbox', async () => {
  // Same 4x2 mask as the core test: runs [0, 5, 1, 2] -> "051M".
  const path = await png('m.png', '##\n#.\n##\n##');
  const io = capture();
  assert.equal(await main(['rle', 'encode', path], io), 0);
  assert.equal(io.out, '051M\n');
  const j = capture();
  assert.equal(await main(['rle', 'encode', path, '--json'], j), 0);
  assert.deepEqual(JSON.parse(j.out), { size: [4, 2], counts: '051M', area: 7, bbox: [0, 0, 2, 4] });
});

test('rle encode --value selects one label', async () => {
  const path = await png('labels.png', '1122\n1122\n..2.');
  const io = capture();
  assert.equal(await main(['rle', 'encode', path, '--value', '2', '--json'], io), 0);
  const r = JSON.parse(io.out);
  assert.equal(r.area, 5);
  assert.deepEqual(r.bbox, [2, 0, 2, 3]);
});

test('rle decode writes the PNG back, from a bare string or JSON', async () => {
  const out = join(dir, 'decoded.png');
  const io = capture();
  assert.equal(await main(['rle', 'decode', '--rle', '051M', '--size', '4,2', '--out', out], io), 0);
  assert.match(io.out, /4x2, 7 pixels inside/);
  const r = decodeImage(await readFile(out));
  assert.deepEqual(Array.from(r.data), [255, 255, 255, 0, 255, 255, 255, 255]);
  const io2 = capture();
  const json = JSON.stringify({ size: [4, 2], counts: [0, 5, 1, 2] });
  assert.equal(await main(['rle', 'decode', '--rle', json, '--out', out], io2), 0);
  assert.deepEqual(Array.from(decodeImage(await readFile(out)).data), Array.from(r.data));
});

test('rle decode rejects malformed input with exit 2', async () => {
  const out = join(dir, 'x.png');
  for (const args of [
    ['--rle', '05', '--size', '4,2', '--out', out],
    ['--rle', '051M', '--out', out],
    ['--rle', '051M', '--size', '4', '--out', out],
    ['--rle', '{bad', '--size', '4,2', '--out', out],
    ['--rle', '1 2', '--size', '1,3', '--out', out],
  ]) {
    const io = capture();
    assert.equal(await main(['rle', 'decode', ...args], io), 2, args.join(' '));
    assert.match(io.err, /^medseg rle: /);
  }
  const io = capture();
  assert.equal(await main(['rle', 'frobnicate'], io), 2);
  assert.match(io.err, /expected encode or decode/);
});

test('metrics prints every metric; --json with spacing and tau', async () => {
  const pred = await png('p.png', '.....\n.##..\n.##..\n.....');
  const gt = await png('g.png', '.....\n..##.\n..##.\n.....');
  const io = capture();
  assert.equal(await main(['metrics', '--pred', pred, '--gt', gt], io), 0);
  assert.match(io.out, /dice\s+0\.500000/);
  assert.match(io.out, /hd95\s+1\.0000 px/);
  // One line per metric of the table: fractions unscaled, distances with their unit, NSD with its tolerance.
  for (const d of METRICS as MetricTable) {
    const name = d.usesTolerance ? `${d.name}@2` : d.name;
    const value = d.unit === 'px' ? '\\d+\\.\\d{4} px' : '[01]\\.\\d{6}';
    assert.match(io.out, new RegExp(`^${name} +${value}$`, 'm'), name);
  }
  assert.equal(io.out.trim().split('\n').length, METRICS.length + 1, 'the metrics and the areas');
  const j = capture();
  assert.equal(
    await main(['metrics', '--pred', pred, '--gt', gt, '--spacing', '2,3', '--tau', '3', '--json'], j),
    0,
  );
  const m = JSON.parse(j.out);
  assert.equal(m.hausdorff, 3);
  assert.equal(m.asd, 1.5);
  assert.equal(m.nsd, 1);
  assert.deepEqual(m.spacing, [2, 3]);
});

test('metrics errors: missing file, not a PNG, size mismatch, bad spacing -> exit 2', async () => {
  const a = await png('a.png', '##\n..');
  const b = await png('b.png', '###\n...');
  const junk = join(dir, 'junk.png');
  await writeFile(junk, 'this is not an image');
  const cases: Array<[string[], RegExp]> = [
    [['--pred', join(dir, 'missing.png'), '--gt', a], /prediction file '.*missing\.png' does not exist/],
    [['--pred', junk, '--gt', a], /prediction file '.*junk\.png' is not a readable image/],
    [['--pred', a, '--gt', b], /size mismatch: prediction is 2x2 but ground truth is 3x2/],
    [['--pred', a, '--gt', a, '--spacing', '0,1'], /--spacing must be SY,SX/],
    [['--pred', a, '--gt', a, '--spacing', 'abc'], /--spacing/],
    [['--pred', a, '--gt', a, '--tau', '-1'], /--tau/],
    [['--pred', a], /--pred and --gt are required/],
  ];
  for (const [args, re] of cases) {
    const io = capture();
    assert.equal(await main(['metrics', ...args], io), 2, args.join(' '));
    assert.match(io.err, re);
  }
});

test('prompts prints the strategy prompt as JSON; failures exit 1', async () => {
  const label = await png(
    'obj.png',
    `..........
     ..........
     ..####....
     ..####....
     ..####....
     ..........
     ..........
     ..........`,
  );
  const io = capture();
  assert.equal(
    await main(['prompts', '--mask', label, '--value', '255', '--strategy', 'S4', '--json'], io),
    0,
  );
  const r = JSON.parse(io.out);
  assert.equal(r.points.length, 10);
  assert.deepEqual(r.points[5], { x: 4, y: 4, label: 0 });
  const c = capture();
  assert.equal(
    await main(['prompts', '--mask', label, '--strategy', 'S6', '--mode', 'corrected', '--json'], c),
    0,
  );
  assert.deepEqual(JSON.parse(c.out).box, [2, 2, 5, 4]);
  const j1 = capture();
  const j2 = capture();
  const args = ['prompts', '--mask', label, '--strategy', 'S6', '--jitter', '0-10', '--seed', '4', '--json'];
  assert.equal(await main(args, j1), 0);
  assert.equal(await main(args, j2), 0);
  assert.equal(j1.out, j2.out);
  assert.deepEqual(JSON.parse(j1.out).jitter, { band: [0, 10], seed: 4, box: 'enlarge' });

  const tiny = await png('tiny.png', '....\n.##.\n.##.\n....');
  const f = capture();
  assert.equal(await main(['prompts', '--mask', tiny, '--strategy', 'S2', '--json'], f), 1);
  assert.equal(JSON.parse(f.out).failure, 'object-under-5-pixels');
  for (const bad of [
    ['--mask', label, '--strategy', 'S7'],
    ['--mask', label, '--strategy', 'S2', '--mode', 'exact'],
    ['--mask', label, '--strategy', 'S2', '--jitter', '30-20'],
    ['--mask', label, '--strategy', 'S2', '--value', '-3'],
  ]) {
    const e = capture();
    assert.equal(await main(['prompts', ...bad], e), 2, bad.join(' '));
  }
});

test('metrics refuses a photograph or a multi-label image as a mask; --threshold and --value read them', async () => {
  const gt = await png('gt-bin.png', '.##.\n.##.\n....');
  // A "photograph": many grey levels.
  const photo = await png('photo.png', '1234\n5678\n9123');
  const refused = capture();
  assert.equal(await main(['metrics', '--pred', photo, '--gt', gt], refused), 2);
  assert.match(
    refused.err,
    /prediction file '.*photo\.png' is not a binary mask: .*--value V.*--threshold T/,
  );
  const thresholded = capture();
  assert.equal(
    await main(['metrics', '--pred', photo, '--gt', gt, '--threshold', '8', '--json'], thresholded),
    0,
  );
  // Above 8: only the pixel with value 9 is inside.
  assert.equal(JSON.parse(thresholded.out).predArea, 1);
  const both = capture();
  assert.equal(
    await main(['metrics', '--pred', gt, '--gt', gt, '--value', '1', '--threshold', '3'], both),
    2,
  );
  assert.match(both.err, /--value or --threshold, not both/);
  const bad = capture();
  assert.equal(await main(['metrics', '--pred', gt, '--gt', gt, '--threshold', 'x'], bad), 2);
  assert.match(bad.err, /--threshold: a threshold must be a number/);
  // A binary mask of any non-zero value (0/1, 0/255) still needs no option.
  const ok = capture();
  assert.equal(await main(['metrics', '--pred', gt, '--gt', gt, '--json'], ok), 0);
  assert.equal(JSON.parse(ok.out).dice, 1);
});

test('GIF masks (as DRIVE ships) and lossy JPEG masks (as Kvasir-SEG ships) with --threshold', async () => {
  const truth = discMask(48, 40, 20, 18, 9);
  const truthPng = join(dir, 'disc.png');
  await writeFile(truthPng, encodePng({ ...truth, channels: 1, data: truth.data.map((v) => v * 255) }));
  const gif = join(dir, 'disc.gif');
  await writeFile(gif, maskGif(truth));
  const jpg = join(dir, 'disc.jpg');
  await writeFile(jpg, maskJpeg(truth, 60));

  const fromGif = capture();
  assert.equal(await main(['prompts', '--mask', gif, '--strategy', 'S5', '--json'], fromGif), 0, fromGif.err);
  const fromPng = capture();
  assert.equal(await main(['prompts', '--mask', truthPng, '--strategy', 'S5', '--json'], fromPng), 0);
  assert.deepEqual(JSON.parse(fromGif.out), JSON.parse(fromPng.out), 'the GIF reads as the same mask');
  const gifMetrics = capture();
  assert.equal(await main(['metrics', '--pred', gif, '--gt', truthPng, '--json'], gifMetrics), 0);
  assert.equal(JSON.parse(gifMetrics.out).dice, 1);

  const jpegRefused = capture();
  assert.equal(await main(['prompts', '--mask', jpg, '--strategy', 'S5'], jpegRefused), 2);
  assert.match(jpegRefused.err, /JPEG is lossy, so a JPEG mask needs --threshold T/);
  const fromJpeg = capture();
  assert.equal(
    await main(['prompts', '--mask', jpg, '--threshold', '127', '--strategy', 'S5', '--json'], fromJpeg),
    0,
    fromJpeg.err,
  );
  assert.deepEqual(
    JSON.parse(fromJpeg.out),
    JSON.parse(fromPng.out),
    'the thresholded JPEG gives the same box',
  );
  const jpegMetrics = capture();
  assert.equal(
    await main(['metrics', '--pred', jpg, '--gt', truthPng, '--threshold', '127', '--json'], jpegMetrics),
    0,
  );
  assert.ok(JSON.parse(jpegMetrics.out).dice > 0.97);

  // A GIF cut short, or with a frame outside its screen, is a typed error (exit 2), not a crash.
  const bytes = maskGif(truth);
  await writeFile(join(dir, 'cut.gif'), bytes.slice(0, 30));
  const cut = capture();
  assert.equal(await main(['prompts', '--mask', join(dir, 'cut.gif'), '--strategy', 'S5'], cut), 2);
  assert.match(cut.err, /not a readable image .*GIF/);
  const outside = bytes.slice();
  // The first image descriptor follows the 13-byte header and the 2-colour palette (6 bytes): x at +1.
  assert.equal(outside[19], 0x2c);
  outside[20] = 40;
  await writeFile(join(dir, 'outside.gif'), outside);
  const off = capture();
  assert.equal(await main(['prompts', '--mask', join(dir, 'outside.gif'), '--strategy', 'S5'], off), 2);
  assert.match(off.err, /lies outside its 48x40 screen/);
});
