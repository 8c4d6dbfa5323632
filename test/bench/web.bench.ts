/**
 * `npm run bench -- web`: click-to-overlay latency of the web app's segment view in Chromium on both decoding
 * paths side by side (two pages on one gateway, clicks alternating between them): decoding in the browser
 * (onnxruntime-web on the fetched fp16 embedding) and on the gateway (one `segment` call per prompt, RLE
 * decode and paint in the page), next to the same `segment` call made directly over HTTP, with the ratios.
 * Model: BENCH_WEB_MODEL, default the real mobilesam.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { buildWebApp } from '../../web/build.ts';
import { launchChromium } from '../helpers/browser.ts';
import { gql, SAMPLES, startTestGateway } from '../helpers/gateway.ts';

declare const window: { medsegDecodes: Array<{ path: string; ms: number }> };

const XRAY = join(SAMPLES, 'xray-lungs', 'images', '1.jpg');
const CLICKS = 12;
const MODEL = process.env.BENCH_WEB_MODEL ?? 'mobilesam';

function pct(ms: number[], p: number): number {
  const s = [...ms].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** Opens the X-ray on a page decoding in the browser or on the gateway, and draws the lung box. */
async function openPage(
  page: Page,
  url: string,
  inBrowser: boolean,
): Promise<(x: number, y: number) => Promise<void>> {
  await page.goto(`${url}/`);
  if (!inBrowser) await page.uncheck('#decode-browser');
  await page.setInputFiles('#file', XRAY);
  await page.waitForSelector('#prompt-layer', { timeout: 600_000 });
  await page.waitForSelector('.status[data-busy="false"]', { timeout: 600_000 });
  await page.waitForSelector(`#decode-path[data-path="${inBrowser ? 'browser' : 'server'}"]`, {
    timeout: 600_000,
  });
  const layer = (await page.locator('#prompt-layer').boundingBox())!;
  const at = (x: number, y: number) => ({
    x: layer.x + (x / 512) * layer.width,
    y: layer.y + (y / 512) * layer.height,
  });
  let done = 0;
  const wait = async () => {
    done++;
    await page.waitForFunction((want) => window.medsegDecodes.length >= want, done, { timeout: 600_000 });
    await page.waitForSelector('.status[data-busy="false"]');
  };
  const a = at(58, 43);
  const z = at(239, 388);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(z.x, z.y, { steps: 6 });
  await page.mouse.up();
  await wait();
  // Each click is undone, so every decode sees the box, one point and the box's mask as its prior.
  return async (x: number, y: number) => {
    const p = at(x, y);
    await page.mouse.click(p.x, p.y);
    await wait();
    await page.keyboard.press('z');
  };
}

export async function run(): Promise<void> {
  await buildWebApp();
  const gw = await startTestGateway({ defaultModel: MODEL });
  const browser = await launchChromium();
  try {
    const local = await browser.context.newPage();
    const remote = await browser.context.newPage();
    const clickLocal = await openPage(local, gw.url, true);
    const clickRemote = await openPage(remote, gw.url, false);
    for (let i = 0; i < CLICKS; i++) {
      const x = 110 + (i % 4) * 20;
      const y = 150 + Math.floor(i / 4) * 40;
      // Alternating which path goes first, so neither always meets the busier moment.
      if (i % 2 === 0) {
        await clickLocal(x, y);
        await clickRemote(x, y);
      } else {
        await clickRemote(x, y);
        await clickLocal(x, y);
      }
    }
    const figures = async (page: Page, path: string) =>
      (await page.evaluate(() => window.medsegDecodes))
        .slice(1)
        .filter((d) => d.path === path)
        .map((d) => d.ms);
    const localMs = await figures(local, 'browser');
    const remoteMs = await figures(remote, 'server');
    if (localMs.length !== CLICKS || remoteMs.length !== CLICKS)
      throw new Error(
        `expected ${CLICKS} clicks per path, got browser ${localMs.length}, gateway ${remoteMs.length}`,
      );

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
    console.log(`model: ${enc.data!.encodeImage.model}`);
    console.log(
      `click-to-overlay, decoding in the browser: p50 ${f(pct(localMs, 50))}, p90 ${f(pct(localMs, 90))} (${localMs.length} clicks)`,
    );
    console.log(
      `click-to-overlay, decoding on the gateway: p50 ${f(pct(remoteMs, 50))}, p90 ${f(pct(remoteMs, 90))} (${remoteMs.length} clicks)`,
    );
    console.log(
      `segment over HTTP, same prompts:           p50 ${f(pct(apiMs, 50))}, p90 ${f(pct(apiMs, 90))}`,
    );
    console.log(
      `ratio browser / gateway click-to-overlay (p50): ${(pct(localMs, 50) / pct(remoteMs, 50)).toFixed(2)}`,
    );
    console.log(
      `ratio gateway click-to-overlay / HTTP segment (p50): ${(pct(remoteMs, 50) / pct(apiMs, 50)).toFixed(2)}`,
    );
  } finally {
    await browser.close();
    await gw.close();
  }
}
