/**
 * Builds the web app (web/src) into web/dist with esbuild: one ES module bundle per page plus its CSS, every
 * dependency inlined from node_modules, so the browser never fetches anything from outside the gateway.
 * Run directly (`node --import tsx web/build.ts`) or through `buildWebApp()` from tests.
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The app's source folder. */
export const WEB_SRC = fileURLToPath(new URL('./src/', import.meta.url));
/** Where the built app goes; the gateway serves this folder at `/`. */
export const WEB_DIST = fileURLToPath(new URL('./dist/', import.meta.url));

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
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now();
  await buildWebApp();
  console.log(`web app built into ${WEB_DIST} in ${Math.round(performance.now() - started)} ms`);
}
