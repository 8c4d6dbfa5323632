/**
 * Durable benchmark storage in one SQLite file (better-sqlite3): registered datasets, jobs, reusable prompt
 * sets, per-sample results and interactive curves. Every finished sample is committed on its own, and a
 * UNIQUE key on (job, model, strategy, object, variant) makes a repeated sample impossible, so a job killed
 * at any point resumes exactly where its last commit left it.
 */
import Database from 'better-sqlite3';
import type {
  BenchmarkConfig,
  ChoiceResult,
  CurvePoint,
  FactorValues,
  JobStatus,
  MetricValues,
  SampleRecord,
} from './types.ts';
import { METRIC_NAMES } from './types.ts';

/** A registered dataset row. */
export interface DatasetRow {
  id: string;
  name: string;
  root: string;
  layout: string;
  modality: string;
  /** Loader options (class map, axis, window...) as given at registration. */
  options: Record<string, unknown>;
  stats: unknown;
  problems: unknown[];
  createdAt: string;
}

/** A job row. */
export interface JobRow {
  id: string;
  datasetId: string;
  config: BenchmarkConfig;
  status: JobStatus;
  /** Samples the job will produce in total (0 until planned). */
  total: number;
  error: string | null;
  /**
   * The API caller that started it (principal kind:id), or null for jobs started by the CLI or stored before
   * owners existed (those are visible to admins only through the API).
   */
  owner: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A stored prompt for one object, strategy, mode, randomness and seed: reused by every model and job. */
export interface StoredPrompt {
  prompt: unknown;
  failure: string | null;
}

/** Key of a stored prompt set. */
export interface PromptKey {
  datasetId: string;
  objectId: string;
  strategy: string;
  mode: string;
  randomness: string;
  seed: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS datasets (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  root TEXT NOT NULL,
  layout TEXT NOT NULL,
  modality TEXT NOT NULL,
  options_json TEXT NOT NULL,
  stats_json TEXT NOT NULL,
  problems_json TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  dataset_id TEXT NOT NULL REFERENCES datasets(id),
  config_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued','running','cancelled','completed','failed')),
  total INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prompt_sets (
  dataset_id TEXT NOT NULL,
  object_id TEXT NOT NULL,
  strategy TEXT NOT NULL,
  mode TEXT NOT NULL,
  randomness TEXT NOT NULL,
  seed INTEGER NOT NULL,
  prompt_json TEXT NOT NULL,
  failure TEXT,
  PRIMARY KEY (dataset_id, object_id, strategy, mode, randomness, seed)
);
CREATE TABLE IF NOT EXISTS samples (
  job_id TEXT NOT NULL REFERENCES jobs(id),
  model TEXT NOT NULL,
  strategy TEXT NOT NULL,
  object_id TEXT NOT NULL,
  variant INTEGER NOT NULL,
  image_id TEXT NOT NULL,
  class_value INTEGER NOT NULL,
  class_name TEXT NOT NULL,
  modality TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok','failed')),
  failure_reason TEXT,
  ${METRIC_NAMES.map((m) => `oracle_${m} REAL, deploy_${m} REAL,`).join('\n  ')}
  oracle_index INTEGER,
  oracle_pred_iou REAL,
  deploy_index INTEGER,
  deploy_pred_iou REAL,
  candidates_json TEXT NOT NULL,
  factors_json TEXT,
  prompt_json TEXT,
  segmenter_ms REAL NOT NULL,
  total_ms REAL NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (job_id, model, strategy, object_id, variant)
);
CREATE TABLE IF NOT EXISTS curves (
  job_id TEXT NOT NULL REFERENCES jobs(id),
  model TEXT NOT NULL,
  protocol TEXT NOT NULL,
  object_id TEXT NOT NULL,
  click INTEGER NOT NULL,
  dice REAL NOT NULL,
  iou REAL NOT NULL,
  UNIQUE (job_id, model, protocol, object_id, click)
);
`;

interface SampleDbRow {
  [key: string]: unknown;
}

/** SQLite-backed store of benchmark datasets, jobs, prompts, samples and curves. */
export class JobStore {
  readonly db: Database.Database;

  /**
   * Opens (creating if needed) the store at `file` (`:memory:` for tests). WAL journal with
   * `synchronous = FULL` by default: WAL alone already survives a killed process with every committed sample
   * intact; FULL also fsyncs the WAL at every commit, so a sample reported as done also survives a power or
   * OS failure and progress never goes backwards. The price is one fsync per sample (5-10 ms on the
   * development disk; `npm run bench -- bench` prints FULL against NORMAL), small next to a real model's
   * decode on CPU, noticeable next to a fast GPU decoder. `NORMAL` trades that for speed: after a power failure the last few samples are
   * lost and simply recomputed on resume (never duplicated).
   */
  constructor(file: string, options: { synchronous?: 'FULL' | 'NORMAL' } = {}) {
    const synchronous = options.synchronous ?? 'FULL';
    if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
      throw new RangeError(`synchronous must be FULL or NORMAL, got ${String(synchronous)}`);
    }
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // Stores made before jobs had owners gain the column (NULL: no owner).
    const columns = this.db.prepare('PRAGMA table_info(jobs)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'owner')) this.db.exec('ALTER TABLE jobs ADD COLUMN owner TEXT');
  }

  /** Closes the database file. */
  close(): void {
    this.db.close();
  }

  /** Inserts or replaces a dataset registration. */
  putDataset(row: Omit<DatasetRow, 'createdAt'> & { createdAt?: string }): DatasetRow {
    const createdAt = row.createdAt ?? new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO datasets (id, name, root, layout, modality, options_json, stats_json, problems_json, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET name=excluded.name, root=excluded.root, layout=excluded.layout,
           modality=excluded.modality, options_json=excluded.options_json, stats_json=excluded.stats_json,
           problems_json=excluded.problems_json`,
      )
      .run(
        row.id,
        row.name,
        row.root,
        row.layout,
        row.modality,
        JSON.stringify(row.options),
        JSON.stringify(row.stats),
        JSON.stringify(row.problems),
        createdAt,
      );
    return { ...row, createdAt };
  }

