/**
 * Test helpers for the web app in a real browser: Debian's Chromium (`apt-get install chromium`), driven by
 * playwright-core over CDP, never a downloaded browser. A missing Chromium fails the test with the package
 * to install; nothing is skipped.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { REPO_ROOT } from './gateway.ts';

/** The Chromium binary: CHROMIUM_PATH, else Debian's. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where browser tests write screenshots and downloads for review (gitignored). */
export const TEST_OUTPUT_DIR = process.env.TEST_OUTPUT_DIR ?? join(REPO_ROOT, 'test-output', 'web');

/** Flags that keep Chromium headless, offline apart from the page under test, and free of background work. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A launched browser with its own fresh profile directory; close() removes the profile. */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Debian's Chromium with a fresh --user-data-dir; throws naming the package when it is missing. */
export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\` (Debian), or set CHROMIUM_PATH`,
    );
  }
  mkdirSync(TEST_OUTPUT_DIR, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'medseg-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1400, height: 1000 },
    deviceScaleFactor: 1,
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export type { Browser };
