/**
 * The web app in a real browser (Debian's Chromium through playwright-core) against a real gateway: the
 * segment view on a chest X-ray (box, negative point, undo, candidates, RLE export), checked pixel for pixel
 * against the API; that the page never leaves the gateway's origin; basic accessibility (names, focus order,
 * overlay contrast); the offline GraphQL IDE at /graphql. Screenshots go to test-output/web for review.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { decodeRle } from '../../gateway/src/core/rle.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { decodeImage } from '../../gateway/src/imaging/decode-image.ts';
import { decodePng } from '../../gateway/src/imaging/decode-png.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { ensureWebApp } from '../../web/build.ts';
import { PALETTE, contrastRatio } from '../../web/src/overlay.ts';
import { launchChromium, TEST_OUTPUT_DIR, type TestBrowser } from '../helpers/browser.ts';
import { dice } from '../helpers/dice.ts';
import { makeTiff } from '../unit/imaging/synthetic-images.ts';
import { gql, SAMPLES, startTestGateway } from '../helpers/gateway.ts';

/**
 * The few DOM shapes the page-side functions below use: this file compiles with Node's types only, and
 * playwright runs those functions in the page.
 */
interface PageElement {
  id: string;
  title: string;
  textContent: string | null;
  outerHTML: string;
  width: number;
  height: number;
  labels?: ArrayLike<PageElement> | null;
  getAttribute(name: string): string | null;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  };
}
declare const document: {
  getElementById(id: string): PageElement | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  activeElement: PageElement | null;
  body: PageElement;
};
declare const window: { medsegLatencies: number[] };

const XRAY = join(SAMPLES, 'xray-lungs', 'images', '1.jpg');
const XRAY_MASK = join(SAMPLES, 'xray-lungs', 'masks', '1-mask.png');
/** The box of the lung on the image's left (the patient's right), in image pixels. */
const LUNG_BOX = { x0: 58, y0: 43, x1: 239, y1: 388 };
/** Generous: the suite runs on two busy cores. */
const WAIT_MS = 120_000;

/** Every request the page makes, to check that none leaves the gateway's origin. */
function recordRequests(page: Page): string[] {
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  return urls;
}

function assertSameOrigin(urls: string[], origin: string): void {
  const foreign = urls.filter(
    (u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'),
  );
  assert.deepEqual(foreign, [], 'the page requested something outside the gateway');
}

/** The overlay read back from the page: 1 where any mask pixel is painted, 0 elsewhere. */
async function overlayMask(page: Page): Promise<Uint8Array> {
  const bits = await page.evaluate(() => {
    const c = document.getElementById('overlay')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 3; i < d.length; i += 4) s += d[i] > 0 ? '1' : '0';
    return s;
  });
  return Uint8Array.from(bits, (ch) => (ch === '1' ? 1 : 0));
}

/** Waits until the app has shown `n` prompt results (each prompt pushes one latency figure). */
async function waitForPrompts(page: Page, n: number): Promise<void> {
  await page.waitForFunction((want) => window.medsegLatencies.length >= want, n, { timeout: WAIT_MS });
  await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
}

/** Screen position of an image pixel on the prompt layer. */
async function screenPoint(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const box = await page.locator('#prompt-layer').boundingBox();
  assert.ok(box, 'the prompt layer is on screen');
  const [w, h] = await page.evaluate(() => {
    const c = document.getElementById('overlay')!;
    return [c.width, c.height];
  });
  return { x: box.x + (x / w) * box.width, y: box.y + (y / h) * box.height };
}

async function dragBox(page: Page, b: typeof LUNG_BOX): Promise<void> {
  const a = await screenPoint(page, b.x0, b.y0);
  const z = await screenPoint(page, b.x1, b.y1);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move((a.x + z.x) / 2, (a.y + z.y) / 2, { steps: 4 });
  await page.mouse.move(z.x, z.y, { steps: 4 });
  await page.mouse.up();
}