  /** A dataset by id, or undefined. */
  getDataset(id: string): DatasetRow | undefined {
    const r = this.db.prepare('SELECT * FROM datasets WHERE id = ?').get(id) as SampleDbRow | undefined;
    return r === undefined ? undefined : toDatasetRow(r);
  }

  /** Every registered dataset, oldest first. */
  listDatasets(): DatasetRow[] {
    return (this.db.prepare('SELECT * FROM datasets ORDER BY created_at, id').all() as SampleDbRow[]).map(
      toDatasetRow,
    );
  }

  /** Creates a queued job; `owner` is the API caller that started it (none for the CLI). */
  createJob(id: string, config: BenchmarkConfig, owner: string | null = null): JobRow {
    const now = new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO jobs (id, dataset_id, config_json, status, total, error, created_at, updated_at, owner)
         VALUES (?, ?, ?, 'queued', 0, NULL, ?, ?, ?)`,
      )
      .run(id, config.dataset, JSON.stringify(config), now, now, owner);
    return this.getJob(id)!;
  }

  /** A job by id, or undefined. */
  getJob(id: string): JobRow | undefined {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as SampleDbRow | undefined;
    return r === undefined ? undefined : toJobRow(r);
  }

  /** Jobs, newest first, optionally only those with a status. */
  listJobs(status?: JobStatus): JobRow[] {
    const rows =
      status === undefined
        ? this.db.prepare('SELECT * FROM jobs ORDER BY created_at DESC, id').all()
        : this.db.prepare('SELECT * FROM jobs WHERE status = ? ORDER BY created_at DESC, id').all(status);
    return (rows as SampleDbRow[]).map(toJobRow);
  }

  /** Sets a job's status (and error message for failures). */
  setJobStatus(id: string, status: JobStatus, error: string | null = null): void {
    const info = this.db
      .prepare('UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?')
      .run(status, error, new Date().toISOString(), id);
    if (info.changes !== 1) throw new Error(`job '${id}' does not exist`);
  }

  /** Records how many samples a job plans in total. */
  setJobTotal(id: string, total: number): void {
    this.db
      .prepare('UPDATE jobs SET total = ?, updated_at = ? WHERE id = ?')
      .run(total, new Date().toISOString(), id);
  }

  /** The stored prompt for a key, or undefined. */
  getPrompt(key: PromptKey): StoredPrompt | undefined {
    const r = this.db
      .prepare(
        `SELECT prompt_json, failure FROM prompt_sets WHERE dataset_id = ? AND object_id = ? AND strategy = ?
         AND mode = ? AND randomness = ? AND seed = ?`,
      )
      .get(key.datasetId, key.objectId, key.strategy, key.mode, key.randomness, key.seed) as
      { prompt_json: string; failure: string | null } | undefined;
    return r === undefined ? undefined : { prompt: JSON.parse(r.prompt_json), failure: r.failure };
  }

  /**
   * Stores a prompt unless one exists for the key, and returns the stored one: the first writer wins, so
   * every model and job compares on identical prompts.
   */
  putPrompt(key: PromptKey, value: StoredPrompt): StoredPrompt {
    this.db
      .prepare(
        `INSERT INTO prompt_sets (dataset_id, object_id, strategy, mode, randomness, seed, prompt_json, failure)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(
        key.datasetId,
        key.objectId,
        key.strategy,
        key.mode,
        key.randomness,
        key.seed,
        JSON.stringify(value.prompt),
        value.failure,
      );
    return this.getPrompt(key)!;
  }

