/**
 * The SQLite state store (better-sqlite3): one file in STATE_DIR, zero setup, what `npm start` uses. Every
 * finished sample is committed on its own, and a UNIQUE key on (job, model, strategy, object, variant) makes
 * a repeated sample impossible, so a job killed at any point resumes exactly where its last commit left it.
 * Migrations run under `BEGIN IMMEDIATE`, SQLite's database-wide write lock, so processes opening one file
 * at once migrate it once. Events reach listeners of the same file in this process only.
 */
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { CurvePoint, JobStatus, MetricTable, SampleRecord } from '../../bench/types.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, metricColumnAdditions } from '../migrations.ts';
import {
  SAMPLE_COLUMNS,
  groupCurves,
  sampleValues,
  fineTunePatchSql,
  toDatasetRow,
  toFineTuneRow,
  toJobRow,
  toSampleRecord,
  type DbRow,
} from '../rows.ts';
import {
  checkPayload,
  sampleKey,
  activeJobsLimit,
  StoreError,
  type ChannelListener,
  type DatasetRow,
  type FineTuneConfig,
  type FineTuneCreate,
  type FineTuneJobRow,
  type FineTunePatch,
  type JobRow,
  type LeaseState,
  type PromptKey,
  type RecordEntry,
  type StateStore,
  type StoredCurve,
  type StoredPrompt,
} from '../state-store.ts';

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * `FULL` (default) fsyncs the WAL at every commit, so a sample reported as done also survives a power or
   * OS failure (one fsync per sample, 5-10 ms on the development disk; `npm run bench -- bench` prints FULL
   * against NORMAL). `NORMAL` loses the last few samples on power failure; they are recomputed on resume,
   * never duplicated.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** Clock in ms since the epoch (tests). */
  now?: () => number;
}

/** The tables whose rows carry a lease (same columns in both). */
type LeasedTable = 'jobs' | 'finetune_jobs';

// Listeners of one database file within this process, by absolute path.
const channels = new Map<string, EventEmitter>();

/** SQLite implementation of {@link StateStore}. */
export class SqliteStore implements StateStore {
  readonly kind = 'sqlite' as const;
  /** The open database (tests and the CLI's shard merge read it directly). */
  readonly db: Database.Database;
  private readonly now: () => number;
  private readonly bus: EventEmitter;
  private readonly file: string;