async function apiMask(url: string, image: string, box: typeof LUNG_BOX): Promise<Uint8Array> {
  const r = await gql<{
    segment: { results: Array<{ masks: Array<{ rle: { size: number[]; counts: string } }> }> };
  }>(
    url,
    `query ($b64: String!, $box: BoxInput!) {
      segment(input: { image: { encoded: { base64: $b64 } }, prompts: [{ box: $box }] }) {
        results { masks { rle { size counts } } }
      }
    }`,
    { b64: image, box },
  );
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  const rle = r.data!.segment.results[0].masks[0].rle;
  return decodeRle({ size: [rle.size[0], rle.size[1]], counts: rle.counts }).data;
}

function differing(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('web app in Chromium', () => {
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

  test('segment view: box on the right lung, overlay equals the API mask; negative point, undo, candidates, RLE export', async () => {
    const page = await browser.context.newPage();
    const urls = recordRequests(page);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${gw.url}/`);
    await page.setInputFiles('#file', XRAY);
    await page.waitForSelector('#prompt-layer', { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });

    await dragBox(page, LUNG_BOX);
    await waitForPrompts(page, 1);
    const drawn = JSON.parse(
      (await page.locator('svg rect.box').getAttribute('data-box')) ?? 'null',
    ) as typeof LUNG_BOX;
    for (const k of ['x0', 'y0', 'x1', 'y1'] as const)
      assert.ok(Math.abs(drawn[k] - LUNG_BOX[k]) <= 1, `box ${k}: drew ${drawn[k]}, meant ${LUNG_BOX[k]}`);

    const overlay = await overlayMask(page);
    const expected = await apiMask(gw.url, readFileSync(XRAY).toString('base64'), drawn);
    const truthPng = decodePng(new Uint8Array(readFileSync(XRAY_MASK)), 1 << 24);
    const truth = Uint8Array.from({ length: truthPng.width * truthPng.height }, (_, i) =>
      truthPng.data[i * truthPng.channels] > 127 ? 1 : 0,
    );
    // The ground truth holds both lungs; the box prompts one, so Dice against it is about one half.
    const diceOverlay = dice(overlay, truth);
    const diceApi = dice(expected, truth);
    assert.equal(differing(overlay, expected), 0, 'the overlay is the API mask, pixel for pixel');
    assert.equal(diceOverlay, diceApi);
    assert.ok(diceOverlay > 0.3, `Dice of the box mask against both lungs: ${diceOverlay}`);
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'segment-box.png') });

    // Candidates: one button each with its predicted IoU and stability; a digit switches in one keypress.
    const candidates = page.locator('button.candidate');
    const count = await candidates.count();
    assert.ok(count >= 1, 'candidates are listed');
    const label = ((await candidates.first().textContent()) ?? '').replace(/\s+/g, ' ');
    assert.match(label, /IoU \d\.\d{3} · stability \d\.\d{3}/);
    if (count >= 2) {
      await page.keyboard.press('2');
      assert.equal(await candidates.nth(1).getAttribute('aria-pressed'), 'true');
      await page.keyboard.press('1');
      assert.equal(await candidates.nth(0).getAttribute('aria-pressed'), 'true');
    }
    assert.equal(differing(await overlayMask(page), expected), 0, 'candidate 1 again: the first mask');

    // A negative point inside the box (shift-click), then z undoes it.
    const neg = await screenPoint(page, 150, 220);
    await page.keyboard.down('Shift');
    await page.mouse.click(neg.x, neg.y);
    await page.keyboard.up('Shift');
    await waitForPrompts(page, 2);
    assert.equal(await page.locator('svg circle.neg').count(), 1, 'the negative point is drawn');
    await page.keyboard.press('z');
    assert.equal(await page.locator('svg circle.neg').count(), 0, 'undo removed the point');
    assert.equal(differing(await overlayMask(page), expected), 0, 'undo restored the box mask');

    // Export RLE JSON: it decodes to the same mask.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-rle')]);
    const file = join(TEST_OUTPUT_DIR, 'export-masks.json');
    await download.saveAs(file);
    const exported = JSON.parse(readFileSync(file, 'utf8')) as {
      objects: Array<{ label: string; rle: { size: number[]; counts: string } }>;
    };
    assert.equal(exported.objects.length, 1);
    const rle = exported.objects[0].rle;
    assert.equal(
      differing(decodeRle({ size: [rle.size[0], rle.size[1]], counts: rle.counts }).data, expected),
      0,
    );

    // Esc resets the object.
    await page.keyboard.press('Escape');
    assert.equal(
      differing(await overlayMask(page), new Uint8Array(expected.length)),
      0,
      'reset clears the overlay',
    );

    const latencies = await page.evaluate(() => window.medsegLatencies);
    console.log(
      `click-to-overlay (reference model, decoded in the browser): ${latencies.map((m) => Math.round(m)).join(', ')} ms`,
    );
    assert.deepEqual(errors, []);
    assertSameOrigin(urls, gw.url);
    await page.close();
  });

  test('a TIFF upload: the X-ray rewritten as an uncompressed TIFF gives the overlay the API gives for the same bytes', async () => {
    // Made here from the sample's decoded pixels, so the TIFF path of the page is what is tested.
    const xray = decodeImage(new Uint8Array(readFileSync(XRAY)), 'image/jpeg');
    const tiff = makeTiff({
      width: xray.width,
      height: xray.height,
      bits: 8,
      samplesPerPixel: xray.channels === 3 ? 3 : 1,
      photometric: xray.channels === 3 ? 2 : 1,
      samples: Array.from(xray.data),
    });
    const file = join(TEST_OUTPUT_DIR, 'xray-1.tif');
    writeFileSync(file, tiff);
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${gw.url}/`);
    await page.setInputFiles('#file', file);
    await page.waitForSelector('#prompt-layer', { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    await dragBox(page, LUNG_BOX);
    await waitForPrompts(page, 1);
    const drawn = JSON.parse(
      (await page.locator('svg rect.box').getAttribute('data-box')) ?? 'null',
    ) as typeof LUNG_BOX;
    const expected = await apiMask(gw.url, Buffer.from(tiff).toString('base64'), drawn);
    assert.ok(
      expected.some((v) => v === 1),
      'the API segments something in the box',
    );
    assert.equal(differing(await overlayMask(page), expected), 0, 'the TIFF overlay is the API mask');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('DICOM with a CT window preset and a NIfTI slice: the overlay equals the API mask for the same input', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${gw.url}/`);
    const ct = join(SAMPLES, 'dicom', 'small-ct-mr', 'CT_small.dcm');
    await page.setInputFiles('#file', ct);
    await page.waitForSelector('#prompt-layer', { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    await page.selectOption('.window select', 'CT_BONE');
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    await page.waitForFunction(
      () => (document.querySelector('.status')?.textContent ?? '').includes('Encoded'),
      null,
      {
        timeout: WAIT_MS,
      },
    );
    const box = { x0: 30, y0: 30, x1: 100, y1: 100 };
    await dragBox(page, box);
    await waitForPrompts(page, 1);
    const drawn = JSON.parse(
      (await page.locator('svg rect.box').getAttribute('data-box')) ?? 'null',
    ) as typeof box;
    const r = await gql<{
      segment: { results: Array<{ masks: Array<{ rle: { size: number[]; counts: string } }> }> };
    }>(
      gw.url,
      `query ($b64: String!, $box: BoxInput!) {
        segment(input: { image: { dicom: { base64: $b64, window: { preset: CT_BONE } } }, prompts: [{ box: $box }] }) {
          results { masks { rle { size counts } } }
        }
      }`,
      { b64: readFileSync(ct).toString('base64'), box: drawn },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const rle = r.data!.segment.results[0].masks[0].rle;
    const expected = decodeRle({ size: [rle.size[0], rle.size[1]], counts: rle.counts }).data;
    assert.equal(differing(await overlayMask(page), expected), 0, 'the DICOM overlay is the API mask');
    assert.equal(await page.locator('button', { hasText: 'Export DICOM SEG' }).count(), 1);
    const [seg] = await Promise.all([
      page.waitForEvent('download', { timeout: WAIT_MS }),
      page.click('button:has-text("Export DICOM SEG")'),
    ]);
    const segFile = join(TEST_OUTPUT_DIR, 'export-seg.dcm');
    await seg.saveAs(segFile);
    assert.equal(readFileSync(segFile).subarray(128, 132).toString('latin1'), 'DICM', 'a DICOM Part 10 file');

    // Window by dragging: 100 px to the right widens the bone window by 2^0.5, then it is applied.
    await page.click('#window-drag');
    const from = await screenPoint(page, 60, 60);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(from.x + 100, from.y, { steps: 5 });
    await page.mouse.up();
    await page.waitForSelector('label:has-text("Width") input', { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    assert.equal(
      await page.locator('label:has-text("Width") input').inputValue(),
      String(Math.round(1800 * 2 ** 0.5)),
    );
    assert.equal(await page.locator('label:has-text("Centre") input').inputValue(), '400');
    await page.click('#window-drag');

    // NIfTI: the slice picker knows the volume's depth and starts in the middle.
    await page.setInputFiles('#file', join(SAMPLES, 'nifti', 'tiny-mri-fixture', 'anatomical.nii'));
    await page.waitForFunction(
      () => (document.querySelector('.status')?.textContent ?? '').includes('33×41'),
      null,
      {
        timeout: WAIT_MS,
      },
    );
    const slice = page.locator('label:has-text("Slice") input');
    assert.equal(await slice.getAttribute('max'), '24');
    assert.equal(await slice.inputValue(), '12');
    await page.close();
  });

  test('accessibility: named controls, focus order follows the page, overlay colours contrast', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${gw.url}/`);
    await page.setInputFiles('#file', XRAY);
    await page.waitForSelector('#prompt-layer', { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('button, input, select, textarea, [role="application"]')]
        .filter((e) => {
          const labelled = e.labels?.length
            ? Array.from(e.labels).some((l) => (l.textContent ?? '').trim() !== '')
            : false;
          return !(e.getAttribute('aria-label') || labelled || (e.textContent ?? '').trim() || e.title);
        })
        .map((e) => e.outerHTML.slice(0, 80)),
    );
    assert.deepEqual(unnamed, [], 'every control has an accessible name');

    // Tab through the page: focus visits controls in document order, starting with the navigation.
    const order: number[] = [];
    const names: string[] = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const at = await page.evaluate(() => {
        const all = [...document.querySelectorAll('*')];
        const el = document.activeElement ?? document.body;
        const name = el.getAttribute('aria-label') || el.id || el.textContent?.trim() || '';
        return { index: el === document.body ? -1 : all.indexOf(el), name };
      });
      // Past the last control focus leaves the page (back to the body or the browser's own UI).
      if (at.index < 0 || order.includes(at.index)) break;
      order.push(at.index);
      names.push(at.name);
    }
    for (let i = 1; i < order.length; i++)
      assert.ok(order[i] > order[i - 1], `focus went backwards at step ${i}: ${names.join(' > ')}`);
    for (const want of ['file', 'model', 'export-rle', 'New object'])
      assert.ok(names.includes(want), `${want} is reachable by keyboard: ${names.join(' > ')}`);

    // Overlay outlines are opaque palette colours; each stands out from a black background (WCAG non-text
    // contrast 3:1) and from mid grey tissue by a visible margin.
    for (const c of PALETTE) {
      assert.ok(contrastRatio(c, [0, 0, 0]) >= 3, `${c} on black: ${contrastRatio(c, [0, 0, 0]).toFixed(2)}`);
      assert.ok(
        contrastRatio(c, [90, 90, 90]) >= 1.8,
        `${c} on grey: ${contrastRatio(c, [90, 90, 90]).toFixed(2)}`,
      );
    }
    await page.close();
  });

  test('several objects: each its own colour and label; README screenshot on a synthetic phantom', async () => {
    // No noise keeps the committed README screenshot (web/docs/segment-view.png, copied from here) small.
    const phantom = generatePhantom({ seed: 7, width: 384, height: 384, noiseSigma: 0 });
    const file = join(TEST_OUTPUT_DIR, 'phantom.png');
    writeFileSync(file, encodePng(phantom.image));
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1100, height: 600 });
    await page.goto(`${gw.url}/`);
    await page.setInputFiles('#file', file);
    await page.waitForSelector('#prompt-layer', { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    const bounds = (m: { width: number; height: number; data: Uint8Array }) => {
      let [x0, y0, x1, y1] = [m.width, m.height, 0, 0];
      for (let y = 0; y < m.height; y++)
        for (let x = 0; x < m.width; x++)
          if (m.data[y * m.width + x])
            [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x + 1), Math.max(y1, y + 1)];
      return { x0, y0, x1, y1 };
    };
    const [first, second] = [phantom.objects[0].mask, phantom.objects[1].mask];
    const b1 = bounds(first);
    await dragBox(page, { x0: b1.x0 - 4, y0: b1.y0 - 4, x1: b1.x1 + 4, y1: b1.y1 + 4 });
    await waitForPrompts(page, 1);
    assert.ok(dice(await overlayMask(page), first.data) > 0.5, 'the first object is segmented');

    await page.click('button:has-text("New object")');
    await page.fill('input[aria-label="Label of object 2"]', 'ellipse');
    await page.locator('input[aria-label="Label of object 2"]').dispatchEvent('change');
    const b2 = bounds(second);
    await dragBox(page, { x0: b2.x0 - 4, y0: b2.y0 - 4, x1: b2.x1 + 4, y1: b2.y1 + 4 });
    await waitForPrompts(page, 2);
    const both = await overlayMask(page);
    const union = Uint8Array.from(first.data, (v, i) => v | second.data[i]);
    assert.ok(dice(both, union) > 0.5, 'both objects are on the overlay');
    // Each object is painted in its own palette colour: read the outline colours back.
    const colours = await page.evaluate(() => {
      const c = document.getElementById('overlay')!;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set<string>();
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] === 255) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
      return [...seen];
    });
    assert.deepEqual(colours.sort(), [PALETTE[0].join(','), PALETTE[1].join(',')].sort());
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-rle')]);
    await download.saveAs(join(TEST_OUTPUT_DIR, 'phantom-masks.json'));
    const exported = JSON.parse(readFileSync(join(TEST_OUTPUT_DIR, 'phantom-masks.json'), 'utf8')) as {
      objects: Array<{ label: string }>;
    };
    assert.deepEqual(
      exported.objects.map((o) => o.label),
      ['object 1', 'ellipse'],
    );
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'segment-view-phantom.png') });
    await page.close();
  });

  test('GraphQL IDE at /graphql: bundled, runs a query, introspects the schema, stays on the origin', async () => {
    const html = await fetch(`${gw.url}/graphql`, { headers: { accept: 'text/html' } });
    assert.equal(html.status, 200);
    const text = await html.text();
    assert.match(text, /GraphQL IDE/);
    assert.doesNotMatch(text, /https?:\/\//, 'the IDE page names no external URL');
    const page = await browser.context.newPage();
    const urls = recordRequests(page);
    await page.goto(`${gw.url}/graphql`);
    await page.waitForFunction(
      () => document.getElementById('schema')?.textContent?.includes('type Query'),
      null,
      {
        timeout: WAIT_MS,
      },
    );
    await page.fill('#query', '{ models { name ready } }');
    await page.click('#run');
    await page.waitForFunction(
      () => document.getElementById('result')?.textContent?.includes('"models"'),
      null,
      {
        timeout: WAIT_MS,
      },
    );
    assertSameOrigin(urls, gw.url);
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'graphql-ide.png') });
    await page.close();
  });
});
