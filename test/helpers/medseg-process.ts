/** Test helpers for the `medseg` CLI run as a real child process (fault tests and the load bench). */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from './gateway.ts';

const BIN = join(REPO_ROOT, 'gateway/bin/medseg.js');
const MODELS = join(REPO_ROOT, 'triton-models');

/** A port that was free a moment ago (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const spawned = new Set<ChildProcess>();

function killSpawned(): void {
  for (const child of spawned) if (child.exitCode === null) child.kill('SIGKILL');
}

/**
 * Spawns `medseg <args>` (silent logs, the repository's models), resolving once its output matches `ready`
 * (with the match and all output so far), rejecting if it exits first. `onSpawn` sees the child at once, so
 * callers can track it for cleanup.
 */
export function spawnMedseg(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  onSpawn: (child: ChildProcess) => void = () => {},
): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      // The fast reference model unless a test names another: these tests exercise the process, not SAM.
      // A generous backend deadline (callers may set their own): a busy machine is slow, not broken.
      env: {
        ...process.env,
        LOG_LEVEL: 'silent',
        MODEL_REPOSITORY: MODELS,
        DEFAULT_MODEL: 'sam_reference',
        BACKEND_DEADLINE_MS: '600000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onSpawn(child);
    // A test file that times out is ended without its own cleanup: never leave a gateway running behind it.
    spawned.add(child);
    child.once('exit', () => spawned.delete(child));
    if (spawned.size === 1) process.once('exit', killSpawned);
    let out = '';
    let done = false;
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = out.match(ready);
      if (m && !done) {
        done = true;
        resolve({ child, match: m, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      if (!done) reject(new Error(`medseg ${args[0]} exited ${code ?? signal} before ready:\n${out}`));
    });
  });
}
