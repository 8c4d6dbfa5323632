/**
 * The benchmark gallery in Chromium against a real gateway: a small job on the reference model, its gallery
 * in the benchmarks view (thumbnails of the best, median and worst case per strategy and target), and a click
 * that opens a case in the segment view with the same image and prompt, whose overlay has the gallery's Dice.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { decodePng } from '../../gateway/src/imaging/decode-png.ts';
import { ensureWebApp } from '../../web/build.ts';
import { launchChromium, TEST_OUTPUT_DIR, type TestBrowser } from '../helpers/browser.ts';
import { gql, startTestGateway } from '../helpers/gateway.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { waitFor } from '../helpers/wait.ts';

const WAIT_MS = Number(process.env.WAIT_MS ?? 180_000);

declare const window: { medsegLatencies: number[] };
declare const document: {
  getElementById(id: string): {
    width: number;
    height: number;
    getContext(k: '2d'): {
      getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
    };
  } | null;
  querySelectorAll(s: string): ArrayLike<{ naturalWidth: number }>;
};

describe('benchmark gallery in Chromium', () => {
  let gw: RunningGateway;
  let browser: TestBrowser;
  let jobId: string;
  const root = mkdtempSync(join(tmpdir(), 'medseg-web-gallery-'));
  const dir = join(root, 'synthetic');

  before(async () => {
    await ensureWebApp();
    writeSyntheticDataset({
      dir,
      images: 3,
      width: 96,
      height: 72,
      classes: { 100: 'left', 200: 'right' },
      seed: 11,
      writeJson: true,
    });
    gw = await startTestGateway({ dataRoots: [root] });
    browser = await launchChromium();
    const reg = await gql(
      gw.url,
      'mutation { registerDataset(input: { path: "synthetic", id: "synth" }) { id } }',
    );
    assert.equal(reg.errors, undefined, JSON.stringify(reg.errors));
    const started = await gql<{ startBenchmark: { id: string } }>(
      gw.url,
      'mutation { startBenchmark(input: { dataset: "synth", models: ["sam_reference"], strategies: [S4, S5] }) { id } }',
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    jobId = started.data!.startBenchmark.id;
    await waitFor(
      'the benchmark job to complete',
      async () =>
        (
          await gql<{ benchmark: { status: string } }>(
            gw.url,
            'query ($id: ID!) { benchmark(id: $id) { status } }',
            {
              id: jobId,
            },
          )
        ).data?.benchmark.status === 'completed',
      { timeoutMs: WAIT_MS, intervalMs: 200 },
    );
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('the gallery shows thumbnails; a click opens the case in the segment view with its prompt', async () => {
    const api = await gql<{
      benchmark: {
        gallery: Array<{
          objectId: string;
          imageId: string;
          strategy: string;
          dice: number;
          prompt: { points: Array<{ x: number; y: number; label: number }>; box: number[] | null };
        }>;
      };
    }>(
      gw.url,
      'query ($id: ID!) { benchmark(id: $id) { gallery { objectId imageId strategy dice prompt { points { x y label } box } } } }',
      { id: jobId },
    );
    assert.equal(api.errors, undefined, JSON.stringify(api.errors));
    const cases = api.data!.benchmark.gallery;
    assert.equal(cases.length, 12, 'S4 and S5 x two targets x best, median, worst');

    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${gw.url}/`);
    await page.click('#tab-bench');
    await page.click(`button[aria-label="Gallery of job ${jobId.slice(0, 8)}"]`, { timeout: WAIT_MS });
    await page.waitForSelector('#gallery .gallery-case', { timeout: WAIT_MS });
    assert.equal(await page.locator('#gallery .gallery-case').count(), 12);
    const headings = await page.locator('#gallery h4').allTextContents();
    assert.deepEqual(headings, [
      'sam_reference · S4 · left',
      'sam_reference · S4 · right',
      'sam_reference · S5 · left',
      'sam_reference · S5 · right',
    ]);
    await page.waitForFunction(
      () => [...Array.from(document.querySelectorAll('#gallery img'))].every((i) => i.naturalWidth > 0),
      undefined,
      { timeout: WAIT_MS },
    );
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'gallery.png'), fullPage: true });

    // The worst S4 case: five positive and five negative points, the richest prompt to replay.
    const c = cases.filter((x) => x.strategy === 'S4').at(-1)!;
    await page.click(`#gallery .gallery-case[data-strategy="S4"][data-object="${c.objectId}"] >> nth=-1`);
    await page.waitForSelector('#tab-segment[aria-pressed="true"]', { timeout: WAIT_MS });
    await page.waitForFunction(() => window.medsegLatencies.length >= 1, undefined, { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    const pos = await page.locator('#prompt-layer circle.pos').count();
    const neg = await page.locator('#prompt-layer circle.neg').count();
    assert.deepEqual(
      [pos, neg],
      [
        c.prompt.points.filter((p) => p.label === 1).length,
        c.prompt.points.filter((p) => p.label === 0).length,
      ],
      'the prompt points, with their labels',
    );
    const shown = await page
      .locator('#prompt-layer circle')
      .evaluateAll((els) => els.map((e) => [Number(e.getAttribute('cx')), Number(e.getAttribute('cy'))]));
    assert.deepEqual(
      shown,
      c.prompt.points.map((p) => [p.x, p.y]),
    );

    // The overlay read back from the page against the dataset's ground truth: the gallery's Dice (the
    // browser may decode with its own runtime, so float rounding may move a few boundary pixels).
    const bits = await page.evaluate(() => {
      const cv = document.getElementById('overlay')!;
      const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
      let s = '';
      for (let i = 3; i < d.length; i += 4) s += d[i] > 0 ? '1' : '0';
      return s;
    });
    const classValue = Number(c.objectId.split('#')[1]);
    const label = decodePng(readFileSync(join(dir, 'labels', `${c.imageId}.png`)), 1e6);
    assert.equal(bits.length, label.width * label.height);
    let inter = 0;
    let a = 0;
    let b = 0;
    for (let i = 0; i < bits.length; i++) {
      const p = bits[i] === '1';
      const g = label.data[i] === classValue;
      if (p) a++;
      if (g) b++;
      if (p && g) inter++;
    }
    const dice = (200 * inter) / (a + b);
    assert.ok(Math.abs(dice - c.dice) < 1, `overlay Dice ${dice} vs the gallery's ${c.dice}`);
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'gallery-case.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