  /** Keys `model|strategy|object|variant` of the samples a job already stored. */
  doneKeys(jobId: string): Set<string> {
    const rows = this.db
      .prepare('SELECT model, strategy, object_id, variant FROM samples WHERE job_id = ?')
      .all(jobId) as Array<{ model: string; strategy: string; object_id: string; variant: number }>;
    return new Set(rows.map((r) => sampleKey(r.model, r.strategy, r.object_id, r.variant)));
  }

  /**
   * Stores one sample and its curve in one transaction. Returns false (and writes nothing) when the sample
   * was already stored.
   */
  putSample(sample: SampleRecord, curve?: { protocol: string; points: CurvePoint[] }): boolean {
    const insertSample = this.db.prepare(
      `INSERT INTO samples (job_id, model, strategy, object_id, variant, image_id, class_value, class_name, modality,
         status, failure_reason, ${METRIC_NAMES.map((m) => `oracle_${m}, deploy_${m}`).join(', ')},
         oracle_index, oracle_pred_iou, deploy_index, deploy_pred_iou, candidates_json, factors_json, prompt_json,
         segmenter_ms, total_ms, created_at)
       VALUES (${new Array(11 + METRIC_NAMES.length * 2 + 10).fill('?').join(', ')})
       ON CONFLICT DO NOTHING`,
    );
    const insertCurve = this.db.prepare(
      `INSERT INTO curves (job_id, model, protocol, object_id, click, dice, iou) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    );
    const tx = this.db.transaction((): boolean => {
      const metricArgs: Array<number | null> = [];
      for (const m of METRIC_NAMES) {
        metricArgs.push(finiteOrNull(sample.oracle?.metrics[m]), finiteOrNull(sample.deployable?.metrics[m]));
      }
      const info = insertSample.run(
        sample.jobId,
        sample.model,
        sample.strategy,
        sample.objectId,
        sample.variant,
        sample.imageId,
        sample.classValue,
        sample.className,
        sample.modality,
        sample.status,
        sample.failureReason,
        ...metricArgs,
        sample.oracle?.candidateIndex ?? null,
        finiteOrNull(sample.oracle?.predictedIou),
        sample.deployable?.candidateIndex ?? null,
        finiteOrNull(sample.deployable?.predictedIou),
        JSON.stringify(sample.candidates),
        sample.factors === null ? null : JSON.stringify(sample.factors),
        JSON.stringify(sample.prompt ?? null),
        sample.segmenterMs,
        sample.totalMs,
        new Date().toISOString(),
      );
      if (info.changes === 0) return false;
      if (curve) {
        for (const p of curve.points) {
          insertCurve.run(
            sample.jobId,
            sample.model,
            curve.protocol,
            sample.objectId,
            p.click,
            p.dice,
            p.iou,
          );
        }
      }
      return true;
    });
    return tx();
  }

  /** Number of samples a job has stored, optionally only those with a status. */
  countSamples(jobId: string, status?: 'ok' | 'failed'): number {
    const row =
      status === undefined
        ? this.db.prepare('SELECT COUNT(*) AS n FROM samples WHERE job_id = ?').get(jobId)
        : this.db
            .prepare('SELECT COUNT(*) AS n FROM samples WHERE job_id = ? AND status = ?')
            .get(jobId, status);
    return (row as { n: number }).n;
  }

  /** Every sample of a job, in insertion order. */
  listSamples(jobId: string): SampleRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM samples WHERE job_id = ? ORDER BY rowid')
      .all(jobId) as SampleDbRow[];
    return rows.map(toSampleRecord);
  }

  /** Interactive curves of a job: one entry per model x protocol x object, clicks ascending. */
  listCurves(
    jobId: string,
  ): Array<{ model: string; protocol: string; objectId: string; points: CurvePoint[] }> {
    const rows = this.db
      .prepare(
        'SELECT model, protocol, object_id, click, dice, iou FROM curves WHERE job_id = ? ORDER BY model, protocol, object_id, click',
      )
      .all(jobId) as Array<{
      model: string;
      protocol: string;
      object_id: string;
      click: number;
      dice: number;
      iou: number;
    }>;
    const out: Array<{ model: string; protocol: string; objectId: string; points: CurvePoint[] }> = [];
    for (const r of rows) {
      const last = out[out.length - 1];
      if (last && last.model === r.model && last.protocol === r.protocol && last.objectId === r.object_id) {
        last.points.push({ click: r.click, dice: r.dice, iou: r.iou });
      } else {
        out.push({
          model: r.model,
          protocol: r.protocol,
          objectId: r.object_id,
          points: [{ click: r.click, dice: r.dice, iou: r.iou }],
        });
      }
    }
    return out;
  }
}

/** The identity of a sample within a job, as {@link JobStore.doneKeys} lists it. */
export function sampleKey(model: string, strategy: string, objectId: string, variant: number): string {
  return `${model}|${strategy}|${objectId}|${variant}`;
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function toDatasetRow(r: SampleDbRow): DatasetRow {
  return {
    id: r.id as string,
    name: r.name as string,
    root: r.root as string,
    layout: r.layout as string,
    modality: r.modality as string,
    options: JSON.parse(r.options_json as string) as Record<string, unknown>,
    stats: JSON.parse(r.stats_json as string) as unknown,
    problems: JSON.parse(r.problems_json as string) as unknown[],
    createdAt: r.created_at as string,
  };
}

function toJobRow(r: SampleDbRow): JobRow {
  return {
    id: r.id as string,
    datasetId: r.dataset_id as string,
    config: JSON.parse(r.config_json as string) as BenchmarkConfig,
    status: r.status as JobStatus,
    total: r.total as number,
    error: (r.error as string | null) ?? null,
    owner: (r.owner as string | null | undefined) ?? null,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

function readChoice(r: SampleDbRow, prefix: 'oracle' | 'deploy'): ChoiceResult | null {
  const index = r[`${prefix}_index`] as number | null;
  if (index === null) return null;
  const metrics = {} as MetricValues;
  for (const m of METRIC_NAMES) metrics[m] = (r[`${prefix}_${m}`] as number | null) ?? null;
  return {
    candidateIndex: index,
    predictedIou: (r[`${prefix}_pred_iou`] as number | null) ?? Number.NaN,
    metrics,
  };
}

function toSampleRecord(r: SampleDbRow): SampleRecord {
  return {
    jobId: r.job_id as string,
    model: r.model as string,
    strategy: r.strategy as string,
    variant: r.variant as number,
    objectId: r.object_id as string,
    imageId: r.image_id as string,
    classValue: r.class_value as number,
    className: r.class_name as string,
    modality: r.modality as string,
    status: r.status as 'ok' | 'failed',
    failureReason: (r.failure_reason as string | null) ?? null,
    oracle: readChoice(r, 'oracle'),
    deployable: readChoice(r, 'deploy'),
    candidates: JSON.parse(r.candidates_json as string) as SampleRecord['candidates'],
    factors: r.factors_json === null ? null : (JSON.parse(r.factors_json as string) as FactorValues),
    prompt: r.prompt_json === null ? null : (JSON.parse(r.prompt_json as string) as unknown),
    segmenterMs: r.segmenter_ms as number,
    totalMs: r.total_ms as number,
  };
}
