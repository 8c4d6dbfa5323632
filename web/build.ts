/**
 * Builds the web app (web/src) into web/dist with esbuild: one ES module bundle per page plus its CSS, every
 * dependency inlined from node_modules, so the browser never fetches anything from outside the gateway.
 * Run directly (`node --import tsx web/build.ts`) or through `buildWebApp()` from tests.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The app's source folder. */
export const WEB_SRC = fileURLToPath(new URL('./src/', import.meta.url));
/** Where the built app goes; the gateway serves this folder at `/`. */
export const WEB_DIST = fileURLToPath(new URL('./dist/', import.meta.url));

/** onnxruntime-web's single-threaded-capable SIMD runtime (the one its `wasm` bundle loads). */
const ORT_WASM = fileURLToPath(
  new URL('../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm', import.meta.url),
);

/** The pages: entry module and HTML shell, by output name. */
const PAGES = { app: 'index.html', ide: 'ide.html' } as const;

/** Builds every page into `outDir` (default web/dist), replacing what was there. */
export async function buildWebApp(outDir = WEB_DIST): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: Object.fromEntries(Object.keys(PAGES).map((name) => [name, join(WEB_SRC, `${name}.ts`)])),
    outdir: outDir,
    bundle: true,
    format: 'esm',
    // Browsers of the last few years; the app uses no syntax newer than ES2022.
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    logLevel: 'warning',
    platform: 'browser',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  for (const html of Object.values(PAGES)) copyFileSync(join(WEB_SRC, html), join(outDir, html));
  // onnxruntime-web's WebAssembly runtime, fetched by the segment view when it decodes in the browser.
  copyFileSync(ORT_WASM, join(outDir, 'ort-wasm-simd-threaded.wasm'));
}

/** A digest of the app's sources and this build script: a dist built from them carries it in `.stamp`. */
function sourceStamp(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(`${p}\0`).update(readFileSync(p));
    }
  };
  walk(WEB_SRC);
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  // The copied WebAssembly runtime changes with the onnxruntime-web version, not with the app's sources.
  h.update(readFileSync(new URL('../node_modules/onnxruntime-web/package.json', import.meta.url)));
  return h.digest('hex');
}

function stampOf(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, '.stamp'), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Makes sure `outDir` holds the app built from the current sources, building it only when it is missing or
 * stale. Safe when several processes call it at once (test files run in parallel): each builds into a folder
 * of its own and renames it in; a current dist is never removed, so a gateway serving it sees no gap.
 */
export async function ensureWebApp(outDir = WEB_DIST): Promise<void> {
  const stamp = sourceStamp();
  const target = outDir.replace(/\/+$/, '');
  if (stampOf(target) === stamp) return;
  const mine = `${target}.tmp-${process.pid}-${Date.now()}`;
  await buildWebApp(mine);
  writeFileSync(join(mine, '.stamp'), stamp);
  try {
    renameSync(mine, target);
    return;
  } catch {
    // Another process put its dist in place first, or a stale one is there.
  }
  if (stampOf(target) === stamp) {
    rmSync(mine, { recursive: true, force: true });
    return;
  }
  const old = `${target}.old-${process.pid}-${Date.now()}`;
  try {
    renameSync(target, old);
    renameSync(mine, target);
  } finally {
    rmSync(old, { recursive: true, force: true });
    rmSync(mine, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now();
  await buildWebApp();
  console.log(`web app built into ${WEB_DIST} in ${Math.round(performance.now() - started)} ms`);
}
