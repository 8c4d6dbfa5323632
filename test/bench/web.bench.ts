/**
 * `npm run bench -- web`: click-to-overlay latency of the web app's segment view in Chromium (server-side
 * decoding: one `segment` call on the cached embedding, RLE decode and paint in the page), next to the same
 * `segment` call made directly over HTTP, with the ratio. Uses the gateway's default model (DEFAULT_MODEL).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildWebApp } from '../../web/build.ts';
import { launchChromium } from '../helpers/browser.ts';
import { gql, SAMPLES, startTestGateway } from '../helpers/gateway.ts';

declare const window: { medsegLatencies: number[] };

const XRAY = join(SAMPLES, 'xray-lungs', 'images', '1.jpg');
const CLICKS = 12;

function pct(ms: number[], p: number): number {
  const s = [...ms].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export async function run(): Promise<void> {
  await buildWebApp();
  const gw = await startTestGateway();
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${gw.url}/`);
    await page.setInputFiles('#file', XRAY);
    await page.waitForSelector('#prompt-layer', { timeout: 600_000 });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: 600_000 });
    const layer = (await page.locator('#prompt-layer').boundingBox())!;
    const at = (x: number, y: number) => ({
      x: layer.x + (x / 512) * layer.width,
      y: layer.y + (y / 512) * layer.height,
    });
    const wait = (n: number) =>
      page.waitForFunction((want) => window.medsegLatencies.length >= want, n, { timeout: 600_000 });
    // One box, then clicks inside the lung, each undone so every decode sees the same box and one point.
    const a = at(58, 43);
    const z = at(239, 388);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move(z.x, z.y, { steps: 6 });
    await page.mouse.up();
    await wait(1);
    for (let i = 0; i < CLICKS; i++) {
      const p = at(110 + (i % 4) * 20, 150 + Math.floor(i / 4) * 40);
      await page.mouse.click(p.x, p.y);
      await wait(i + 2);
      await page.waitForSelector('.status[data-busy="false"]');
      await page.keyboard.press('z');
    }
    const browserMs = (await page.evaluate(() => window.medsegLatencies)).slice(1);

    // The same decoder call straight over HTTP on the same embedding.
    const enc = await gql<{ encodeImage: { id: string; model: string } }>(
      gw.url,
      'mutation ($b: String!) { encodeImage(image: { encoded: { base64: $b } }) { id model } }',
      { b: readFileSync(XRAY).toString('base64') },
    );
    const apiMs: number[] = [];
    for (let i = 0; i < CLICKS; i++) {
      const t = performance.now();
      await gql(
        gw.url,
        'query ($i: SegmentInput!) { segment(input: $i) { results { masks { rle { size counts } predictedIou stabilityScore area lowResId } } } }',
        {
          i: {
            embeddingId: enc.data!.encodeImage.id,
            prompts: [
              {
                box: { x0: 58, y0: 43, x1: 239, y1: 388 },
                points: [{ x: 110 + (i % 4) * 20, y: 150 + Math.floor(i / 4) * 40, positive: true }],
              },
            ],
            options: { multimask: true, selection: 'ALL' },
          },
        },
      );
      apiMs.push(performance.now() - t);
    }
    const f = (v: number) => `${v.toFixed(0)} ms`;
    console.log(`model: ${enc.data!.encodeImage.model} (the gateway's default)`);
    console.log(
      `click-to-overlay in Chromium, server decoding: p50 ${f(pct(browserMs, 50))}, p90 ${f(pct(browserMs, 90))} (${browserMs.length} clicks)`,
    );
    console.log(
      `segment over HTTP, same prompts:           p50 ${f(pct(apiMs, 50))}, p90 ${f(pct(apiMs, 90))}`,
    );
    console.log(
      `ratio click-to-overlay / HTTP segment (p50): ${(pct(browserMs, 50) / pct(apiMs, 50)).toFixed(2)}`,
    );
  } finally {
    await browser.close();
    await gw.close();
  }
}
