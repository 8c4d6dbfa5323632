/**
 * The volume view on a DICOM series in Chromium: the three CT slices are picked in shuffled order, the page
 * shows them in the gateway's slice order (along the slice normal), a box on the middle slice propagates, each
 * slice's overlay is the mask the gateway's DICOM SEG stores for the instance the page shows there, and the
 * SEG downloads.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { readDicomSeg, segSourceFromDicom } from '../../gateway/src/imaging/dicom-seg.ts';
import { maskBox } from '../../gateway/src/sam/propagation.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { ensureWebApp } from '../../web/build.ts';
import { launchChromium, TEST_OUTPUT_DIR, type TestBrowser } from '../helpers/browser.ts';
import { dice } from '../helpers/dice.ts';
import { REPO_ROOT, startTestGateway } from '../helpers/gateway.ts';

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
const ctDir = resolve(REPO_ROOT, '../shared/samples/dicom/ct-3slice-liver-seg');
const FILES = ['03.dcm', '01.dcm', '02.dcm'].map((f) => join(ctDir, f));
const liver = readDicomSeg(new Uint8Array(readFileSync(join(ctDir, 'liver.dcm'))));

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
  await page.waitForSelector(`output:has-text("${index} / ")`, { timeout: WAIT_MS });
}

async function overlay(page: Page): Promise<Uint8Array> {
  const bits = await page.evaluate(() => {
    const c = document.getElementById('volume-overlay');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 3; i < d.length; i += 4) s += d[i] > 0 ? '1' : '0';
    return s;
  });
  return Uint8Array.from(bits, (ch) => (ch === '1' ? 1 : 0));
}

describe('volume view on a DICOM series in Chromium', () => {
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

  test('shuffled files in slice order; propagate from the middle slice; overlays match the SEG per instance', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${gw.url}/`);
    await page.click('#tab-volume');
    await page.setInputFiles('#volume-file', FILES);
    await page.waitForSelector('#volume-layer', { timeout: WAIT_MS });
    await setSlice(page, 1);
    const middle = await page.locator('.volume .stage').getAttribute('data-instance');
    assert.ok(middle);

    // The liver's box on the slice the page shows as the middle one.
    const truth = liver.frames.find((f) => f.sourceSopInstanceUids.includes(middle))!.mask;
    const b = maskBox(truth).box!;
    const r = (await page.locator('#volume-layer').boundingBox())!;
    const at = (x: number, y: number) => ({
      x: r.x + (x / truth.width) * r.width,
      y: r.y + (y / truth.height) * r.height,
    });
    await page.mouse.move(at(b[0], b[1]).x, at(b[0], b[1]).y);
    await page.mouse.down();
    await page.mouse.move(at(b[2] + 1, b[3] + 1).x, at(b[2] + 1, b[3] + 1).y, { steps: 5 });
    await page.mouse.up();
    await page.click('#propagate');
    await page.waitForSelector('.volume .status[data-status="SUCCEEDED"]', { timeout: WAIT_MS });
    await page.waitForSelector('#volume-seg:not([disabled])', { timeout: WAIT_MS });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#volume-seg')]);
    const file = join(TEST_OUTPUT_DIR, 'volume-seg.dcm');
    await download.saveAs(file);
    const seg = readDicomSeg(new Uint8Array(readFileSync(file)));
    assert.ok(seg.frames.length >= 1, 'the SEG has frames');

    // The slice order on the page is the gateway's: each slice's overlay is the SEG frame of the instance
    // the page shows there (a frame for another instance would be another mask).
    const order = FILES.map((f) => segSourceFromDicom(new Uint8Array(readFileSync(f))).source);
    const seen: string[] = [];
    for (let k = 0; k < 3; k++) {
      await setSlice(page, k);
      const uid = await page.locator('.volume .stage').getAttribute('data-instance');
      assert.ok(uid && order.some((o) => o.sopInstanceUid === uid));
      seen.push(uid);
      const shown = await overlay(page);
      const frame = seg.frames.find((f) => f.sourceSopInstanceUids.includes(uid));
      if (!frame) {
        assert.ok(!shown.some((v) => v === 1), `slice ${k} has no SEG frame and shows no mask`);
        continue;
      }
      assert.ok(
        shown.some((v) => v === 1),
        `slice ${k} shows a mask`,
      );
      assert.equal(dice(shown, frame.mask.data), 1, `slice ${k}: the overlay is the SEG's mask of ${uid}`);
    }
    assert.equal(new Set(seen).size, 3, 'three distinct instances');
    assert.notDeepEqual(
      seen,
      order.map((o) => o.sopInstanceUid),
      'the page reordered the shuffled files',
    );
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'volume-dicom.png') });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
