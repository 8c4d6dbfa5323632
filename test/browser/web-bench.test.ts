/**
 * The benchmarks and models views in Chromium against a real gateway with a data root: register a synthetic
 * dataset, start two small jobs from the dashboard, watch progress events arrive over graphql-ws, open a
 * report, compare the jobs per target; the models view lists the served models with readiness and profile.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { ensureWebApp } from '../../web/build.ts';
import { launchChromium, TEST_OUTPUT_DIR, type TestBrowser } from '../helpers/browser.ts';
import { gql, startTestGateway } from '../helpers/gateway.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';

const WAIT_MS = Number(process.env.WAIT_MS ?? 180_000);

async function startJob(page: Page): Promise<string> {
  const before = await page.locator('#jobs tbody tr').count();
  await page.click('#job-start');
  const alert = page.locator('.bench [role="alert"]');
  if (await alert.count()) assert.fail(`the dashboard shows an error: ${await alert.textContent()}`);
  await page.waitForFunction((n) => document.querySelectorAll('#jobs tbody tr').length > n, before, {
    timeout: WAIT_MS,
  });
  const id = await page.locator('#jobs tbody tr').first().getAttribute('data-job');
  assert.ok(id);
  await page.waitForSelector(`#jobs tr[data-job="${id}"][data-status="completed"]`, { timeout: WAIT_MS });
  return id;
}

declare const document: { querySelectorAll(s: string): { length: number } };

describe('benchmarks and models views in Chromium', () => {
  let gw: RunningGateway;
  let browser: TestBrowser;
  const root = mkdtempSync(join(tmpdir(), 'medseg-web-bench-'));

  before(async () => {
    await ensureWebApp();
    writeSyntheticDataset({
      dir: join(root, 'synthetic'),
      images: 2,
      width: 96,
      height: 72,
      classes: { 100: 'left', 200: 'right' },
      seed: 5,
      writeJson: true,
    });
    gw = await startTestGateway({ dataRoots: [root] });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('register, run two jobs with live progress, open a report, compare per target', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(`${gw.url}/`);
    await page.click('#tab-bench');
    await page.waitForSelector('.bench[data-loaded="true"]', { timeout: WAIT_MS });
    await page.fill('#ds-path', 'synthetic');
    await page.fill('#ds-id', 'synth');
    await page.fill('#ds-modality', 'MRI');
    await page.click('#register button[type="submit"]');
    await page.waitForSelector('#job-dataset option[value="synth"]', { state: 'attached', timeout: WAIT_MS });
    assert.match((await page.locator('.bench .status').textContent()) ?? '', /2 images, 4 objects/);

    // Default strategies S2 and S5, on the reference model (fast; the dashboard offers every ready model).
    await page.waitForSelector('input[name="model"][value="sam_reference"]', { timeout: WAIT_MS });
    for (const box of await page.locator('input[name="model"]').all()) await box.uncheck();
    await page.check('input[name="model"][value="sam_reference"]');
    const a = await startJob(page);
    const row = page.locator(`#jobs tr[data-job="${a}"]`);
    const events = Number(await row.getAttribute('data-events'));
    assert.ok(events >= 2, `progress events arrived over graphql-ws: ${events}`);
    assert.ok(
      sockets.some((u) => u === `${gw.url.replace('http', 'ws')}/graphql`),
      `a WebSocket to the gateway: ${sockets.join(', ')}`,
    );
    assert.match((await row.textContent()) ?? '', /8\/8/, '2 objects per image × 2 images × 2 strategies');

    await page.click(`button[aria-label="Report of job ${a.slice(0, 8)}"]`);
    const frame = page.frameLocator('iframe.report');
    await frame.locator('text=Dice').first().waitFor({ timeout: WAIT_MS });

    const b = await startJob(page);
    await page.selectOption('#cmp-a', a);
    await page.selectOption('#cmp-b', b);
    await page.click('#cmp-run');
    await page.waitForSelector('#comparison tbody tr', { timeout: WAIT_MS });
    const targets = await page.locator('#comparison tbody th').allTextContents();
    assert.ok(
      targets.includes('left') && targets.includes('right'),
      `per-target rows: ${targets.join(', ')}`,
    );
    // The same dataset, models, strategies and seed: every delta is zero.
    for (const d of await page.locator('#comparison td.delta').allTextContents())
      assert.equal(d.trim(), '+0.0');
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'benchmarks.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('two models of one job side by side: per-target Dice and delta as the API reports them', async () => {
    // The dataset the first test registered, or registered here when this test runs alone.
    await gql(
      gw.url,
      'mutation { registerDataset(input: { path: "synthetic", id: "synth-models", modality: "MRI" }) { id } }',
    );
    const started = await gql<{ startBenchmark: { id: string } }>(
      gw.url,
      `mutation { startBenchmark(input: { dataset: "synth-models", models: ["sam_reference", "mobilesam"],
        strategies: [S2], mode: FAITHFUL }) { id } }`,
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const id = started.data!.startBenchmark.id;
    const deadline = Date.now() + WAIT_MS;
    let status = '';
    while (Date.now() < deadline) {
      const j = await gql<{ benchmark: { status: string } }>(
        gw.url,
        'query ($id: ID!) { benchmark(id: $id) { status } }',
        { id },
      );
      status = j.data!.benchmark.status;
      if (status === 'completed' || status === 'failed' || status === 'cancelled') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(status, 'completed');
    const results = await gql<{
      benchmark: {
        results: Array<{ model: string; target: string; selection: string; dice: { mean: number | null } }>;
      };
    }>(
      gw.url,
      'query ($id: ID!) { benchmark(id: $id) { results(scope: "target") { model target selection dice { mean } } } }',
      { id },
    );
    const diceOf = (model: string, target: string, selection: string) =>
      results.data!.benchmark.results.find(
        (r) => r.model === model && r.target === target && r.selection === selection,
      )!.dice.mean!;

    const page = await browser.context.newPage();
    await page.goto(`${gw.url}/`);
    await page.click('#tab-bench');
    await page.waitForSelector(`#jobs tr[data-job="${id}"]`, { timeout: WAIT_MS });
    await page.check('#cmp-mode-models');
    await page.selectOption('#cmp-job', id);
    await page.selectOption('#cmp-model-a', 'sam_reference');
    await page.selectOption('#cmp-model-b', 'mobilesam');
    await page.click('#cmp-run');
    await page.waitForSelector('#comparison tbody tr', { timeout: WAIT_MS });
    const rows = await page.locator('#comparison tbody tr').all();
    const targets: string[] = [];
    for (const row of rows) {
      const cells = (await row.locator('th, td').allTextContents()).map((t) => t.trim());
      const [target, models, , selection, a, b, delta] = cells;
      targets.push(target);
      assert.equal(models, 'sam_reference vs mobilesam');
      const da = diceOf('sam_reference', target, selection);
      const db = diceOf('mobilesam', target, selection);
      assert.equal(a, da.toFixed(1));
      assert.equal(b, db.toFixed(1));
      assert.equal(delta, (db - da >= 0 ? '+' : '') + (db - da).toFixed(1));
    }
    // One row per target and selection (the job reports several selections per target).
    assert.deepEqual([...new Set(targets)].sort(), ['left', 'right']);
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'compare-models.png'), fullPage: true });
    await page.close();
  });

  test('models view: served models with readiness and profile, cache statistics for admin', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${gw.url}/`);
    await page.click('#tab-models');
    await page.waitForSelector('.models tbody tr', { timeout: WAIT_MS });
    const text = (await page.locator('.models table').textContent()) ?? '';
    const served = await gql<{ models: Array<{ name: string; ready: boolean }> }>(
      gw.url,
      '{ models { name ready } }',
    );
    for (const m of served.data!.models)
      assert.match(text, new RegExp(`${m.name}\\s*${m.ready ? 'ready' : 'not ready'}`));
    assert.match(text, /1024px/);
    await page.waitForSelector('.models dl.stats', { timeout: WAIT_MS });
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'models.png'), fullPage: true });
    await page.close();
  });
});
