/**
 * PACS browsing and storing from the web app against a real Orthanc (DICOMweb plugin): the gateway's QIDO-RS
 * queries (studies, series, instances) and their bad inputs; in Chromium, search the PACS, open a CT slice
 * picked from its series, segment it with a box, and store the DICOM SEG back on the PACS, where QIDO-RS
 * finds it and WADO-RS returns the overlay's mask.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { decodeRle } from '../../gateway/src/core/rle.ts';
import {
  readDicomSeg,
  SEGMENTATION_STORAGE_SOP_CLASS_UID,
  segSourceFromDicom,
} from '../../gateway/src/imaging/dicom-seg.ts';
import { DicomWebClient, dicomJsonString } from '../../gateway/src/imaging/dicomweb-client.ts';
import { maskBox } from '../../gateway/src/sam/propagation.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { ensureWebApp } from '../../web/build.ts';
import { launchChromium, TEST_OUTPUT_DIR, type TestBrowser } from '../helpers/browser.ts';
import { dice } from '../helpers/dice.ts';
import { errorCode, gql, REPO_ROOT, startTestGateway } from '../helpers/gateway.ts';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.ts';

interface PageCanvas {
  textContent: string | null;
  width: number;
  height: number;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  };
}
declare const document: { getElementById(id: string): PageCanvas | null };
declare const window: { medsegLatencies: number[] };

const WAIT_MS = 180_000;
const ctDir = resolve(REPO_ROOT, '../shared/samples/dicom/ct-3slice-liver-seg');
const slices = ['01.dcm', '02.dcm', '03.dcm'].map((f) => new Uint8Array(readFileSync(resolve(ctDir, f))));
const refs = slices.map((s) => segSourceFromDicom(s).source);
const STUDY = refs[0].studyInstanceUid;
const SERIES = refs[0].seriesInstanceUid;
const liver = readDicomSeg(new Uint8Array(readFileSync(resolve(ctDir, 'liver.dcm'))));

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

describe('PACS browsing and storing from the web app (real Orthanc)', () => {
  let orthanc: OrthancHandle;
  let client: DicomWebClient;
  let gw: RunningGateway;
  let browser: TestBrowser;

  before(async () => {
    await ensureWebApp();
    orthanc = await startOrthanc();
    client = new DicomWebClient({ baseUrl: orthanc.dicomWebUrl, timeoutMs: 120_000 });
    assert.equal((await client.store(slices)).failed.length, 0);
    gw = await startTestGateway({ pacsEndpoints: { orthanc: { baseUrl: orthanc.dicomWebUrl } } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    await orthanc?.stop();
  });

  test('QIDO-RS through the gateway: studies, series, instances; bad inputs are typed errors', async () => {
    const studies = await gql<{
      pacsStudies: Array<{ studyUID: string; patientId: string | null; modalities: string[] }>;
    }>(gw.url, 'query { pacsStudies(pacs: "orthanc") { studyUID patientId modalities } }');
    assert.equal(studies.errors, undefined, JSON.stringify(studies.errors));
    assert.deepEqual(
      studies.data!.pacsStudies.map((s) => s.studyUID),
      [STUDY],
    );
    const patientId = dicomJsonString((await client.searchStudies())[0], '00100020');
    assert.equal(studies.data!.pacsStudies[0].patientId, patientId ?? null);
    assert.ok(studies.data!.pacsStudies[0].modalities.includes('CT'));

    const none = await gql<{ pacsStudies: unknown[] }>(
      gw.url,
      'query { pacsStudies(pacs: "orthanc", filter: { patientId: "NO-SUCH-PATIENT-4711" }) { studyUID } }',
    );
    assert.deepEqual(none.data!.pacsStudies, [], 'a filter that matches nothing finds nothing');

    const series = await gql<{ pacsSeries: Array<{ seriesUID: string; modality: string }> }>(
      gw.url,
      'query ($s: String!) { pacsSeries(pacs: "orthanc", studyUID: $s) { seriesUID modality } }',
      { s: STUDY },
    );
    assert.deepEqual(series.data!.pacsSeries, [{ seriesUID: SERIES, modality: 'CT' }]);

    const instances = await gql<{ pacsInstances: Array<{ instanceUID: string; rows: number }> }>(
      gw.url,
      'query ($s: String!, $r: String!) { pacsInstances(pacs: "orthanc", studyUID: $s, seriesUID: $r) { instanceUID rows } }',
      { s: STUDY, r: SERIES },
    );
    assert.deepEqual(
      new Set(instances.data!.pacsInstances.map((i) => i.instanceUID)),
      new Set(refs.map((r) => r.sopInstanceUid)),
    );

    const bad: Array<[string, string]> = [
      ['query { pacsStudies(pacs: "elsewhere") { studyUID } }', 'BAD_REQUEST'],
      ['query { pacsStudies(pacs: "orthanc", limit: 0) { studyUID } }', 'BAD_REQUEST'],
      ['query { pacsStudies(pacs: "orthanc", limit: 100000) { studyUID } }', 'BAD_REQUEST'],
      [
        'query { pacsStudies(pacs: "orthanc", filter: { patientName: "A\\\\B" }) { studyUID } }',
        'BAD_REQUEST',
      ],
      [
        `query { pacsStudies(pacs: "orthanc", filter: { patientName: "${'x'.repeat(65)}" }) { studyUID } }`,
        'BAD_REQUEST',
      ],
      ['query { pacsSeries(pacs: "orthanc", studyUID: "../../studies") { seriesUID } }', 'BAD_REQUEST'],
      [
        'query { pacsInstances(pacs: "orthanc", studyUID: "1.2", seriesUID: "1.2?x=1") { instanceUID } }',
        'BAD_REQUEST',
      ],
      ['query { pacsSeries(pacs: "orthanc", studyUID: "1.2.3.4.5") { seriesUID } }', 'NOT_FOUND'],
    ];
    for (const [query, code] of bad) {
      const r = await gql(gw.url, query);
      if (code === 'NOT_FOUND' && !r.errors) {
        // Orthanc answers an unknown study's series with an empty list rather than 404: also fine.
        assert.deepEqual((r.data as { pacsSeries: unknown[] }).pacsSeries, []);
        continue;
      }
      assert.equal(errorCode(r), code, `${query}: ${JSON.stringify(r.errors)}`);
    }
  });

  test('search, open a slice from the PACS, segment it, store the SEG back on the PACS', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${gw.url}/`);
    await page.waitForSelector('#pacs-browser', { timeout: WAIT_MS });
    await page.click('#pacs-browser summary');
    await page.click('#pacs-search button[type="submit"]');
    await page.click(`#pacs-studies tr[data-study="${STUDY}"] button`, { timeout: WAIT_MS });
    await page.click(`#pacs-series li[data-series="${SERIES}"] button`, { timeout: WAIT_MS });
    const target = refs[1];
    await page.click(`#pacs-instances li[data-instance="${target.sopInstanceUid}"] button`, {
      timeout: WAIT_MS,
    });
    await page.waitForSelector('#prompt-layer', { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    assert.equal(await page.locator('#store-seg').count(), 1, 'an image from a PACS can be stored back');

    // The box of the liver on this slice, drawn on the image.
    const truth = liver.frames.find((f) => f.sourceSopInstanceUids.includes(target.sopInstanceUid))!.mask;
    const b = maskBox(truth).box!;
    const box = { x0: b[0], y0: b[1], x1: b[2] + 1, y1: b[3] + 1 };
    const layer = (await page.locator('#prompt-layer').boundingBox())!;
    const at = (x: number, y: number) => ({
      x: layer.x + (x / truth.width) * layer.width,
      y: layer.y + (y / truth.height) * layer.height,
    });
    await page.mouse.move(at(box.x0, box.y0).x, at(box.x0, box.y0).y);
    await page.mouse.down();
    await page.mouse.move(at(box.x1, box.y1).x, at(box.x1, box.y1).y, { steps: 6 });
    await page.mouse.up();
    await page.waitForFunction(() => window.medsegLatencies.length >= 1, null, { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    const overlay = await overlayMask(page);
    const drawn = JSON.parse(
      (await page.locator('svg rect.box').getAttribute('data-box')) ?? 'null',
    ) as typeof box;

    // The API's mask for the same PACS instance and box.
    const r = await gql<{
      segment: { results: Array<{ masks: Array<{ rle: { size: [number, number]; counts: string } }> }> };
    }>(
      gw.url,
      `query ($i: ImageInput!, $b: BoxInput!) {
        segment(input: { image: $i, prompts: [{ box: $b }] }) { results { masks { rle { size counts } } } }
      }`,
      {
        i: {
          dicomweb: {
            pacs: 'orthanc',
            studyUID: STUDY,
            seriesUID: SERIES,
            instanceUID: target.sopInstanceUid,
          },
        },
        b: drawn,
      },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const api = decodeRle(r.data!.segment.results[0].masks[0].rle).data;
    assert.ok(dice(overlay, api) > 0.99, `overlay vs API mask Dice ${dice(overlay, api)}`);
    assert.ok(
      overlay.some((v) => v === 1),
      'a mask is shown',
    );

    await page.click('#store-seg');
    await page.waitForFunction(
      () => /Stored the SEG on orthanc as [0-9.]+/.test(document.getElementById('app')!.textContent ?? ''),
      null,
      { timeout: WAIT_MS },
    );
    const status = (await page.locator('.segment .status').textContent()) ?? '';
    const uid = /as ([0-9.]+)\./.exec(status)?.[1];
    assert.ok(uid, status);
    await page.screenshot({ path: `${TEST_OUTPUT_DIR}/segment-pacs.png`, fullPage: true });

    // On the PACS: a SEG instance in the study whose one frame is the overlay's mask over the slice.
    const segSeries = (await client.searchSeries(STUDY)).map((s) => dicomJsonString(s, '0020000E')!);
    let found: Uint8Array | undefined;
    for (const s of segSeries) {
      for (const i of await client.searchInstances(STUDY, s)) {
        if (dicomJsonString(i, '00080018') !== uid) continue;
        assert.equal(dicomJsonString(i, '00080016'), SEGMENTATION_STORAGE_SOP_CLASS_UID);
        found = await client.retrieveInstance(STUDY, s, uid);
      }
    }
    assert.ok(found, `the stored SEG ${uid} is on the PACS`);
    const seg = readDicomSeg(found);
    assert.equal(seg.frames.length, 1);
    assert.deepEqual(seg.frames[0].sourceSopInstanceUids, [target.sopInstanceUid]);
    assert.equal(dice(seg.frames[0].mask.data, overlay), 1, 'the stored mask is the overlay');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
