/**
 * Merges the stores of a sharded benchmark (one SQLite file per `--shard i/N` run, often on different
 * machines) into one job of one store, so that one report covers every object. The shards must be the same
 * job but for the shard index: same dataset, models, strategies, mode, seed and so on.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { toJobRow } from '../store/rows.ts';
import type { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { JobRow } from './job-store.ts';
import type { BenchmarkConfig } from './types.ts';

/** A merge that cannot be done (missing file, no job, shards of different jobs); the message says why. */
export class MergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergeError';
  }
}

/** What a merge produced. */
export interface MergeSummary {
  jobId: string;
  /** Shard indices merged, ascending. */
  shards: number[];
  /** The shard count every shard declares. */
  count: number;
  /** Samples copied into the merged job. */
  samples: number;
  /** 'completed' when every shard of the count is present and completed; otherwise 'failed' with `error`. */
  status: 'completed' | 'failed';
  error: string | null;
}

/** The config of a job without its shard, as a comparable string. */
function unsharded(config: BenchmarkConfig): string {
  return JSON.stringify({ ...config, shard: null });
}

/** Picks the one job of a shard store (or the one named `jobId`). */
function shardJob(file: string, jobs: JobRow[], jobId: string | undefined): JobRow {
  if (jobId !== undefined) {
    const j = jobs.find((r) => r.id === jobId);
    if (!j) throw new MergeError(`${file} has no job '${jobId}'`);
    return j;
  }
  const sharded = jobs.filter((j) => j.config.shard !== null);
  if (sharded.length !== 1) {
    throw new MergeError(
      `${file} holds ${sharded.length} sharded jobs; name the one to merge with --job (jobs: ${jobs.map((j) => j.id).join(', ') || 'none'})`,
    );
  }
  return sharded[0];
}

/**
 * Copies the sharded job of each store in `files` into `target` as one new job (id `jobId`, or a new UUID),
 * with every sample and interactive curve. Throws MergeError when the shards do not belong together.
 */
export async function mergeShards(
  target: SqliteStore,
  files: readonly string[],
  options: { jobId?: string; sourceJobId?: string } = {},
): Promise<MergeSummary> {
  if (files.length === 0) throw new MergeError('no shard store given');
  const shards: Array<{ file: string; job: JobRow }> = [];
  for (const file of files) {
    if (!existsSync(file)) throw new MergeError(`no such file: ${file}`);
    let db: Database.Database;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true });
    } catch (err: unknown) {
      throw new MergeError(`${file} is not a benchmark store: ${(err as Error).message}`);
    }
    try {
      let rows: Array<Record<string, unknown>>;
      try {
        rows = db.prepare('SELECT * FROM jobs ORDER BY created_at').all() as Array<Record<string, unknown>>;
      } catch {
        throw new MergeError(`${file} is not a benchmark store (no jobs table)`);
      }
      // Shard stores made before leases or owners lack those columns: they read as none.
      const jobs: JobRow[] = rows.map(toJobRow);
      shards.push({ file, job: shardJob(file, jobs, options.sourceJobId) });
    } finally {
      db.close();
    }
  }
  const first = shards[0].job.config;
  const count = first.shard?.count ?? 1;
  const seen = new Map<number, string>();
  for (const { file, job } of shards) {
    if (job.config.shard === null) throw new MergeError(`${file}: job ${job.id} is not sharded`);
    if (unsharded(job.config) !== unsharded(first) || job.config.shard.count !== count) {
      throw new MergeError(
        `${file}: job ${job.id} is not a shard of the same benchmark as ${shards[0].file} (dataset, models, strategies, mode, seed and shard count must match)`,
      );
    }
    const other = seen.get(job.config.shard.index);
    if (other !== undefined)
      throw new MergeError(`shard ${job.config.shard.index}/${count} is given twice: ${other} and ${file}`);
    seen.set(job.config.shard.index, file);
  }
  const jobId = options.jobId ?? randomUUID();
  if (await target.getJob(jobId)) throw new MergeError(`the target store already has a job '${jobId}'`);

  const indices = [...seen.keys()].sort((a, b) => a - b);
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  const unfinished = shards
    .filter((s) => s.job.status !== 'completed')
    .map((s) => `${s.job.config.shard!.index} (${s.job.status})`);
  const problems = [
    ...(missing.length ? [`shards missing: ${missing.join(', ')} of ${count}`] : []),
    ...(unfinished.length ? [`shards not completed: ${unfinished.join(', ')}`] : []),
  ];
  const status = problems.length === 0 ? 'completed' : 'failed';
  const error = problems.length === 0 ? null : problems.join('; ');

  const db = target.db;
  const columns = (table: string) =>
    (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
  const sampleCols = columns('samples');
  const curveCols = columns('curves');
  const copyFrom = (table: string, cols: string[]) =>
    db.prepare(
      `INSERT INTO main.${table} (${cols.join(', ')}) SELECT ${cols.map((c) => (c === 'job_id' ? '?' : c)).join(', ')} FROM src.${table} WHERE job_id = ?`,
    );
  let samples = 0;
  let total = 0;
  let created = false;
  for (const { file, job } of shards) {
    // ATTACH cannot run inside a transaction: attach each shard, then copy its rows in one transaction.
    db.prepare('ATTACH DATABASE ? AS src').run(file);
    try {
      db.transaction(() => {
        db.prepare('INSERT OR IGNORE INTO main.datasets SELECT * FROM src.datasets WHERE id = ?').run(
          job.datasetId,
        );
        db.prepare(
          'INSERT OR IGNORE INTO main.prompt_sets SELECT * FROM src.prompt_sets WHERE dataset_id = ?',
        ).run(job.datasetId);
        // The job row after its dataset's row (jobs reference datasets).
        if (!created) {
          const now = new Date().toISOString();
          db.prepare(
            `INSERT INTO main.jobs (id, dataset_id, config_json, status, total, error, created_at, updated_at)
             VALUES (?, ?, ?, 'queued', 0, NULL, ?, ?)`,
          ).run(jobId, first.dataset, JSON.stringify({ ...first, shard: null }), now, now);
        }
        created = true;
        samples += copyFrom('samples', sampleCols).run(jobId, job.id).changes;
        copyFrom('curves', curveCols).run(jobId, job.id);
      })();
      total += job.total;
    } finally {
      db.prepare('DETACH DATABASE src').run();
    }
  }
  await target.setJobTotal(jobId, total);
  await target.setJobStatus(jobId, status, error);
  return { jobId, shards: indices, count, samples, status, error };
}
