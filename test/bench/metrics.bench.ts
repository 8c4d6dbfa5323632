/**
 * Metrics and RLE throughput (`npm run bench -- metrics`): HD95 and the full metric set on organ-sized
 * masks, RLE encode/decode of 1024x1024 masks. Prints medians with the targets next to them.
 */
import type { BinaryMask } from '../../gateway/src/core/mask.ts';
import { computeFactors } from '../../gateway/src/core/factors.ts';
import { nextClick } from '../../gateway/src/core/interactive.ts';
import { computeMetrics, hausdorff95 } from '../../gateway/src/core/metrics.ts';
import { createRng } from '../../gateway/src/core/random.ts';
import { decodeRle, encodeRle } from '../../gateway/src/core/rle.ts';

/** An irregular blob: an ellipse whose radius wobbles with the angle (organ-like outline). */
function blob(size: number, cx: number, cy: number, rx: number, ry: number, seed: number): BinaryMask {
  const rng = createRng(seed);
  const phases = [rng.uniform(0, 6.28), rng.uniform(0, 6.28), rng.uniform(0, 6.28)];
  const data = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = (x - cx) / rx;
      const dy = (y - cy) / ry;
      const a = Math.atan2(dy, dx);
      const wobble =
        1 +
        0.08 * Math.sin(3 * a + phases[0]) +
        0.05 * Math.sin(7 * a + phases[1]) +
        0.03 * Math.sin(13 * a + phases[2]);
      if (dx * dx + dy * dy <= wobble * wobble) data[y * size + x] = 1;
    }
  }
  return { width: size, height: size, data };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function timeEach(
  pairs: Array<[BinaryMask, BinaryMask]>,
  rounds: number,
  fn: (a: BinaryMask, b: BinaryMask) => void,
): number[] {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [a, b] of pairs) {
      const t = performance.now();
      fn(a, b);
      times.push(performance.now() - t);
    }
  }
  return times;
}

function line(label: string, value: string, target: string, ok: boolean): void {
  console.log(
    `${label.padEnd(52)} ${value.padStart(14)}   target ${target.padEnd(12)} ${ok ? 'ok' : 'MISSED'}`,
  );
}

export async function run(): Promise<void> {
  // Organ-sized: radii 60-160 px on 1024x1024 (a liver on a CT slice), prediction = a perturbed blob.
  const pairs1024: Array<[BinaryMask, BinaryMask]> = [];
  const pairs512: Array<[BinaryMask, BinaryMask]> = [];
  for (let i = 0; i < 6; i++) {
    const rx = 60 + 20 * i;
    const ry = 50 + 15 * i;
    pairs1024.push([
      blob(1024, 500 + 3 * i, 520, rx * 1.05, ry, 100 + i),
      blob(1024, 505, 515 + 2 * i, rx, ry * 0.97, 200 + i),
    ]);
    pairs512.push([
      blob(512, 250 + i, 260, rx / 2, ry / 2, 300 + i),
      blob(512, 254, 257, (rx / 2) * 0.95, ry / 2, 400 + i),
    ]);
  }
  // Warm-up for the JIT.
  timeEach(pairs512, 3, (a, b) => computeMetrics(a, b));
  timeEach(pairs1024, 2, (a, b) => hausdorff95(a, b));

  const hd = median(timeEach(pairs1024, 5, (a, b) => hausdorff95(a, b)));
  line('HD95, 1024x1024 organ-sized pair (median)', `${hd.toFixed(2)} ms`, '<= 10 ms', hd <= 10);
  const full1024 = median(timeEach(pairs1024, 5, (a, b) => computeMetrics(a, b)));
  line('all metrics, 1024x1024 organ-sized pair (median)', `${full1024.toFixed(2)} ms`, '(info)', true);
  const full512 = median(timeEach(pairs512, 10, (a, b) => computeMetrics(a, b)));
  line('all metrics, 512x512 pair (median)', `${full512.toFixed(2)} ms`, '<= 2 ms', full512 <= 2);
  const aniso = median(timeEach(pairs512, 10, (a, b) => computeMetrics(a, b, { spacing: [0.7, 0.7 * 1.3] })));
  line('all metrics, 512x512 pair, anisotropic spacing', `${aniso.toFixed(2)} ms`, '(info)', true);

  const masks = pairs1024.map((p) => p[0]);
  const rles = masks.map((m) => encodeRle(m));
  for (let i = 0; i < 3; i++) masks.forEach((m) => decodeRle(encodeRle(m)));
  const encTimes: number[] = [];
  const decTimes: number[] = [];
  for (let r = 0; r < 10; r++) {
    for (let i = 0; i < masks.length; i++) {
      let t = performance.now();
      encodeRle(masks[i]);
      encTimes.push(performance.now() - t);
      t = performance.now();
      decodeRle(rles[i]);
      decTimes.push(performance.now() - t);
    }
  }
  const enc = median(encTimes);
  const dec = median(decTimes);
  line('RLE encode 1024x1024 (median)', `${enc.toFixed(2)} ms`, '(few ms)', enc <= 5);
  line('RLE encode 1024x1024 masks per second', `${(1000 / enc).toFixed(0)}/s`, '(info)', true);
  line('RLE decode 1024x1024 (median)', `${dec.toFixed(2)} ms`, '(few ms)', dec <= 5);
  line('RLE decode 1024x1024 masks per second', `${(1000 / dec).toFixed(0)}/s`, '(info)', true);

  const factorTimes = timeEach(pairs1024, 2, (a) => computeFactors(a));
  const fac = median(factorTimes);
  line('object factors (size, ratio, EFD complexity), 1024x1024', `${fac.toFixed(2)} ms`, '(info)', true);
  const clickTimes = timeEach(pairs1024, 3, (a, b) => nextClick(a, b));
  const click = median(clickTimes);
  line('next interactive click, 1024x1024 pair', `${click.toFixed(2)} ms`, '(info)', true);
}
