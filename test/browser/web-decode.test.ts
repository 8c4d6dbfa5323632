/**
 * Decoding in the browser (onnxruntime-web) against a real gateway serving the real model (mobilesam): the
 * chest X-ray's lung box decoded in Chromium gives the mask the API gives, refinement with a point stays in
 * the browser, the switch sends prompts to the gateway, and a browser without WebAssembly falls back to the
 * gateway. Also the gateway side: the decoder file and the fp16 embedding, their roles and bad inputs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { decodeRle } from '../../gateway/src/core/rle.ts';
import { decodePng } from '../../gateway/src/imaging/decode-png.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { ensureWebApp } from '../../web/build.ts';
import { launchChromium, TEST_OUTPUT_DIR, type TestBrowser } from '../helpers/browser.ts';
import { dice } from '../helpers/dice.ts';
import { errorCode, gql, REPO_ROOT, SAMPLES, startTestGateway } from '../helpers/gateway.ts';

interface PageCanvas {
  width: number;
  height: number;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  };
}
declare const document: { getElementById(id: string): PageCanvas | null };
declare const window: { medsegDecodes: Array<{ path: string; ms: number }> };

const XRAY = join(SAMPLES, 'xray-lungs', 'images', '1.jpg');
const XRAY_MASK = join(SAMPLES, 'xray-lungs', 'masks', '1-mask.png');
const LUNG_BOX = { x0: 58, y0: 43, x1: 239, y1: 388 };
/** Generous: the real encoder on two busy cores. */
const WAIT_MS = 300_000;

async function overlayMask(page: Page): Promise<Uint8Array> {
  const bits = await page.evaluate(() => {
    const c = document.getElementById('overlay')!;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 3; i < d.length; i += 4) s += d[i] > 0 ? '1' : '0';
    return s;
  });
  return Uint8Array.from(bits, (ch) => (ch === '1' ? 1 : 0));
}

async function waitForDecodes(page: Page, n: number): Promise<Array<{ path: string; ms: number }>> {
  await page.waitForFunction((want) => window.medsegDecodes.length >= want, n, { timeout: WAIT_MS });
  await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
  return page.evaluate(() => window.medsegDecodes);
}