  /** Opens (creating if needed) the store at `file` (`:memory:` for tests) and migrates it. */
  constructor(file: string, options: SqliteStoreOptions = {}) {
    const synchronous = options.synchronous ?? 'FULL';
    if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
      throw new RangeError(`synchronous must be FULL or NORMAL, got ${String(synchronous)}`);
    }
    this.now = options.now ?? Date.now;
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrateSqlite(this.db);
    this.file = file === ':memory:' ? `:memory:${Math.random()}` : resolve(file);
    let bus = channels.get(this.file);
    if (!bus) {
      bus = new EventEmitter();
      bus.setMaxListeners(0);
      channels.set(this.file, bus);
    }
    this.bus = bus;
  }

  async schemaVersion(): Promise<number> {
    return readVersion(this.db);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async putDataset(row: Omit<DatasetRow, 'createdAt'> & { createdAt?: string }): Promise<DatasetRow> {
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

  async getDataset(id: string): Promise<DatasetRow | undefined> {
    const r = this.db.prepare('SELECT * FROM datasets WHERE id = ?').get(id) as DbRow | undefined;
    return r === undefined ? undefined : toDatasetRow(r);
  }

  async listDatasets(): Promise<DatasetRow[]> {
    return (this.db.prepare('SELECT * FROM datasets ORDER BY created_at, id').all() as DbRow[]).map(
      toDatasetRow,
    );
  }

  async createJob(
    id: string,
    config: JobRow['config'],
    lease?: { owner: string; ttlMs: number },
    owner: string | null = null,
    maxActivePerOwner?: number,
  ): Promise<JobRow> {
    const now = new Date().toISOString();
    // Under BEGIN IMMEDIATE (SQLite's write lock) the count and the insert are one step for every process.
    const create = this.db.transaction((): void => {
      if (maxActivePerOwner !== undefined) {
        const r = this.db
          .prepare(`SELECT COUNT(*) AS n FROM jobs WHERE owner IS ? AND status IN ('queued','running')`)
          .get(owner) as { n: number };
        if (r.n >= maxActivePerOwner) throw activeJobsLimit(r.n, maxActivePerOwner);
      }
      this.db
        .prepare(
          `INSERT INTO jobs (id, dataset_id, config_json, status, total, error, created_at, updated_at,
             lease_owner, lease_expires_ms, owner)
           VALUES (?, ?, ?, 'queued', 0, NULL, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          config.dataset,
          JSON.stringify(config),
          now,
          now,
          lease?.owner ?? null,
          lease ? this.now() + lease.ttlMs : null,
          owner,
        );
    });
    try {
      create.immediate();
    } catch (err: unknown) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new StoreError(`job '${id}' already exists`, 'CONFLICT');
      }
      throw err;
    }
    return (await this.getJob(id))!;
  }

  async getJob(id: string): Promise<JobRow | undefined> {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as DbRow | undefined;
    return r === undefined ? undefined : toJobRow(r);
  }

  async listJobs(status?: JobStatus): Promise<JobRow[]> {
    const rows =
      status === undefined
        ? this.db.prepare('SELECT * FROM jobs ORDER BY created_at DESC, id').all()
        : this.db.prepare('SELECT * FROM jobs WHERE status = ? ORDER BY created_at DESC, id').all(status);
    return (rows as DbRow[]).map(toJobRow);
  }

  async setJobStatus(id: string, status: JobStatus, error: string | null = null): Promise<void> {
    const terminal = status === 'completed' || status === 'cancelled' || status === 'failed';
    const info = this.db
      .prepare(
        `UPDATE jobs SET status = ?, error = ?, updated_at = ?,
           lease_owner = CASE WHEN ? THEN NULL ELSE lease_owner END,
           lease_expires_ms = CASE WHEN ? THEN NULL ELSE lease_expires_ms END,
           cancel_requested = CASE WHEN ? THEN 0 ELSE cancel_requested END
         WHERE id = ?`,
      )
      .run(
        status,
        error,
        new Date().toISOString(),
        terminal ? 1 : 0,
        terminal ? 1 : 0,
        terminal || status === 'queued' ? 1 : 0,
        id,
      );
    if (info.changes !== 1) throw new StoreError(`job '${id}' does not exist`, 'NOT_FOUND');
  }

  async setJobTotal(id: string, total: number): Promise<void> {
    this.db
      .prepare('UPDATE jobs SET total = ?, updated_at = ? WHERE id = ?')
      .run(total, new Date().toISOString(), id);
  }

  async claimJob(
    id: string,
    owner: string,
    ttlMs: number,
    stale?: (owner: string) => boolean,
  ): Promise<boolean> {
    return this.claimIn('jobs', id, owner, ttlMs, stale);
  }

  async requeueJob(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.requeueIn('jobs', id, owner, ttlMs, '');
  }

  async renewLease(id: string, owner: string, ttlMs: number): Promise<LeaseState> {
    return this.renewIn('jobs', id, owner, ttlMs);
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    this.db
      .prepare('UPDATE jobs SET lease_owner = NULL, lease_expires_ms = NULL WHERE id = ? AND lease_owner = ?')
      .run(id, owner);
  }

  async requestCancel(id: string): Promise<boolean> {
    return this.cancelIn('jobs', id);
  }

  async claimableJobs(stale?: (owner: string) => boolean): Promise<string[]> {
    return this.claimableIn('jobs', stale);
  }

  async createFineTuneJob(
    id: string,
    config: FineTuneConfig,
    create: FineTuneCreate,
  ): Promise<FineTuneJobRow> {
    const now = new Date().toISOString();
    const tx = this.db.transaction((): void => {
      // Under BEGIN IMMEDIATE (SQLite's write lock) the counts and the insert are one step for every process.
      if (create.maxActivePerOwner !== undefined) {
        const r = this.db
          .prepare(
            `SELECT COUNT(*) AS n FROM finetune_jobs WHERE owner IS ? AND status IN ('queued','running')`,
          )
          .get(create.owner) as { n: number };
        if (r.n >= create.maxActivePerOwner) {
          throw new StoreError(
            `this caller runs ${r.n} fine-tuning jobs (limit ${create.maxActivePerOwner} per caller); wait or cancel one`,
            'LIMIT_EXCEEDED',
          );
        }
      }
      const clash = this.db
        .prepare(`SELECT id FROM finetune_jobs WHERE model_name = ? AND status IN ('queued','running')`)
        .get(config.modelName) as { id: string } | undefined;
      if (clash) {
        throw new StoreError(`job ${clash.id} is already training '${config.modelName}'`, 'CONFLICT');
      }
      try {
        this.db
          .prepare(
            `INSERT INTO finetune_jobs (id, config_json, status, owner, model_name, lease_owner, lease_expires_ms,
               created_at, updated_at) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            id,
            JSON.stringify(config),
            create.owner,
            config.modelName,
            create.lease.owner,
            this.now() + create.lease.ttlMs,
            now,
            now,
          );
      } catch (err: unknown) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new StoreError(`fine-tuning job '${id}' already exists`, 'CONFLICT');
        }
        throw err;
      }
    });
    tx.immediate();
    return (await this.getFineTuneJob(id))!;
  }

  async getFineTuneJob(id: string): Promise<FineTuneJobRow | undefined> {
    const r = this.db.prepare('SELECT * FROM finetune_jobs WHERE id = ?').get(id) as DbRow | undefined;
    return r === undefined ? undefined : toFineTuneRow(r);
  }

  async listFineTuneJobs(): Promise<FineTuneJobRow[]> {
    return (this.db.prepare('SELECT * FROM finetune_jobs ORDER BY created_at DESC, id').all() as DbRow[]).map(
      toFineTuneRow,
    );
  }

  async updateFineTuneJob(id: string, patch: FineTunePatch, leaseOwner?: string): Promise<void> {
    const { set, values } = fineTunePatchSql(patch, 1, false);
    const fence = leaseOwner === undefined ? '' : ' AND lease_owner = ?';
    const info = this.db
      .prepare(`UPDATE finetune_jobs SET ${set} WHERE id = ?${fence}`)
      .run(...values, id, ...(leaseOwner === undefined ? [] : [leaseOwner]));
    if (info.changes === 1) return;
    if ((await this.getFineTuneJob(id)) === undefined) {
      throw new StoreError(`fine-tuning job '${id}' does not exist`, 'NOT_FOUND');
    }
    throw new StoreError(`fine-tuning job '${id}' is no longer leased to ${leaseOwner}`, 'CONFLICT');
  }

  async claimFineTuneJob(
    id: string,
    owner: string,
    ttlMs: number,
    stale?: (owner: string) => boolean,
  ): Promise<boolean> {
    return this.claimIn('finetune_jobs', id, owner, ttlMs, stale);
  }

  async requeueFineTuneJob(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.requeueIn('finetune_jobs', id, owner, ttlMs, ', error_code = NULL');
  }

  async renewFineTuneLease(id: string, owner: string, ttlMs: number): Promise<LeaseState> {
    return this.renewIn('finetune_jobs', id, owner, ttlMs);
  }

  async requestFineTuneCancel(id: string): Promise<boolean> {
    return this.cancelIn('finetune_jobs', id);
  }

  async claimableFineTuneJobs(stale?: (owner: string) => boolean): Promise<string[]> {
    return this.claimableIn('finetune_jobs', stale);
  }

  // The lease operations of both leased tables (`jobs`, `finetune_jobs`: the same lease columns).
  private claimIn(
    table: LeasedTable,
    id: string,
    owner: string,
    ttlMs: number,
    stale?: (owner: string) => boolean,
  ): boolean {
    const now = this.now();
    const tx = this.db.transaction((): boolean => {
      const r = this.db
        .prepare(`SELECT status, lease_owner, lease_expires_ms FROM ${table} WHERE id = ?`)
        .get(id) as
        { status: string; lease_owner: string | null; lease_expires_ms: number | null } | undefined;
      if (!r || (r.status !== 'queued' && r.status !== 'running')) return false;
      const free =
        r.lease_owner === null ||
        r.lease_owner === owner ||
        (r.lease_expires_ms ?? 0) <= now ||
        (stale?.(r.lease_owner) ?? false);
      if (!free) return false;
      this.db
        .prepare(`UPDATE ${table} SET lease_owner = ?, lease_expires_ms = ? WHERE id = ?`)
        .run(owner, now + ttlMs, id);
      return true;
    });
    return tx.immediate();
  }

  private requeueIn(table: LeasedTable, id: string, owner: string, ttlMs: number, extra: string): boolean {
    const info = this.db
      .prepare(
        `UPDATE ${table} SET status = 'queued', error = NULL${extra}, cancel_requested = 0, lease_owner = ?,
           lease_expires_ms = ?, updated_at = ?
         WHERE id = ? AND status IN ('cancelled','failed')`,
      )
      .run(owner, this.now() + ttlMs, new Date().toISOString(), id);
    return info.changes === 1;
  }

  private renewIn(table: LeasedTable, id: string, owner: string, ttlMs: number): LeaseState {
    const info = this.db
      .prepare(
        `UPDATE ${table} SET lease_expires_ms = ? WHERE id = ? AND lease_owner = ? AND status IN ('queued','running')`,
      )
      .run(this.now() + ttlMs, id, owner);
    const r = this.db.prepare(`SELECT cancel_requested FROM ${table} WHERE id = ?`).get(id) as
      { cancel_requested: number } | undefined;
    return { held: info.changes === 1, cancelRequested: r?.cancel_requested === 1 };
  }

  private cancelIn(table: LeasedTable, id: string): boolean {
    const info = this.db
      .prepare(
        `UPDATE ${table} SET cancel_requested = 1, updated_at = ? WHERE id = ? AND status IN ('queued','running')`,
      )
      .run(new Date().toISOString(), id);
    return info.changes === 1;
  }

  private claimableIn(table: LeasedTable, stale?: (owner: string) => boolean): string[] {
    const rows = this.db
      .prepare(
        `SELECT id, lease_owner, lease_expires_ms FROM ${table} WHERE status IN ('queued','running')
         ORDER BY created_at, id`,
      )
      .all() as Array<{ id: string; lease_owner: string | null; lease_expires_ms: number | null }>;
    const now = this.now();
    return rows
      .filter(
        (r) =>
          r.lease_owner === null || (r.lease_expires_ms ?? 0) <= now || (stale?.(r.lease_owner) ?? false),
      )
      .map((r) => r.id);
  }

  async getPrompt(key: PromptKey): Promise<StoredPrompt | undefined> {
    const r = this.db
      .prepare(
        `SELECT prompt_json, failure FROM prompt_sets WHERE dataset_id = ? AND object_id = ? AND strategy = ?
         AND mode = ? AND randomness = ? AND seed = ?`,
      )
      .get(key.datasetId, key.objectId, key.strategy, key.mode, key.randomness, key.seed) as
      { prompt_json: string; failure: string | null } | undefined;
    return r === undefined ? undefined : { prompt: JSON.parse(r.prompt_json), failure: r.failure };
  }

  async putPrompt(key: PromptKey, value: StoredPrompt): Promise<StoredPrompt> {
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
    return (await this.getPrompt(key))!;
  }

  async doneKeys(jobId: string): Promise<Set<string>> {
    const rows = this.db
      .prepare('SELECT model, strategy, object_id, variant FROM samples WHERE job_id = ?')
      .all(jobId) as Array<{ model: string; strategy: string; object_id: string; variant: number }>;
    return new Set(rows.map((r) => sampleKey(r.model, r.strategy, r.object_id, r.variant)));
  }

  async putSample(
    sample: SampleRecord,
    curve?: { protocol: string; points: CurvePoint[] },
    leaseOwner?: string,
  ): Promise<boolean> {
    const insertSample = this.db.prepare(
      `INSERT INTO samples (${SAMPLE_COLUMNS.join(', ')})
       VALUES (${SAMPLE_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`,
    );
    const insertCurve = this.db.prepare(
      `INSERT INTO curves (job_id, model, protocol, object_id, click, dice, iou) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    );
    const tx = this.db.transaction((): boolean => {
      if (leaseOwner !== undefined) {
        const r = this.db.prepare('SELECT lease_owner FROM jobs WHERE id = ?').get(sample.jobId) as
          { lease_owner: string | null } | undefined;
        if (r?.lease_owner !== leaseOwner) {
          throw new StoreError(`job '${sample.jobId}' is no longer leased to ${leaseOwner}`, 'CONFLICT');
        }
      }
      const info = insertSample.run(...sampleValues(sample, new Date().toISOString()));
      if (info.changes === 0) return false;
      for (const p of curve?.points ?? []) {
        insertCurve.run(sample.jobId, sample.model, curve!.protocol, sample.objectId, p.click, p.dice, p.iou);
      }
      return true;
    });
    return tx.immediate();
  }

  async countSamples(jobId: string, status?: 'ok' | 'failed'): Promise<number> {
    const row =
      status === undefined
        ? this.db.prepare('SELECT COUNT(*) AS n FROM samples WHERE job_id = ?').get(jobId)
        : this.db
            .prepare('SELECT COUNT(*) AS n FROM samples WHERE job_id = ? AND status = ?')
            .get(jobId, status);
    return (row as { n: number }).n;
  }

  async listSamples(jobId: string): Promise<SampleRecord[]> {
    const rows = this.db
      .prepare('SELECT * FROM samples WHERE job_id = ? ORDER BY rowid')
      .all(jobId) as DbRow[];
    return rows.map(toSampleRecord);
  }

  async listCurves(jobId: string): Promise<StoredCurve[]> {
    const rows = this.db
      .prepare(
        'SELECT model, protocol, object_id, click, dice, iou FROM curves WHERE job_id = ? ORDER BY model, protocol, object_id, click',
      )
      .all(jobId) as DbRow[];
    return groupCurves(rows);
  }

  async putRecord(entry: Omit<RecordEntry, 'version'>, expectVersion?: number): Promise<number | null> {
    const tx = this.db.transaction((): number | null => {
      const r = this.db
        .prepare('SELECT version, expires_ms FROM records WHERE namespace = ? AND key = ?')
        .get(entry.namespace, entry.key) as { version: number; expires_ms: number | null } | undefined;
      // An expired record counts as absent (version 0).
      const live = r !== undefined && (r.expires_ms === null || r.expires_ms > this.now());
      const current = live ? r.version : 0;
      if (expectVersion !== undefined && expectVersion !== current) return null;
      const next = current + 1;
      this.db
        .prepare(
          `INSERT INTO records (namespace, key, value_json, bytes, version, expires_ms) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (namespace, key) DO UPDATE SET value_json = excluded.value_json, bytes = excluded.bytes,
             version = excluded.version, expires_ms = excluded.expires_ms`,
        )
        .run(
          entry.namespace,
          entry.key,
          JSON.stringify(entry.value ?? null),
          entry.bytes,
          next,
          entry.expiresMs,
        );
      return next;
    });
    return tx.immediate();
  }

  async getRecord(namespace: string, key: string, touchMs?: number): Promise<RecordEntry | undefined> {
    const r = this.db.prepare('SELECT * FROM records WHERE namespace = ? AND key = ?').get(namespace, key) as
      DbRow | undefined;
    if (!r) return undefined;
    const expiresMs = r.expires_ms === null ? null : Number(r.expires_ms);
    const now = this.now();
    if (expiresMs !== null && expiresMs <= now) return undefined;
    let expiry = expiresMs;
    if (touchMs !== undefined) {
      expiry = now + touchMs;
      this.db
        .prepare('UPDATE records SET expires_ms = ? WHERE namespace = ? AND key = ?')
        .run(expiry, namespace, key);
    }
    return {
      namespace,
      key,
      value: JSON.parse(r.value_json as string) as unknown,
      bytes: r.bytes === null ? null : Buffer.from(r.bytes as Uint8Array),
      version: Number(r.version),
      expiresMs: expiry,
    };
  }

  async deleteRecord(namespace: string, key: string): Promise<boolean> {
    return (
      this.db.prepare('DELETE FROM records WHERE namespace = ? AND key = ?').run(namespace, key).changes === 1
    );
  }

  async countRecords(namespace: string, prefix = ''): Promise<number> {
    const r = this.db
      .prepare(
        `SELECT COUNT(*) AS n FROM records WHERE namespace = ? AND substr(key, 1, ?) = ?
         AND (expires_ms IS NULL OR expires_ms > ?)`,
      )
      .get(namespace, prefix.length, prefix, this.now()) as { n: number };
    return r.n;
  }

  async listRecords(namespace: string, prefix = ''): Promise<RecordEntry[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM records WHERE namespace = ? AND substr(key, 1, ?) = ?
         AND (expires_ms IS NULL OR expires_ms > ?) ORDER BY key`,
      )
      .all(namespace, prefix.length, prefix, this.now()) as DbRow[];
    return rows.map((r) => ({
      namespace,
      key: r.key as string,
      value: JSON.parse(r.value_json as string) as unknown,
      bytes: r.bytes === null ? null : Buffer.from(r.bytes as Uint8Array),
      version: Number(r.version),
      expiresMs: r.expires_ms === null ? null : Number(r.expires_ms),
    }));
  }

  async putRecordBounded(
    entry: Omit<RecordEntry, 'version'>,
    prefix: string,
    max: number,
  ): Promise<number | null> {
    // BEGIN IMMEDIATE holds SQLite's write lock from the count to the insert, for every process on the file.
    const tx = this.db.transaction((): number | null => {
      const r = this.db
        .prepare(
          `SELECT COUNT(*) AS n FROM records WHERE namespace = ? AND substr(key, 1, ?) = ?
           AND (expires_ms IS NULL OR expires_ms > ?)`,
        )
        .get(entry.namespace, prefix.length, prefix, this.now()) as { n: number };
      if (r.n >= max) return null;
      const info = this.db
        .prepare(
          `INSERT INTO records (namespace, key, value_json, bytes, version, expires_ms) VALUES (?, ?, ?, ?, 1, ?)
           ON CONFLICT (namespace, key) DO UPDATE SET value_json = excluded.value_json, bytes = excluded.bytes,
             version = 1, expires_ms = excluded.expires_ms
           WHERE records.expires_ms IS NOT NULL AND records.expires_ms <= ?`,
        )
        .run(
          entry.namespace,
          entry.key,
          JSON.stringify(entry.value ?? null),
          entry.bytes,
          entry.expiresMs,
          this.now(),
        );
      return info.changes === 1 ? 1 : null;
    });
    return tx.immediate();
  }

  async sweepRecords(): Promise<number> {
    return this.db
      .prepare('DELETE FROM records WHERE expires_ms IS NOT NULL AND expires_ms <= ?')
      .run(this.now()).changes;
  }

  async takeToken(
    caller: string,
    ratePerSecond: number,
    burst: number,
  ): Promise<{ allowed: boolean; tokens: number }> {
    const tx = this.db.transaction((): { allowed: boolean; tokens: number } => {
      const now = this.now();
      const r = this.db
        .prepare('SELECT tokens, updated_ms FROM rate_buckets WHERE caller = ?')
        .get(caller) as { tokens: number; updated_ms: number } | undefined;
      const refilled = r ? Math.min(burst, r.tokens + ((now - r.updated_ms) / 1000) * ratePerSecond) : burst;
      const allowed = refilled >= 1;
      const tokens = allowed ? refilled - 1 : refilled;
      this.db
        .prepare(
          `INSERT INTO rate_buckets (caller, tokens, updated_ms) VALUES (?, ?, ?)
           ON CONFLICT (caller) DO UPDATE SET tokens = excluded.tokens, updated_ms = excluded.updated_ms`,
        )
        .run(caller, tokens, now);
      return { allowed, tokens };
    });
    return tx.immediate();
  }

  /**
   * Copies the datasets, jobs, prompt sets, samples and curves of another SQLite store file (a shard run on
   * this machine) into this one, skipping rows already here (same job id, same sample key). Reads only the
   * columns every schema version has, so files of older releases merge too. Returns the rows added.
   */
  mergeFrom(file: string): { jobs: number; samples: number } {
    this.db.prepare('ATTACH DATABASE ? AS src').run(file);
    try {
      const copy = (table: string): number => {
        const cols = (this.db.prepare(`PRAGMA src.table_info(${table})`).all() as Array<{ name: string }>)
          .map((c) => c.name)
          .filter((c) =>
            (this.db.prepare(`PRAGMA main.table_info(${table})`).all() as Array<{ name: string }>).some(
              (m) => m.name === c,
            ),
          );
        if (cols.length === 0)
          throw new StoreError(`${file} has no ${table} table: not a medseg store`, 'BAD_REQUEST');
        const list = cols.join(', ');
        return this.db
          .prepare(`INSERT OR IGNORE INTO main.${table} (${list}) SELECT ${list} FROM src.${table}`)
          .run().changes;
      };
      return this.db.transaction(() => {
        copy('datasets');
        const jobs = copy('jobs');
        copy('prompt_sets');
        const samples = copy('samples');
        copy('curves');
        return { jobs, samples };
      })();
    } finally {
      this.db.prepare('DETACH DATABASE src').run();
    }
  }

  async publish(channel: string, payload: string): Promise<void> {
    checkPayload(channel, payload);
    this.bus.emit(channel, payload);
  }

  async listen(channel: string, listener: ChannelListener): Promise<() => Promise<void>> {
    checkPayload(channel, '');
    this.bus.on(channel, listener);
    return async () => {
      this.bus.off(channel, listener);
    };
  }
}

