/**
 * The volume view in Chromium: open a NIfTI volume, scroll to the key slice, draw a box, propagate; progress
 * arrives over the volumeProgress subscription, the slices scroll with their masks, the label volume
 * downloads; a long propagation can be cancelled from the page.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { decodeNifti, sliceVolume } from '../../gateway/src/imaging/nifti.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { ensureWebApp } from '../../web/build.ts';
import { launchChromium, TEST_OUTPUT_DIR, type TestBrowser } from '../helpers/browser.ts';
import { SAMPLES, startTestGateway } from '../helpers/gateway.ts';

interface PageInput {
  value: string;
  dispatchEvent(e: unknown): boolean;
}
declare const document: {
  getElementById(id: string): PageInput & {
    width: number;
    height: number;
    getContext(k: '2d'): {
      getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
    };
  };
};
declare const Event: new (type: string) => unknown;

const WAIT_MS = 180_000;
const TINY = join(SAMPLES, 'nifti', 'tiny-mri-fixture');

async function setSlice(page: Page, index: number): Promise<void> {
  await page.evaluate((i) => {
    const el = document.getElementById('volume-slice');
    el.value = String(i);
    el.dispatchEvent(new Event('input'));
  }, index);
  await page.waitForFunction(
    (i) => (document.getElementById('volume-slice') as PageInput).value === String(i),
    index,
  );
}

async function overlayArea(page: Page): Promise<number> {
  return page.evaluate(() => {
    const c = document.getElementById('volume-overlay');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
}

async function dragBox(
  page: Page,
  w: number,
  h: number,
  b: { x0: number; y0: number; x1: number; y1: number },
) {
  const r = (await page.locator('#volume-layer').boundingBox())!;
  const at = (x: number, y: number) => ({ x: r.x + (x / w) * r.width, y: r.y + (y / h) * r.height });
  const a = at(b.x0, b.y0);
  const z = at(b.x1, b.y1);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(z.x, z.y, { steps: 5 });
  await page.mouse.up();
}

describe('volume view in Chromium', () => {
  let gw: RunningGateway;
  let browser: TestBrowser;
  before(async () => {
    await ensureWebApp();
    gw = await startTestGateway();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
  });

  test('propagate a box from the key slice with live progress; slices scroll with masks; NIfTI export', async () => {
    // The fixture's label marks one region on one slice: the key slice and its box.
    const label = decodeNifti(new Uint8Array(readFileSync(join(TINY, 'anatomical_label.nii.gz'))));
    let key = -1;
    let box = { x0: 0, y0: 0, x1: 0, y1: 0 };
    for (let k = 0; k < label.dims[2] && key < 0; k++) {
      const s = sliceVolume(label, 2, k).raster;
      let [x0, y0, x1, y1] = [s.width, s.height, -1, -1];
      for (let y = 0; y < s.height; y++)
        for (let x = 0; x < s.width; x++)
          if (s.data[y * s.width + x])
            [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x + 1), Math.max(y1, y + 1)];
      if (x1 >= 0) [key, box] = [k, { x0, y0, x1, y1 }];
    }
    assert.ok(key >= 0, 'the fixture label has a slice');
    const [w, h] = [label.dims[0], label.dims[1]];

    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${gw.url}/`);
    await page.click('#tab-volume');
    await page.setInputFiles('#volume-file', join(TINY, 'anatomical.nii'));
    await page.waitForSelector('#volume-layer', { timeout: WAIT_MS });
    await setSlice(page, key);
    await page.waitForSelector(`output:has-text("${key} / ${label.dims[2] - 1}")`, { timeout: WAIT_MS });
    await dragBox(page, w, h, box);
    await page.click('#propagate');
    await page.waitForSelector('.volume .status[data-status="SUCCEEDED"]', { timeout: WAIT_MS });
    await page.waitForSelector('#volume-export:not([disabled])', { timeout: WAIT_MS });
    const events = Number(await page.locator('.volume .status').getAttribute('data-events'));
    assert.ok(events >= 2, `volumeProgress events: ${events}`);
    assert.ok((await overlayArea(page)) > 0, 'the key slice shows its mask');
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'volume.png') });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#volume-export')]);
    const file = join(TEST_OUTPUT_DIR, 'volume-labels.nii.gz');
    await download.saveAs(file);
    const labels = decodeNifti(new Uint8Array(readFileSync(file)));
    assert.deepEqual(
      labels.dims.slice(0, 3),
      label.dims.slice(0, 3),
      'the label volume is in the source grid',
    );
    const keyLabels = sliceVolume(labels, 2, key).raster.data;
    assert.ok(
      Array.from(keyLabels).some((v) => v > 0),
      'the key slice is labelled in the export',
    );
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a long propagation is cancelled from the page', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${gw.url}/`);
    await page.click('#tab-volume');
    const flair = join(
      SAMPLES,
      'nifti',
      'brats2015-flair',
      'brats_2013_pat0006_1',
      'Flair_subtrMeanDivStd.nii.gz',
    );
    await page.setInputFiles('#volume-file', flair);
    await page.waitForSelector('#volume-layer', { timeout: WAIT_MS });
    // A large box in the middle slice of a 240 x 240 x 155 brain: propagation would run through many slices.
    await dragBox(page, 240, 240, { x0: 40, y0: 40, x1: 200, y1: 200 });
    await page.click('#propagate');
    await page.waitForSelector('#volume-cancel:not([disabled])', { timeout: WAIT_MS });
    await page.click('#volume-cancel');
    await page.waitForSelector(
      '.volume .status[data-status="CANCELLED"], .volume .status[data-status="SUCCEEDED"]',
      {
        timeout: WAIT_MS,
      },
    );
    const status = await page.locator('.volume .status').getAttribute('data-status');
    const text = (await page.locator('.volume .status').textContent()) ?? '';
    const m = /(\d+)\/(\d+) slices/.exec(text);
    assert.ok(m, text);
    // Cancelled (before or between slices), or on a very fast machine finished before the click landed.
    assert.ok(status === 'CANCELLED' || status === 'SUCCEEDED', String(status));
    if (status === 'CANCELLED')
      assert.ok(Number(m[1]) < 155, `stopped before the end of the volume: ${text}`);
    assert.equal(await page.locator('#volume-cancel[disabled]').count(), 1, 'nothing left to cancel');
    await page.close();
  });
});
