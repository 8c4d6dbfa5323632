import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type * as ort from 'onnxruntime-node';
import { gaussian, generatePhantom, seededRandom } from '../../../gateway/src/core/phantoms.ts';
import type { Raster } from '../../../gateway/src/core/raster.ts';
import { longestSideSize } from '../../../gateway/src/core/sam-transform.ts';
import { dice } from '../../helpers/dice.ts';
import { ReferenceRunner, type TestPrompt } from './reference-runner.ts';

let runner: ReferenceRunner;
before(async () => {
  runner = await ReferenceRunner.create();
});

type Shape = (x: number, y: number) => boolean;
const disc =
  (cx: number, cy: number, r: number): Shape =>
  (x, y) =>
    (x - cx) ** 2 + (y - cy) ** 2 <= r * r;

/** A grey image of flat shapes (later ones on top) with seeded Gaussian noise (SD 5). */
function paint(width: number, height: number, background: number, shapes: Array<[Shape, number]>): Raster {
  const rand = seededRandom(width * 7 + height);
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = background;
      for (const [inside, grey] of shapes) if (inside(x + 0.5, y + 0.5)) v = grey;
      data[y * width + x] = Math.min(255, Math.max(0, Math.round(v + 5 * gaussian(rand))));
    }
  }
  return { width, height, channels: 1, data };
}

function maskOf(width: number, height: number, inside: Shape): Uint8Array {
  const m = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) m[y * width + x] = inside(x + 0.5, y + 0.5) ? 1 : 0;
  return m;
}

/** Share of `truth` covered by `mask`. */
function coverage(mask: Uint8Array, truth: Uint8Array): number {
  let inter = 0;
  let n = 0;
  for (let i = 0; i < truth.length; i++) {
    n += truth[i];
    inter += mask[i] & truth[i];
  }
  return inter / n;
}

/** Tight box and a point inside: the centroid, or for a ring the middle of its thickness right of it. */
function geometry(mask: Uint8Array, width: number, height: number) {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      n++;
      sx += x;
      sy += y;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  }
  let cx = Math.floor(sx / n);
  const cy = Math.floor(sy / n);
  if (!mask[cy * width + cx]) {
    let a = cx;
    while (!mask[cy * width + a]) a++;
    let b = a;
    while (mask[cy * width + b + 1]) b++;
    cx = Math.floor((a + b) / 2);
  }
  return { point: { x: cx, y: cy }, box: [x0, y0, x1, y1] as [number, number, number, number] };
}

describe('reference decoder on phantoms (noise and bias field)', () => {
  for (const seed of [1, 2]) {
    it(`segments every disc, ellipse and ring of phantom ${seed}: box Dice >= 0.90, one point Dice >= 0.80`, async () => {
      const width = 176;
      const height = 144;
      const { image, objects } = generatePhantom({ seed, width, height, noiseSigma: 10, biasStrength: 0.15 });
      const emb = await runner.embed(image);
      for (const obj of objects) {
        const g = geometry(obj.mask.data, width, height);
        const prompts: TestPrompt[] = [{ box: g.box }, { points: [{ ...g.point, label: 1 }] }];
        const [byBox, byPoint] = await runner.decode(emb, prompts, height, width);
        const boxDice = dice(byBox.masks[byBox.best], obj.mask.data);
        const pointDice = dice(byPoint.masks[byPoint.best], obj.mask.data);
        assert.ok(boxDice >= 0.9, `${obj.label}: box Dice ${boxDice.toFixed(3)}`);
        assert.ok(pointDice >= 0.8, `${obj.label}: point Dice ${pointDice.toFixed(3)}`);
        // What SAM's everything mode filters on: predicted IoU > 0.88 and stability (IoU of the masks at
        // logits > 1 and > -1) > 0.95; a mask that fits its object passes both.
        assert.ok(byBox.iou[byBox.best] > 0.88, `${obj.label}: predicted IoU ${byBox.iou[byBox.best]}`);
        const logits = byBox.logits.subarray(byBox.best * width * height, (byBox.best + 1) * width * height);
        const stability = logits.filter((v) => v > 1).length / logits.filter((v) => v > -1).length;
        assert.ok(stability > 0.95, `${obj.label}: stability ${stability}`);
      }
    });
  }
});