function readVersion(db: Database.Database): number {
  const r = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return r.v ?? 0;
}

/**
 * Brings a database to the latest schema inside one `BEGIN IMMEDIATE` transaction: concurrent openers wait
 * on SQLite's write lock (busy_timeout) and then find nothing left to do. A file newer than this release
 * (written by a later one) is used as is: migrations only add, so this release's statements still work.
 * Then adds the metric columns of `metrics` (default the benchmark's table) the samples table lacks.
 */
export function migrateSqlite(db: Database.Database, metrics?: MetricTable): number {
  const run = db.transaction((): number => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
    );
    let version = readVersion(db);
    for (const m of MIGRATIONS) {
      if (m.version <= version) continue;
      execTolerant(db, m.sqlite);
      db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(
        m.version,
        new Date().toISOString(),
      );
      version = m.version;
    }
    const columns = db.prepare('PRAGMA table_info(samples)').all() as Array<{ name: string }>;
    const names = columns.map((c) => c.name);
    for (const add of metricColumnAdditions(names, 'sqlite', metrics)) db.exec(add);
    return Math.max(version, LATEST_SCHEMA_VERSION);
  });
  return run.immediate();
}

/**
 * Runs a migration's statements one by one; an `ADD COLUMN` of a column that already exists is skipped,
 * because SQLite has no `ADD COLUMN IF NOT EXISTS` and a file written by the pre-versioning job store may
 * already carry the column (its `owner` was added at open).
 */
function execTolerant(db: Database.Database, sql: string): void {
  for (const statement of sql.split(';')) {
    if (statement.trim().length === 0) continue;
    try {
      db.exec(statement);
    } catch (err: unknown) {
      if (/ADD COLUMN/i.test(statement) && /duplicate column name/i.test(String(err))) continue;
      throw err;
    }
  }
}
