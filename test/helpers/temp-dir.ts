/**
 * Temporary folders for tests: each one is made under the OS temp folder and removed when the test process
 * exits (passed, failed or interrupted), so a run leaves no `/tmp/medseg-*` behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();
let hooked = false;

/** Removes every folder {@link tempDir} made in this process. */
export function removeTempDirs(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
}

/** Makes a fresh folder `<tmp>/<prefix>XXXXXX` that is removed when this process exits; returns its path. */
export function tempDir(prefix: string): string {
  if (!hooked) {
    hooked = true;
    // 'exit' handlers must be synchronous: rmSync is. Test files run in their own process under node --test.
    process.once('exit', removeTempDirs);
  }
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}