describe('reference decoder prompts', () => {
  const W = 160;
  const H = 112;
  const A = disc(45, 56, 22);
  const B = disc(115, 56, 22);
  const bridge: Shape = (x, y) => x >= 45 && x <= 115 && y >= 52 && y <= 60;
  let dumbbell: ort.Tensor;
  before(async () => {
    dumbbell = await runner.embed(
      paint(W, H, 50, [
        [A, 170],
        [B, 170],
        [bridge, 170],
      ]),
    );
  });

  it('a negative click removes a leaked region', async () => {
    const truthA = maskOf(W, H, A);
    const truthB = maskOf(W, H, B);
    const [leaky] = await runner.decode(dumbbell, [{ points: [{ x: 45, y: 56, label: 1 }] }], H, W);
    assert.ok(
      coverage(leaky.masks[leaky.best], truthB) > 0.9,
      'one click on A leaks into B through the bridge',
    );
    const [fixed] = await runner.decode(
      dumbbell,
      [
        {
          points: [
            { x: 45, y: 56, label: 1 },
            { x: 115, y: 56, label: 0 },
          ],
        },
      ],
      H,
      W,
    );
    const best = fixed.masks[fixed.best];
    assert.ok(coverage(best, truthB) < 0.05, `B coverage ${coverage(best, truthB)}`);
    assert.ok(dice(best, truthA) >= 0.85, `A Dice ${dice(best, truthA)}`);
  });

  it('mask_input feedback refines the previous mask instead of starting over', async () => {
    const P = disc(62, 56, 24);
    const Q = disc(100, 56, 24);
    const emb = await runner.embed(
      paint(W, H, 50, [
        [Q, 125],
        [P, 215],
      ]),
    );
    const truth = maskOf(W, H, (x, y) => P(x, y) || Q(x, y));
    const [first] = await runner.decode(emb, [{ points: [{ x: 55, y: 56, label: 1 }] }], H, W);
    const firstDice = dice(first.masks[first.best], truth);
    assert.ok(firstDice < 0.8, `the first click takes the bright part only (Dice ${firstDice})`);
    const prior = first.lowRes.slice(first.best * 65536, (first.best + 1) * 65536);
    const click: TestPrompt = { points: [{ x: 110, y: 56, label: 1 }] };
    const [refined] = await runner.decode(emb, [click], H, W, [prior]);
    const [fresh] = await runner.decode(emb, [click], H, W);
    const refinedDice = dice(refined.masks[refined.best], truth);
    assert.ok(refinedDice >= 0.95, `with the previous mask: Dice ${refinedDice}`);
    assert.ok(
      coverage(refined.masks[refined.best], first.masks[first.best]) > 0.95,
      'keeps the previous mask',
    );
    assert.ok(dice(fresh.masks[fresh.best], truth) < 0.8, 'without it the same click starts over');
  });

  it('ignores mask_input when has_mask_input is 0', async () => {
    const prompt: TestPrompt = { points: [{ x: 45, y: 56, label: 1 }] };
    const [plain] = await runner.decode(dumbbell, [prompt], H, W);
    const feeds = (await import('./reference-runner.ts')).decoderFeeds(dumbbell, [prompt], H, W);
    (feeds.mask_input.data as Float32Array).fill(5);
    const out = await runner.decoder.run(feeds);
    assert.deepEqual(out.masks.data, Float32Array.from(plain.logits));
  });

  it('ignores padding points (label -1) wherever they are', async () => {
    const base: TestPrompt = { points: [{ x: 45, y: 56, label: 1 }] };
    const [a] = await runner.decode(dumbbell, [base], H, W);
    const { decoderFeeds } = await import('./reference-runner.ts');
    const feeds = decoderFeeds(dumbbell, [base], H, W);
    const coords = new Float32Array([...(feeds.point_coords.data as Float32Array), 115, 56, 10, 10, 0, 0]);
    const labels = new Float32Array([...(feeds.point_labels.data as Float32Array), -1, -1, -1]);
    const n = labels.length;
    const ortMod = await import('onnxruntime-node');
    feeds.point_coords = new ortMod.Tensor('float32', coords, [1, n, 2]);
    feeds.point_labels = new ortMod.Tensor('float32', labels, [1, n]);
    const b = await runner.decoder.run(feeds);
    assert.deepEqual(b.masks.data, Float32Array.from(a.logits));
    assert.deepEqual(Array.from(b.iou_predictions.data as Float32Array), a.iou.map(Math.fround));
  });

  it('returns empty masks and zero scores without a positive prompt, even with no point at all', async () => {
    const [r] = await runner.decode(dumbbell, [{}], H, W);
    assert.ok(r.logits.every((v) => v < 0));
    assert.deepEqual(r.iou, [0, 0, 0, 0]);
    const { decoderFeeds } = await import('./reference-runner.ts');
    const ortMod = await import('onnxruntime-node');
    const feeds = decoderFeeds(dumbbell, [{}], H, W);
    feeds.point_coords = new ortMod.Tensor('float32', new Float32Array(0), [1, 0, 2]);
    feeds.point_labels = new ortMod.Tensor('float32', new Float32Array(0), [1, 0]);
    const none = await runner.decoder.run(feeds);
    assert.deepEqual(Array.from(none.iou_predictions.data as Float32Array), [0, 0, 0, 0], 'no points at all');
    assert.ok((none.masks.data as Float32Array).every((v) => v < 0));
  });

  it('gives a batch of 3 different prompts the same results as 3 single runs', async () => {
    const prompts: TestPrompt[] = [
      { points: [{ x: 45, y: 56, label: 1 }] },
      { box: [20, 30, 70, 82] },
      {
        points: [
          { x: 115, y: 56, label: 1 },
          { x: 45, y: 56, label: 0 },
          { x: 80, y: 56, label: 1 },
        ],
      },
    ];
    const batch = await runner.decode(dumbbell, prompts, H, W);
    for (const [i, p] of prompts.entries()) {
      const [single] = await runner.decode(dumbbell, [p], H, W);
      assert.deepEqual(batch[i].iou, single.iou, `prompt ${i} scores`);
      assert.deepEqual(batch[i].logits, single.logits, `prompt ${i} masks`);
      assert.deepEqual(batch[i].lowRes, single.lowRes, `prompt ${i} low-res masks`);
    }
  });

  it('returns masks at the original size, post-processed from the low-res logits as SAM does', async () => {
    const out = await runner.decoder.run(
      (await import('./reference-runner.ts')).decoderFeeds(
        dumbbell,
        [{ points: [{ x: 45, y: 56, label: 1 }] }],
        H,
        W,
      ),
    );
    assert.deepEqual(out.masks.dims, [1, 4, H, W]);
    assert.deepEqual(out.iou_predictions.dims, [1, 4]);
    assert.deepEqual(out.low_res_masks.dims, [1, 4, 256, 256]);
    const low = out.low_res_masks.data as Float32Array;
    const masks = out.masks.data as Float32Array;
    const [newH, newW] = longestSideSize(H, W);
    for (let c = 0; c < 4; c++) {
      const up = bilinear(low.subarray(c * 65536, (c + 1) * 65536), 256, 256, 1024, 1024);
      const cropped = new Float32Array(newH * newW);
      for (let y = 0; y < newH; y++) cropped.set(up.subarray(y * 1024, y * 1024 + newW), y * newW);
      const expected = bilinear(cropped, newH, newW, H, W);
      let max = 0;
      for (let i = 0; i < H * W; i++) max = Math.max(max, Math.abs(expected[i] - masks[c * H * W + i]));
      assert.ok(max < 1e-3, `candidate ${c}: max difference ${max}`);
    }
  });
});

/** torch F.interpolate(mode='bilinear', align_corners=False) of one plane, as a reference. */
function bilinear(src: Float32Array, h: number, w: number, oh: number, ow: number): Float32Array {
  const out = new Float32Array(oh * ow);
  const axis = (o: number, n: number, on: number) => {
    const s = Math.max(((o + 0.5) * n) / on - 0.5, 0);
    const i0 = Math.min(Math.floor(s), n - 1);
    const i1 = Math.min(i0 + 1, n - 1);
    return [i0, i1, s - i0] as const;
  };
  for (let y = 0; y < oh; y++) {
    const [y0, y1, fy] = axis(y, h, oh);
    for (let x = 0; x < ow; x++) {
      const [x0, x1, fx] = axis(x, w, ow);
      const top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx;
      const bottom = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx;
      out[y * ow + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}
