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
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { labelComponents } from '../../gateway/src/core/connected-components.ts';
import type { BinaryMask } from '../../gateway/src/core/mask.ts';
import { simulatePrompt, type Strategy } from '../../gateway/src/core/prompts.ts';
import { preprocessSam } from '../../gateway/src/core/sam-transform.ts';
import type { Raster } from '../../gateway/src/core/raster.ts';
import { dice } from '../helpers/dice.ts';
import { decoderFeeds, ReferenceRunner, type TestPrompt } from '../unit/models/reference-runner.ts';

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
  for (const c of cases) {
    const emb = await runner.embed(c.image);
    for (const obj of c.objects) {
      for (const s of STRATEGIES) {
        const sim = simulatePrompt(obj.mask, s.strategy, 'corrected');
        if (!sim.ok) continue;
        const prompt: TestPrompt = {
          points: sim.prompt.points.map((p) => ({ x: p.x, y: p.y, label: p.label === 1 ? 1 : 0 })),
          box: sim.prompt.box,
        };
        const [r] = await runner.decode(emb, [prompt], c.image.height, c.image.width);
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
  await timings(runner, cases);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median session.run times on one thread: encoder, decoder at batch 1 and 16 (one point each). */
async function timings(runner: ReferenceRunner, cases: Case[]): Promise<void> {
  console.log(
    '\ntimings, median per call (decoder: session.run only; 1 intra-op thread; CPU = process CPU time, which a loaded machine inflates less than wall time)',
  );
  for (const c of [cases[0], cases[cases.length - 1]]) {
    const { image, objects } = c;
    const emb = await runner.embed(image);
    // JS preprocessing (PIL-style resize, normalization) and the encoder's session.run, timed apart.
    const pre: number[] = [];
    const enc: number[] = [];
    const encCpu: number[] = [];
    for (let i = 0; i < 5; i++) {
      let t = performance.now();
      const x = preprocessSam(image);
      pre.push(performance.now() - t);
      const c0 = process.cpuUsage();
      t = performance.now();
      await runner.encoder.run({ x: new ort.Tensor('float32', x.data, [1, 3, 1024, 1024]) });
      enc.push(performance.now() - t);
      const dc = process.cpuUsage(c0);
      encCpu.push((dc.user + dc.system) / 1000);
    }
    const sim = simulatePrompt(objects[0].mask, 'S2', 'corrected');
    const point: TestPrompt = sim.ok ? { points: [{ ...sim.prompt.points[0], label: 1 }] } : {};
    const bg: TestPrompt = { points: [{ x: 2, y: 2, label: 1 }] };
    const lines: string[] = [];
    for (const [name, prompt, batch] of [
      ['object point, batch 1', point, 1],
      ['background point (grows over the image), batch 1', bg, 1],
      ['object point, batch 16, per item', point, 16],
    ] as const) {
      const feeds = decoderFeeds(
        emb,
        Array.from({ length: batch }, () => prompt),
        image.height,
        image.width,
      );
      await runner.decoder.run(feeds);
      const ts: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < 9; i++) {
        const c0 = process.cpuUsage();
        const t = performance.now();
        await runner.decoder.run(feeds);
        ts.push((performance.now() - t) / batch);
        const dc = process.cpuUsage(c0);
        cpu.push((dc.user + dc.system) / 1000 / batch);
      }
      lines.push(`  decoder, ${name}: wall ${median(ts).toFixed(1)} ms, CPU ${median(cpu).toFixed(1)} ms`);
    }
    console.log(
      `${c.dataset}/${c.name} (${image.width}x${image.height}): preprocessSam ${median(pre).toFixed(1)} ms; encoder wall ${median(enc).toFixed(1)} ms, CPU ${median(encCpu).toFixed(1)} ms`,
    );
    console.log(lines.join('\n'));
  }
}
