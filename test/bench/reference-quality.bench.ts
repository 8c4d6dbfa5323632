/**
 * `npm run bench -- reference-quality`: mean Dice of the project's reference SAM models on the real samples,
 * per prompt type, picking the candidate with the highest iou_predictions (deployable) and the best one
 * against the truth (the paper's oracle), plus decoder and encoder timings on one core.
 *
 * Objects: xray-lungs masks hold both lungs; each 8-connected component is one object (left and right
 * lung). mri-cardiac-cosmos labels: one object per grey value (85 LV, 170 myocardium, 255 RV). Prompts are
 * the protocol's `corrected` mode (prompts.ts): S2 one centre point, S5 box, S6 box + point, S3 5 points.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { labelComponents } from '../../gateway/src/core/connected-components.ts';
import type { BinaryMask } from '../../gateway/src/core/mask.ts';
import { simulatePrompt, type Strategy } from '../../gateway/src/core/prompts.ts';
import type { Raster } from '../../gateway/src/core/raster.ts';
import { dice } from '../helpers/dice.ts';
import { ReferenceRunner, type TestPrompt } from '../unit/models/reference-runner.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const samples = resolve(repoRoot, '../shared/samples');

interface Case {
  dataset: string;
  name: string;
  image: Raster;
  objects: Array<{ label: string; mask: BinaryMask }>;
}

function greyFromRgba(data: Uint8Array | Buffer, width: number, height: number): Raster {
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = data[i * 4];
  return { width, height, channels: 1, data: out };
}

function readPngGrey(path: string): Raster {
  const png = PNG.sync.read(readFileSync(path));
  return greyFromRgba(png.data, png.width, png.height);
}

function loadCases(): Case[] {
  const cases: Case[] = [];
  const xr = join(samples, 'xray-lungs');
  for (const f of readdirSync(join(xr, 'images')).sort()) {
    const jpg = jpeg.decode(readFileSync(join(xr, 'images', f)), { useTArray: true });
    const image = greyFromRgba(jpg.data, jpg.width, jpg.height);
    const gt = readPngGrey(join(xr, 'masks', f.replace('.jpg', '-mask.png')));
    const whole: BinaryMask = {
      width: gt.width,
      height: gt.height,
      data: Uint8Array.from(gt.data, (v) => (v > 127 ? 1 : 0)),
    };
    const comps = labelComponents(whole, 8);
    const objects = comps.sizes
      .map((size, k) => ({ size, k: k + 1 }))
      .filter((c) => c.size > 50)
      .map(({ k }) => ({
        label: `lung-${k}`,
        mask: {
          width: gt.width,
          height: gt.height,
          data: Uint8Array.from(comps.labels, (l) => (l === k ? 1 : 0)),
        },
      }));
    cases.push({ dataset: 'xray-lungs', name: f, image, objects });
  }
  const mr = join(samples, 'mri-cardiac-cosmos');
  const names: Record<number, string> = { 85: 'LV', 170: 'myocardium', 255: 'RV' };
  for (const f of readdirSync(join(mr, 'images')).sort()) {
    const image = readPngGrey(join(mr, 'images', f));
    const lab = readPngGrey(join(mr, 'labels', f));
    const objects = [85, 170, 255]
      .map((v) => ({
        label: names[v],
        mask: {
          width: lab.width,
          height: lab.height,
          data: Uint8Array.from(lab.data, (x) => (x === v ? 1 : 0)),
        },
      }))
      .filter((o) => o.mask.data.reduce((a, b) => a + b, 0) > 50);
    cases.push({ dataset: 'mri-cardiac-cosmos', name: f, image, objects });
  }
  return cases;
}

const STRATEGIES: Array<{ name: string; strategy: Strategy }> = [
  { name: 'one centre point (S2)', strategy: 'S2' },
  { name: 'box (S5)', strategy: 'S5' },
  { name: 'box + point (S6)', strategy: 'S6' },
  { name: '5 points (S3)', strategy: 'S3' },
];

export async function run(): Promise<void> {
  const runner = await ReferenceRunner.create();
  const cases = loadCases();
  const sums = new Map<string, { picked: number; oracle: number; n: number }>();
  let encMs = 0;
  let decMs = 0;
  let decCalls = 0;
  for (const c of cases) {
    const t0 = performance.now();
    const emb = await runner.embed(c.image);
    encMs += performance.now() - t0;
    for (const obj of c.objects) {
      for (const s of STRATEGIES) {
        const sim = simulatePrompt(obj.mask, s.strategy, 'corrected');
        if (!sim.ok) continue;
        const prompt: TestPrompt = {
          points: sim.prompt.points.map((p) => ({ x: p.x, y: p.y, label: p.label === 1 ? 1 : 0 })),
          box: sim.prompt.box,
        };
        const t1 = performance.now();
        const [r] = await runner.decode(emb, [prompt], c.image.height, c.image.width);
        decMs += performance.now() - t1;
        decCalls++;
        const ds = r.masks.map((m) => dice(m, obj.mask.data));
        for (const key of [`${c.dataset} | ${s.name}`, `${c.dataset}/${obj.label} | ${s.name}`]) {
          const acc = sums.get(key) ?? { picked: 0, oracle: 0, n: 0 };
          acc.picked += ds[r.best];
          acc.oracle += Math.max(...ds);
          acc.n++;
          sums.set(key, acc);
        }
      }
    }
  }
  console.log(
    'mean Dice x100 (candidate with the highest iou_predictions | oracle best of 4), corrected prompts',
  );
  console.log(
    `${'dataset[/object] | prompt'.padEnd(52)} ${'picked'.padStart(7)} ${'oracle'.padStart(7)} ${'n'.padStart(4)}`,
  );
  for (const [key, v] of [...sums].sort(([a], [b]) => (a < b ? -1 : 1))) {
    console.log(
      `${key.padEnd(52)} ${((100 * v.picked) / v.n).toFixed(1).padStart(7)} ${((100 * v.oracle) / v.n).toFixed(1).padStart(7)} ${String(v.n).padStart(4)}`,
    );
  }
  console.log(
    `encoder: ${(encMs / cases.length).toFixed(1)} ms/image (1 thread, incl. nothing but session.run)`,
  );
  console.log(`decoder: ${(decMs / decCalls).toFixed(1)} ms/call at batch 1 (1 thread), ${decCalls} calls`);
}
