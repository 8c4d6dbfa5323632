/**
 * What the gateway adds for the web app, over real HTTP: the built files at `/` and `/assets/` (exact names
 * only, same-origin CSP, bad methods and paths refused), the IDE page at `GET /graphql` for browsers while
 * GraphQL clients still reach Apollo, and the `viewer` and `renderImage` queries with their bad inputs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serveWebFile } from '../../gateway/src/api/web-assets.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { decodePng } from '../../gateway/src/imaging/decode-png.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { ensureWebApp } from '../../web/build.ts';
import { errorCode, gql, SAMPLES, startTestGateway } from '../helpers/gateway.ts';

describe('web files and the app queries', () => {
  let gw: RunningGateway;
  before(async () => {
    await ensureWebApp();
    gw = await startTestGateway();
  });
  after(async () => gw?.close());

  test('/ serves the app with a same-origin CSP; assets by exact name; everything else 404/405', async () => {
    const page = await fetch(`${gw.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    const html = await page.text();
    assert.match(html, /\/assets\/app\.js/);
    assert.doesNotMatch(html, /https?:\/\//, 'the page names no external URL');

    const js = await fetch(`${gw.url}/assets/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    const code = await js.text();
    assert.doesNotMatch(
      code,
      /https?:\/\/(cdn|unpkg|esm\.sh|fonts\.)/,
      'the bundle loads nothing from a CDN',
    );

    for (const path of [
      '/assets/nothing.js',
      '/assets/%2e%2e%2fpackage.json',
      '/assets/..%2Fpackage.json',
      '/assets/.env',
      '/assets/APP.JS',
      '/assets/',
    ]) {
      const r = await fetch(`${gw.url}${path}`);
      assert.equal(r.status, 404, path);
      await r.body?.cancel();
    }
    const traversal = await fetch(`${gw.url}/assets/../package.json`);
    assert.equal(traversal.status, 404, 'a normalised traversal lands on an unknown route');
    assert.doesNotMatch(await traversal.text(), /"name": "medseg-gateway"/);
    const post = await fetch(`${gw.url}/`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.body?.cancel();
  });

  test('GET /graphql: browsers get the bundled IDE, GraphQL clients get GraphQL', async () => {
    const ide = await fetch(`${gw.url}/graphql`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(ide.status, 200);
    const html = await ide.text();
    assert.match(html, /\/assets\/ide\.js/);
    assert.doesNotMatch(html, /apollographql|embeddable-sandbox|cdn\./i, "not Apollo's CDN landing page");

    const query = await fetch(`${gw.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'text/html, application/json', 'apollo-require-preflight': 'true' },
    });
    assert.equal(query.status, 200);
    assert.deepEqual(await query.json(), { data: { __typename: 'Query' } });

    const bare = await fetch(`${gw.url}/graphql`, { headers: { accept: 'application/json' } });
    assert.notEqual(bare.status, 200, 'a GraphQL GET without a query is not a page');
    assert.doesNotMatch(await bare.text(), /<html/i);
  });

  test('a gateway without a built app says how to build it', async () => {
    const server = createServer((req, res) => {
      void serveWebFile(req, res, new URL(req.url ?? '/', 'http://x'), join(tmpdir(), 'no-such-web-dist'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      assert.equal(r.status, 503);
      assert.match(await r.text(), /npm run build:web/);
    } finally {
      server.close();
    }
  });

  test('viewer: the anonymous loopback caller is admin and may call every field', async () => {
    const r = await gql<{ viewer: { kind: string; roles: string[]; allowedFields: string[] } }>(
      gw.url,
      '{ viewer { kind id roles allowedFields } }',
    );
    assert.equal(r.errors, undefined);
    assert.equal(r.data!.viewer.kind, 'loopback');
    assert.deepEqual(r.data!.viewer.roles, ['admin']);
    for (const f of ['segment', 'startBenchmark', 'cacheStats', 'viewer', 'volumeProgress'])
      assert.ok(r.data!.viewer.allowedFields.includes(f), f);
  });

  test('renderImage: the 8-bit picture the model sees; DICOM with spacing and windows; bad inputs are typed errors', async () => {
    const phantom = generatePhantom({ seed: 3, width: 64, height: 48 });
    const b64 = Buffer.from(encodePng(phantom.image)).toString('base64');
    const r = await gql<{
      renderImage: { png: string; width: number; height: number; spacing: number[] | null };
    }>(
      gw.url,
      'query ($b64: String!) { renderImage(image: { encoded: { base64: $b64 } }) { png width height spacing } }',
      { b64 },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const out = decodePng(new Uint8Array(Buffer.from(r.data!.renderImage.png, 'base64')), 1 << 20);
    assert.deepEqual([out.width, out.height, r.data!.renderImage.spacing], [64, 48, null]);
    assert.deepEqual(
      Array.from(out.data),
      Array.from(phantom.image.data),
      'an 8-bit grey PNG comes back unchanged',
    );

    const ct = readFileSync(join(SAMPLES, 'dicom', 'small-ct-mr', 'CT_small.dcm')).toString('base64');
    const render = (window: unknown) =>
      gql<{ renderImage: { png: string; width: number; spacing: number[] } }>(
        gw.url,
        'query ($b64: String!, $w: WindowInput) { renderImage(image: { dicom: { base64: $b64, window: $w } }) { png width spacing } }',
        { b64: ct, w: window },
      );
    const fileWindow = await render(null);
    const bone = await render({ preset: 'CT_BONE' });
    assert.equal(fileWindow.errors, undefined, JSON.stringify(fileWindow.errors));
    assert.equal(fileWindow.data!.renderImage.width, 128);
    assert.equal(fileWindow.data!.renderImage.spacing.length, 2);
    assert.notEqual(
      bone.data!.renderImage.png,
      fileWindow.data!.renderImage.png,
      'a window preset changes the picture',
    );

    const bad = await gql(gw.url, '{ renderImage(image: { encoded: { base64: "not base64!" } }) { width } }');
    assert.equal(errorCode(bad), 'BAD_IMAGE');
    const notImage = await gql(
      gw.url,
      'query ($b: String!) { renderImage(image: { encoded: { base64: $b } }) { width } }',
      {
        b: Buffer.from('hello, not an image').toString('base64'),
      },
    );
    assert.ok(['BAD_IMAGE', 'UNSUPPORTED_FORMAT'].includes(errorCode(notImage) ?? ''), errorCode(notImage));
    const path = await gql(gw.url, '{ renderImage(image: { path: "/etc/passwd" }) { width } }');
    assert.equal(errorCode(path), 'PATH_NOT_ALLOWED');
    const badDicom = await gql(
      gw.url,
      'query ($b: String!) { renderImage(image: { dicom: { base64: $b } }) { width } }',
      {
        b: Buffer.alloc(200).toString('base64'),
      },
    );
    assert.equal(errorCode(badDicom), 'BAD_IMAGE');
  });
});
