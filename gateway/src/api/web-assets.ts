/**
 * Serves the built web app (web/dist, made by web/build.ts) at `/` and the offline GraphQL IDE at
 * `GET /graphql` for browsers. Files are looked up by exact name in the build folder (no path from the request
 * ever reaches the file system), and every page carries a Content-Security-Policy that keeps the browser on
 * the gateway's own origin: nothing is fetched from a CDN, so the app works on an air-gapped network.
 */
import { readFile, readdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** The build folder the gateway serves. */
export const WEB_DIST_DIR = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

/** Content types by file extension of the files the build writes. */
const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  png: 'image/png',
  svg: 'image/svg+xml',
  wasm: 'application/wasm',
};

/**
 * Same-origin only: scripts and connections (HTTP and WebSocket) to the gateway itself; images from data:
 * and blob: URLs the app makes; reports shown in sandboxed srcdoc frames.
 */
export const WEB_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-src 'self' blob: data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

/**
 * The app page's policy: WEB_CSP plus 'wasm-unsafe-eval', which lets onnxruntime-web compile its
 * WebAssembly runtime (browser decoding) and nothing else; no string is ever evaluated as script.
 */
export const APP_CSP = WEB_CSP.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'");

/** Names a request may ask for under /assets/: lower-case words, one dot-separated extension chain. */
const ASSET_NAME = /^[a-z0-9][a-z0-9-]*(\.[a-z0-9]+)+$/;

/** True when a GET/HEAD of /graphql comes from a browser navigating to it rather than from a GraphQL client. */
export function wantsGraphqlIde(req: IncomingMessage, url: URL): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (url.searchParams.has('query')) return false;
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html');
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

/**
 * Answers a request for a web file: `/` and `/index.html` give the app, `/graphql` (from a browser) the IDE,
 * `/assets/<name>` a built file. Returns false when the path is none of these (the caller answers 404).
 */
export async function serveWebFile(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  distDir = WEB_DIST_DIR,
): Promise<boolean> {
  let name: string;
  if (url.pathname === '/' || url.pathname === '/index.html') name = 'index.html';
  else if (url.pathname === '/graphql') name = 'ide.html';
  else if (url.pathname.startsWith('/assets/')) name = url.pathname.slice('/assets/'.length);
  else return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    sendText(res, 405, `${req.method} is not allowed on ${url.pathname}`);
    return true;
  }
  let files: string[];
  try {
    files = await readdir(distDir);
  } catch {
    sendText(res, 503, 'the web app is not built: run `npm run build:web` (npm start does it)');
    return true;
  }
  // Only names the build wrote are served, compared as strings: no request path is joined to a folder.
  if (!ASSET_NAME.test(name) || !files.includes(name)) {
    sendText(res, 404, `no web file ${url.pathname}`);
    return true;
  }
  const type = TYPES[name.slice(name.lastIndexOf('.') + 1)];
  if (!type) {
    sendText(res, 404, `no web file ${url.pathname}`);
    return true;
  }
  const body = await readFile(`${distDir}${distDir.endsWith('/') ? '' : '/'}${name}`);
  res.writeHead(200, {
    'content-type': type,
    'content-length': body.length,
    'content-security-policy': name === 'index.html' ? APP_CSP : WEB_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // Built files keep their names across builds, so browsers must revalidate rather than cache blindly.
    'cache-control': 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