async function screenPoint(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const box = await page.locator('#prompt-layer').boundingBox();
  assert.ok(box);
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

async function drawnBox(page: Page): Promise<typeof LUNG_BOX> {
  return JSON.parse(
    (await page.locator('svg rect.box').getAttribute('data-box')) ?? 'null',
  ) as typeof LUNG_BOX;
}

/** The API's best mask for the box (and points) on the X-ray, decoded. */
async function apiMask(
  url: string,
  box: typeof LUNG_BOX,
  points: Array<{ x: number; y: number; positive: boolean }> = [],
): Promise<Uint8Array> {
  const r = await gql<{
    segment: { results: Array<{ masks: Array<{ rle: { size: number[]; counts: string } }> }> };
  }>(
    url,
    `query ($b64: String!, $box: BoxInput!, $points: [PointInput!]) {
      segment(input: { image: { encoded: { base64: $b64 } }, prompts: [{ box: $box, points: $points }] }) {
        results { masks { rle { size counts } } }
      }
    }`,
    { b64: readFileSync(XRAY).toString('base64'), box, points },
  );
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  const rle = r.data!.segment.results[0].masks[0].rle;
  return decodeRle({ size: [rle.size[0], rle.size[1]], counts: rle.counts }).data;
}

function truthMask(): Uint8Array {
  const png = decodePng(new Uint8Array(readFileSync(XRAY_MASK)), 1 << 24);
  return Uint8Array.from({ length: png.width * png.height }, (_, i) =>
    png.data[i * png.channels] > 127 ? 1 : 0,
  );
}

async function openXray(page: Page, origin: string): Promise<string[]> {
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  await page.goto(`${origin}/`);
  await page.setInputFiles('#file', XRAY);
  await page.waitForSelector('#prompt-layer', { timeout: WAIT_MS });
  await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
  return urls;
}

describe('browser-side decoding in Chromium (real model)', () => {
  let gw: RunningGateway;
  let browser: TestBrowser;

  before(async () => {
    await ensureWebApp();
    gw = await startTestGateway({ defaultModel: 'mobilesam' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
  });

  test('the gateway hands out the decoder file and the fp16 embedding; bad ids and models are typed errors', async () => {
    const d = await gql<{
      browserDecoder: { decoder: string; sha256: string; onnx: string; inputSize: number } | null;
      ref: { decoder: string } | null;
    }>(
      gw.url,
      'query { browserDecoder(model: "mobilesam") { decoder sha256 onnx inputSize } ref: browserDecoder(model: "sam_reference") { decoder } }',
    );
    assert.equal(d.errors, undefined, JSON.stringify(d.errors));
    const dec = d.data!.browserDecoder!;
    assert.equal(dec.decoder, 'mobilesam_decoder');
    assert.equal(dec.inputSize, 1024);
    const file = readFileSync(join(REPO_ROOT, 'triton-models', 'mobilesam_decoder', '1', 'model.onnx'));
    assert.equal(dec.sha256, createHash('sha256').update(file).digest('hex'));
    assert.ok(
      Buffer.from(dec.onnx, 'base64').equals(file),
      'the file is the repository decoder, byte for byte',
    );

    const unknown = await gql(gw.url, 'query { browserDecoder(model: "no_such_model") { decoder } }');
    assert.equal(errorCode(unknown), 'MODEL_NOT_FOUND');

    const enc = await gql<{ encodeImage: { id: string } }>(
      gw.url,
      'mutation ($b64: String!) { encodeImage(image: { encoded: { base64: $b64 } }) { id } }',
      { b64: readFileSync(XRAY).toString('base64') },
    );
    const id = enc.data!.encodeImage.id;
    const t = await gql<{ embeddingTensor: { shape: number[]; fp16: string; width: number } | null }>(
      gw.url,
      'query ($id: ID!) { embeddingTensor(id: $id) { shape fp16 width } }',
      { id },
    );
    const tensor = t.data!.embeddingTensor!;
    assert.deepEqual(tensor.shape, [1, 256, 64, 64]);
    assert.equal(Buffer.from(tensor.fp16, 'base64').length, 256 * 64 * 64 * 2, 'fp16: two bytes a value');
    const gone = await gql<{ embeddingTensor: null }>(
      gw.url,
      'query { embeddingTensor(id: "not-an-embedding") { fp16 } }',
    );
    assert.equal(gone.errors, undefined);
    assert.equal(gone.data!.embeddingTensor, null);
  });

  test('a box and a point decode in the browser as on the gateway; the switch and a browser without WebAssembly use the gateway', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const urls = await openXray(page, gw.url);
    await page.waitForSelector('#decode-path[data-path="browser"]', { timeout: WAIT_MS });

    await dragBox(page, LUNG_BOX);
    let decodes = await waitForDecodes(page, 1);
    assert.equal(decodes[0].path, 'browser');
    const box = await drawnBox(page);
    const local = await overlayMask(page);
    const remote = await apiMask(gw.url, box);
    const truth = truthMask();
    // Same model, same inputs; WebAssembly and native kernels round differently, so near-identical masks.
    const agreement = dice(local, remote);
    assert.ok(agreement > 0.99, `browser vs gateway mask Dice ${agreement}`);
    assert.ok(
      Math.abs(dice(local, truth) - dice(remote, truth)) < 0.01,
      `Dice against the ground truth: browser ${dice(local, truth)}, gateway ${dice(remote, truth)}`,
    );
    assert.ok(dice(local, truth) > 0.5, `the right lung against both lungs: ${dice(local, truth)}`);
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'segment-browser-decoding.png') });

    // A positive point refines with the previous mask's logits, still in the browser.
    const p = await screenPoint(page, 150, 200);
    await page.mouse.click(p.x, p.y);
    decodes = await waitForDecodes(page, 2);
    assert.equal(decodes[1].path, 'browser');
    assert.ok(dice(await overlayMask(page), local) > 0.9, 'a point inside the lung keeps the lung');

    // The switch: prompts go to the gateway, and the overlay is the API's mask pixel for pixel.
    await page.uncheck('#decode-browser');
    await page.waitForSelector('#decode-path[data-path="server"]', { timeout: WAIT_MS });
    // Focus is on the switch, where keys are for the field: the Reset button clears the object.
    await page.click('button[title="Esc"]');
    await dragBox(page, LUNG_BOX);
    decodes = await waitForDecodes(page, 3);
    assert.equal(decodes[2].path, 'server');
    const serverOverlay = await overlayMask(page);
    assert.equal(dice(serverOverlay, await apiMask(gw.url, await drawnBox(page))), 1);

    const foreign = urls.filter((u) => !u.startsWith(gw.url) && !/^(data|blob):/.test(u));
    assert.deepEqual(foreign, [], 'everything, the WebAssembly runtime included, comes from the gateway');
    assert.ok(urls.some((u) => u.endsWith('/assets/ort-wasm-simd-threaded.wasm')));
    assert.deepEqual(errors, []);
    console.log(
      `click-to-overlay, mobilesam: ${decodes.map((d) => `${d.path} ${Math.round(d.ms)} ms`).join(', ')}`,
    );
    await page.close();

    // Without WebAssembly (as a browser policy can leave it) the app decodes on the gateway.
    const fallback = await browser.context.newPage();
    await fallback.addInitScript(() => {
      delete (globalThis as { WebAssembly?: unknown }).WebAssembly;
    });
    await openXray(fallback, gw.url);
    await fallback.waitForSelector('#decode-path[data-path="server"]', { timeout: WAIT_MS });
    assert.match((await fallback.locator('#decode-path').textContent()) ?? '', /decoding on the gateway/i);
    assert.equal(await fallback.locator('#decode-browser').isChecked(), false);
    await dragBox(fallback, LUNG_BOX);
    const fd = await waitForDecodes(fallback, 1);
    assert.equal(fd[0].path, 'server');
    assert.equal(dice(await overlayMask(fallback), await apiMask(gw.url, await drawnBox(fallback))), 1);
    await fallback.close();
  });
});
