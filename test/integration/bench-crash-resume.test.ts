import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const here = dirname(fileURLToPath(import.meta.url));
const child = resolve(here, '../unit/bench/slow-job-child.ts');
const tmp = tempDir('medseg-crash-');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the child; resolves with its stdout and exit status. `killAt` SIGKILLs it once it printed that many samples. */
function runChild(
  args: string[],
  killAt?: number,
): Promise<{ stdout: string; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (killAt !== undefined && p.exitCode === null && !p.killed) {
        const m = [...stdout.matchAll(/done (\d+)\//g)].pop();
        if (m && Number(m[1]) >= killAt) p.kill('SIGKILL');
      }
    });
    p.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`child exited ${code}: ${stderr}`));
      else resolvePromise({ stdout, code, signal });
    });
  });
}

test('kill -9 in the middle of a job, restart: every sample stored exactly once', async () => {
  const synth = writeSyntheticDataset({ dir: join(tmp, 'data'), images: 6, seed: 13 });
  const db = join(tmp, 'jobs.sqlite');
  const total = synth.objects.length * 3;
  assert.equal(total, 54);

  const first = await runChild(['start', db, synth.dir, '25'], 12);
  assert.equal(first.signal, 'SIGKILL', 'the job must still be running when killed');

  const look = new Database(db, { readonly: true });
  const job = look.prepare("SELECT status FROM jobs WHERE id = 'crash-job'").get() as { status: string };
  assert.equal(job.status, 'running', 'a killed job is left running');
  const atKill = (
    look.prepare("SELECT COUNT(*) AS n FROM samples WHERE job_id = 'crash-job'").get() as { n: number }
  ).n;
  look.close();
  assert.ok(atKill >= 12 && atKill < total, `${atKill} samples stored at the kill`);

  const second = await runChild(['resume', db, synth.dir, '0']);
  assert.equal(second.code, 0);
  assert.match(second.stdout, /resumed 1/);
  const summary = JSON.parse(/summary (.*)/.exec(second.stdout)![1]) as {
    status: string;
    computed: number;
    done: number;
    promptSets: number;
  };
  assert.equal(summary.status, 'completed');
  assert.equal(summary.done, total);
  // Exactly once: the restart computes (and asks the segmenter for) only what was not stored.
  assert.equal(summary.computed, total - atKill);
  assert.equal(summary.promptSets, total - atKill);

  const check = new Database(db, { readonly: true });
  const rows = check
    .prepare(
      "SELECT model, strategy, object_id, variant, COUNT(*) AS n FROM samples WHERE job_id = 'crash-job' GROUP BY 1, 2, 3, 4",
    )
    .all() as Array<{ strategy: string; object_id: string; n: number }>;
  assert.equal(rows.length, total);
  assert.ok(rows.every((r) => r.n === 1));
  const expected = new Set(
    synth.objects.flatMap((o) => ['S2', 'S3', 'S5'].map((s) => `${s}|${o.imageId}#${o.classValue}`)),
  );
  assert.deepEqual(new Set(rows.map((r) => `${r.strategy}|${r.object_id}`)), expected);
  assert.equal(
    (check.prepare("SELECT status FROM jobs WHERE id = 'crash-job'").get() as { status: string }).status,
    'completed',
  );
  check.close();

  // A further restart finds nothing to resume.
  const third = await runChild(['resume', db, synth.dir, '0']);
  assert.match(third.stdout, /resumed 0/);
});
