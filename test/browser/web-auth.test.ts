/**
 * The web app against a gateway with an API key file, in Chromium: no key shows the key prompt and nothing
 * else; a wrong key is refused; a segment-only key sees its roles and no benchmark controls; the key lives in
 * sessionStorage only and rides on every request; a revoked key brings the prompt back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiKeyStore } from '../../gateway/src/security/api-keys.ts';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { ensureWebApp } from '../../web/build.ts';
import { launchChromium, TEST_OUTPUT_DIR, type TestBrowser } from '../helpers/browser.ts';
import { SAMPLES, startTestGateway } from '../helpers/gateway.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';

declare const sessionStorage: { getItem(k: string): string | null; length: number };
declare const localStorage: { length: number };

const WAIT_MS = 120_000;
const tmp = mkdtempSync(join(tmpdir(), 'medseg-web-auth-'));

describe('web app with API keys', () => {
  let gw: RunningGateway;
  let browser: TestBrowser;
  let store: ApiKeyStore;
  const keys = { segment: '', bench: '', revocable: '', revocableId: '' };

  before(async () => {
    await ensureWebApp();
    const file = join(tmp, 'api-keys.json');
    store = new ApiKeyStore(file);
    keys.segment = store.create('web-segment', ['segment']).key;
    keys.bench = store.create('web-bench', ['benchmark']).key;
    writeSyntheticDataset({
      dir: join(tmp, 'data', 'synthetic'),
      images: 2,
      width: 64,
      height: 48,
      seed: 2,
      writeJson: true,
    });
    const r = store.create('web-revocable', ['segment', 'benchmark']);
    keys.revocable = r.key;
    keys.revocableId = r.record.id;
    const security = loadSecurityConfig({ API_KEYS_FILE: file, RATE_LIMIT_RPS: '0' }, join(tmp, 'state'));
    gw = await startTestGateway({ security, stateDir: join(tmp, 'state'), dataRoots: [join(tmp, 'data')] });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('no key: the prompt; wrong key: refused; segment key: its roles, no benchmark controls, key on every call', async () => {
    const page = await browser.context.newPage();
    const graphqlCalls: Array<string | undefined> = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/graphql') && r.method() === 'POST') graphqlCalls.push(r.headers().authorization);
    });
    await page.goto(`${gw.url}/`);
    await page.waitForSelector('#api-key', { timeout: WAIT_MS });
    assert.equal(await page.locator('#file').count(), 0, 'no segment view before a key');
    assert.equal(await page.locator('nav').count(), 0, 'no navigation before a key');
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'key-prompt.png') });

    await page.fill('#api-key', 'msk_wrong_key');
    await page.click('.key-prompt button[type="submit"]');
    await page.waitForSelector('.key-prompt [role="alert"]', { timeout: WAIT_MS });
    assert.equal(await page.locator('#file').count(), 0);

    const before = graphqlCalls.length;
    await page.fill('#api-key', keys.segment);
    await page.click('.key-prompt button[type="submit"]');
    await page.waitForSelector('#file', { timeout: WAIT_MS });
    const identity = (await page.locator('#identity').textContent()) ?? '';
    assert.match(identity, /roles:\s*segment/);
    assert.match(identity, /allows:\s*segmentation/);
    assert.doesNotMatch(identity, /benchmarks/);
    assert.equal(await page.locator('#tab-bench').count(), 0, 'a segment-only key sees no benchmark tab');
    assert.equal(await page.getByText('Benchmarks', { exact: true }).count(), 0);
    assert.equal(await page.locator('#tab-segment').count(), 1);

    // The key is in this tab's sessionStorage, nowhere else.
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem('medseg.apiKey'),
      local: localStorage.length,
    }));
    assert.deepEqual(stored, { session: keys.segment, local: 0 });

    await page.setInputFiles('#file', join(SAMPLES, 'xray-lungs', 'images', '2.jpg'));
    await page.waitForSelector('#prompt-layer', { timeout: WAIT_MS });
    await page.waitForSelector('.status[data-busy="false"]', { timeout: WAIT_MS });
    const after = graphqlCalls.slice(before + 1);
    assert.ok(after.length >= 3, `viewer, models, render and encode calls: ${after.length}`);
    assert.ok(
      after.every((h) => h === `Bearer ${keys.segment}`),
      'every call after the key carries it',
    );
    await page.screenshot({ path: join(TEST_OUTPUT_DIR, 'segment-only-key.png') });
    await page.close();
  });

  test('a benchmark-only key: the dashboard opens, and its progress subscription carries the key', async () => {
    const page = await browser.context.newPage();
    const sent: string[] = [];
    page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
    await page.goto(`${gw.url}/`);
    await page.waitForSelector('#api-key', { timeout: WAIT_MS });
    await page.fill('#api-key', keys.bench);
    await page.click('.key-prompt button[type="submit"]');
    await page.waitForSelector('.bench[data-loaded="true"]', { timeout: WAIT_MS });
    assert.equal(await page.locator('#file').count(), 0, 'no segment view without the segment role');
    assert.equal(await page.locator('#tab-segment').count(), 0);
    await page.fill('#ds-path', 'synthetic');
    await page.click('#register button[type="submit"]');
    await page.waitForSelector('#job-dataset option', { state: 'attached', timeout: WAIT_MS });
    // The benchmark role may not list models (the segment role's field): names are typed in.
    await page.fill('#job-models', 'sam_reference');
    await page.click('#job-start');
    await page.waitForSelector('#jobs tr[data-status="completed"]', { timeout: WAIT_MS });
    const init = sent
      .map((p) => JSON.parse(p) as { type: string; payload?: Record<string, string> })
      .find((m) => m.type === 'connection_init');
    assert.equal(
      init?.payload?.authorization,
      `Bearer ${keys.bench}`,
      'graphql-ws connection_init carries the key',
    );
    const events = Number(
      await page.locator('#jobs tr[data-status="completed"]').getAttribute('data-events'),
    );
    assert.ok(events >= 1, `progress events over the authenticated WebSocket: ${events}`);
    // The job's gallery shows its thumbnails, but offers no click into the segment view this key cannot use.
    const jobId = await page.locator('#jobs tr[data-status="completed"]').first().getAttribute('data-job');
    await page.click(`button[aria-label="Gallery of job ${jobId!.slice(0, 8)}"]`);
    await page.waitForSelector('#gallery figure.gallery-case img', { timeout: WAIT_MS });
    assert.equal(await page.locator('#gallery button.gallery-case').count(), 0);
    assert.match((await page.locator('#gallery').textContent()) ?? '', /needs the key's segment role/);
    await page.close();
  });

  test('a revoked key brings the prompt back instead of a blank page', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${gw.url}/`);
    await page.waitForSelector('#api-key', { timeout: WAIT_MS });
    await page.fill('#api-key', keys.revocable);
    await page.click('.key-prompt button[type="submit"]');
    await page.waitForSelector('#tab-bench', { timeout: WAIT_MS });
    assert.match((await page.locator('#identity').textContent()) ?? '', /benchmarks/);

    assert.ok(store.revoke(keys.revocableId));
    // The gateway re-reads the key file at most once a second.
    await new Promise((r) => setTimeout(r, 1500));
    await page.setInputFiles('#file', join(SAMPLES, 'xray-lungs', 'images', '3.jpg'));
    await page.waitForSelector('#api-key', { timeout: WAIT_MS });
    assert.match(
      (await page.locator('.key-prompt [role="alert"]').textContent()) ?? '',
      /revoked|not accept/,
    );
    assert.equal(
      await page.evaluate(() => sessionStorage.getItem('medseg.apiKey')),
      null,
      'the dead key is forgotten',
    );
    await page.close();
  });
});
