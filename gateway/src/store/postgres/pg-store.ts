/**
 * The PostgreSQL state store (node-postgres `pg`), shared by every gateway replica (DATABASE_URL). Leases
 * use the database's clock, so replicas with skewed clocks still agree on when a lease ends. Migrations run
 * under a session advisory lock, so ten replicas starting at once migrate once. Events travel as
 * LISTEN/NOTIFY on one channel; the listening connection reconnects with backoff after the database returns.
 */
import pg from 'pg';
import type { CurvePoint, JobStatus, SampleRecord } from '../../bench/types.ts';
import { MIGRATIONS, metricColumnAdditions } from '../migrations.ts';
import {
  SAMPLE_COLUMNS,
  groupCurves,
  num,
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

/** The advisory lock key that serialises migrations (any constant shared by every release). */
const MIGRATION_LOCK_KEY = 715_150_001;
/** The transaction advisory lock that serialises fine-tuning job creation (the per-caller bound). */
const FINETUNE_CREATE_LOCK_KEY = 715_150_002;
/** The first key of the two-key advisory locks of bounded record inserts (the second hashes the bound). */
const BOUND_LOCK_CLASS = 715_150;
/** The tables whose rows carry a lease (same columns in both). */
type LeasedTable = 'jobs' | 'finetune_jobs';
/** The one NOTIFY channel; the store's channels travel inside the payload. */
const NOTIFY_CHANNEL = 'medseg_events';
const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;
const NOW_F = `(extract(epoch from clock_timestamp()) * 1000)::float8`;

/** Options of {@link PgStore.open}. */
export interface PgStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Pool size (default 10). */
  maxConnections?: number;
  /** Connect timeout of one attempt in milliseconds (default 5000). */
  connectTimeoutMs?: number;
  /** Called with problems the store recovers from (listener reconnects, idle client errors). */
  onWarning?: (message: string) => void;
  /** Clock of record expiry in ms since the epoch (tests). */
  now?: () => number;
}

/**
 * True for errors that mean the database could not be reached or went away (as opposed to a bad statement):
 * socket errors, and PostgreSQL's connection-exception (08), operator-intervention (57P) and
 * cannot-connect-now classes.
 */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') {
    return (
      err instanceof Error &&
      /Connection terminated|connection timeout|Client has encountered a connection error/i.test(err.message)
    );
  }
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(
      code,
    ) ||
    code.startsWith('08') ||
    code.startsWith('57P')
  );
}

/** PostgreSQL implementation of {@link StateStore}. */
export class PgStore implements StateStore {
  readonly kind = 'postgres' as const;
  private readonly listeners = new Map<string, Set<ChannelListener>>();
  private listenClient: pg.Client | undefined;
  private listenStarting: Promise<void> | undefined;
  private closed = false;
  private readonly now: () => number;
  private reconnectTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PgStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Connects, migrates under the advisory lock, and returns the store; StoreError UNAVAILABLE when unreachable. */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    });
    // An idle client losing its connection emits on the pool; unhandled it would end the process.
    pool.on('error', (err) => options.onWarning?.(`idle database connection lost: ${err.message}`));
    const store = new PgStore(pool, options);
    try {
      await store.migrate();
    } catch (err: unknown) {
      await pool.end().catch(() => {});
      throw wrap(err);
    }
    return store;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    client.on('error', ignore);
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
        );
        const r = await client.query('SELECT COALESCE(MAX(version), 0) AS v FROM schema_version');
        let version = num((r.rows[0] as DbRow).v);
        for (const m of MIGRATIONS) {
          if (m.version <= version) continue;
          await client.query('BEGIN');
          try {
            await client.query(m.postgres);
            await client.query('INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)', [
              m.version,
              new Date().toISOString(),
            ]);
            await client.query('COMMIT');
          } catch (err: unknown) {
            await client.query('ROLLBACK').catch(() => {});
            throw err;
          }
          version = m.version;
        }
        const columns = await client.query(
          "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'samples'",
        );
        const names = columns.rows.map((c: DbRow) => c.column_name as string);
        for (const add of metricColumnAdditions(names, 'postgres')) await client.query(add);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
      }
    } finally {
      client.off('error', ignore);
      client.release();
    }
  }

  private async q(text: string, values: unknown[] = []): Promise<pg.QueryResult<DbRow>> {
    try {
      return await this.pool.query<DbRow>(text, values);
    } catch (err: unknown) {
      throw wrap(err);
    }
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err: unknown) {
      throw wrap(err);
    }
    // A checked-out client whose connection drops emits 'error'; the failing query reports it already.
    client.on('error', ignore);
    let broken = false;
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err: unknown) {
      broken = isConnectionError(err);
      if (!broken) await client.query('ROLLBACK').catch(() => {});
      throw wrap(err);
    } finally {
      client.off('error', ignore);
      // A connection that failed is closed rather than handed to the next caller.
      client.release(broken);
    }
  }

  async schemaVersion(): Promise<number> {
    const r = await this.q('SELECT COALESCE(MAX(version), 0) AS v FROM schema_version');
    return num(r.rows[0].v);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const c = this.listenClient;
    this.listenClient = undefined;
    await c?.end().catch(() => {});
    await this.pool.end().catch(() => {});
  }

  async ping(): Promise<void> {
    await this.q('SELECT 1');
  }

  async putDataset(row: Omit<DatasetRow, 'createdAt'> & { createdAt?: string }): Promise<DatasetRow> {
    const createdAt = row.createdAt ?? new Date().toISOString();
    await this.q(
      `INSERT INTO datasets (id, name, root, layout, modality, options_json, stats_json, problems_json, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, root = EXCLUDED.root, layout = EXCLUDED.layout,
         modality = EXCLUDED.modality, options_json = EXCLUDED.options_json, stats_json = EXCLUDED.stats_json,
         problems_json = EXCLUDED.problems_json`,
      [
        row.id,
        row.name,
        row.root,
        row.layout,
        row.modality,
        JSON.stringify(row.options),
        JSON.stringify(row.stats),
        JSON.stringify(row.problems),
        createdAt,
      ],
    );
    return { ...row, createdAt };
  }

  async getDataset(id: string): Promise<DatasetRow | undefined> {
    const r = await this.q('SELECT * FROM datasets WHERE id = $1', [id]);
    return r.rows[0] === undefined ? undefined : toDatasetRow(r.rows[0]);
  }

  async listDatasets(): Promise<DatasetRow[]> {
    return (await this.q('SELECT * FROM datasets ORDER BY created_at, id')).rows.map(toDatasetRow);
  }

  async createJob(
    id: string,
    config: JobRow['config'],
    lease?: { owner: string; ttlMs: number },
    owner: string | null = null,
    maxActivePerOwner?: number,
  ): Promise<JobRow> {
    const now = new Date().toISOString();
    try {
      await this.tx(async (c) => {
        if (maxActivePerOwner !== undefined) {
          // A transaction advisory lock per caller makes the count and the insert one step on every replica.
          await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
            BOUND_LOCK_CLASS,
            `jobs|${owner}`,
          ]);
          const r = await c.query(
            `SELECT COUNT(*) AS n FROM jobs WHERE owner IS NOT DISTINCT FROM $1::text
             AND status IN ('queued','running')`,
            [owner],
          );
          const n = num((r.rows[0] as DbRow).n);
          if (n >= maxActivePerOwner) throw activeJobsLimit(n, maxActivePerOwner);
        }
        await c.query(
          `INSERT INTO jobs (id, dataset_id, config_json, status, total, error, created_at, updated_at,
             lease_owner, lease_expires_ms, owner)
           VALUES ($1, $2, $3, 'queued', 0, NULL, $4, $4, $5::text,
             CASE WHEN $5::text IS NULL THEN NULL ELSE ${NOW_MS} + $6::bigint END, $7::text)`,
          [id, config.dataset, JSON.stringify(config), now, lease?.owner ?? null, lease?.ttlMs ?? 0, owner],
        );
      });
    } catch (err: unknown) {
      if ((err as { code?: string }).code === '23505')
        throw new StoreError(`job '${id}' already exists`, 'CONFLICT');
      throw err;
    }
    return (await this.getJob(id))!;
  }

  async getJob(id: string): Promise<JobRow | undefined> {
    const r = await this.q('SELECT * FROM jobs WHERE id = $1', [id]);
    return r.rows[0] === undefined ? undefined : toJobRow(r.rows[0]);
  }

  async listJobs(status?: JobStatus): Promise<JobRow[]> {
    const r =
      status === undefined
        ? await this.q('SELECT * FROM jobs ORDER BY created_at DESC, id')
        : await this.q('SELECT * FROM jobs WHERE status = $1 ORDER BY created_at DESC, id', [status]);
    return r.rows.map(toJobRow);
  }

  async setJobStatus(id: string, status: JobStatus, error: string | null = null): Promise<void> {
    const terminal = status === 'completed' || status === 'cancelled' || status === 'failed';
    const r = await this.q(
      `UPDATE jobs SET status = $1, error = $2, updated_at = $3,
         lease_owner = CASE WHEN $4 THEN NULL ELSE lease_owner END,
         lease_expires_ms = CASE WHEN $4 THEN NULL ELSE lease_expires_ms END,
         cancel_requested = CASE WHEN $5 THEN 0 ELSE cancel_requested END
       WHERE id = $6`,
      [status, error, new Date().toISOString(), terminal, terminal || status === 'queued', id],
    );
    if (r.rowCount !== 1) throw new StoreError(`job '${id}' does not exist`, 'NOT_FOUND');
  }

  async setJobTotal(id: string, total: number): Promise<void> {
    await this.q('UPDATE jobs SET total = $1, updated_at = $2 WHERE id = $3', [
      total,
      new Date().toISOString(),
      id,
    ]);
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
    await this.q(
      'UPDATE jobs SET lease_owner = NULL, lease_expires_ms = NULL WHERE id = $1 AND lease_owner = $2',
      [id, owner],
    );
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
    await this.tx(async (c) => {
      // A transaction-scoped advisory lock serialises fine-tuning starts on every replica, so the counts
      // below and the insert are one step (two replicas cannot both see room for one more job).
      await c.query('SELECT pg_advisory_xact_lock($1)', [FINETUNE_CREATE_LOCK_KEY]);
      if (create.maxActivePerOwner !== undefined) {
        const r = await c.query(
          `SELECT COUNT(*) AS n FROM finetune_jobs WHERE owner IS NOT DISTINCT FROM $1::text
           AND status IN ('queued','running')`,
          [create.owner],
        );
        const n = num((r.rows[0] as DbRow).n);
        if (n >= create.maxActivePerOwner) {
          throw new StoreError(
            `this caller runs ${n} fine-tuning jobs (limit ${create.maxActivePerOwner} per caller); wait or cancel one`,
            'LIMIT_EXCEEDED',
          );
        }
      }
      const clash = await c.query(
        `SELECT id FROM finetune_jobs WHERE model_name = $1 AND status IN ('queued','running')`,
        [config.modelName],
      );
      if (clash.rows[0]) {
        throw new StoreError(
          `job ${(clash.rows[0] as DbRow).id as string} is already training '${config.modelName}'`,
          'CONFLICT',
        );
      }
      const ins = await c.query(
        `INSERT INTO finetune_jobs (id, config_json, status, owner, model_name, lease_owner, lease_expires_ms,
           created_at, updated_at) VALUES ($1, $2, 'queued', $3, $4, $5, ${NOW_MS} + $6::bigint, $7, $7)
         ON CONFLICT (id) DO NOTHING`,
        [
          id,
          JSON.stringify(config),
          create.owner,
          config.modelName,
          create.lease.owner,
          create.lease.ttlMs,
          now,
        ],
      );
      if (ins.rowCount !== 1) throw new StoreError(`fine-tuning job '${id}' already exists`, 'CONFLICT');
    });
    return (await this.getFineTuneJob(id))!;
  }

  async getFineTuneJob(id: string): Promise<FineTuneJobRow | undefined> {
    const r = await this.q('SELECT * FROM finetune_jobs WHERE id = $1', [id]);
    return r.rows[0] === undefined ? undefined : toFineTuneRow(r.rows[0]);
  }

  async listFineTuneJobs(): Promise<FineTuneJobRow[]> {
    return (await this.q('SELECT * FROM finetune_jobs ORDER BY created_at DESC, id')).rows.map(toFineTuneRow);
  }

  async updateFineTuneJob(id: string, patch: FineTunePatch, leaseOwner?: string): Promise<void> {
    const { set, values } = fineTunePatchSql(patch, 2, true);
    const fence = leaseOwner === undefined ? '' : ` AND lease_owner = $${values.length + 2}`;
    const r = await this.q(`UPDATE finetune_jobs SET ${set} WHERE id = $1${fence}`, [
      id,
      ...values,
      ...(leaseOwner === undefined ? [] : [leaseOwner]),
    ]);
    if (r.rowCount === 1) return;
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
  private async claimIn(
    table: LeasedTable,
    id: string,
    owner: string,
    ttlMs: number,
    stale?: (owner: string) => boolean,
  ): Promise<boolean> {
    const r = await this.q(
      `SELECT status, lease_owner, lease_expires_ms, ${NOW_MS} AS now FROM ${table} WHERE id = $1`,
      [id],
    );
    const row = r.rows[0];
    if (!row || (row.status !== 'queued' && row.status !== 'running')) return false;
    const holder = (row.lease_owner as string | null) ?? null;
    const expires = row.lease_expires_ms === null ? null : num(row.lease_expires_ms);
    const free =
      holder === null || holder === owner || (expires ?? 0) <= num(row.now) || (stale?.(holder) ?? false);
    if (!free) return false;
    // Compare-and-set on the lease we looked at: of two claimers only the first UPDATE still matches.
    const u = await this.q(
      `UPDATE ${table} SET lease_owner = $2, lease_expires_ms = ${NOW_MS} + $3
       WHERE id = $1 AND status IN ('queued','running') AND lease_owner IS NOT DISTINCT FROM $4
         AND lease_expires_ms IS NOT DISTINCT FROM $5::bigint`,
      [id, owner, ttlMs, holder, expires],
    );
    return u.rowCount === 1;
  }

  private async requeueIn(
    table: LeasedTable,
    id: string,
    owner: string,
    ttlMs: number,
    extra: string,
  ): Promise<boolean> {
    const r = await this.q(
      `UPDATE ${table} SET status = 'queued', error = NULL${extra}, cancel_requested = 0, lease_owner = $2,
         lease_expires_ms = ${NOW_MS} + $3, updated_at = $4
       WHERE id = $1 AND status IN ('cancelled','failed')`,
      [id, owner, ttlMs, new Date().toISOString()],
    );
    return r.rowCount === 1;
  }

  private async renewIn(table: LeasedTable, id: string, owner: string, ttlMs: number): Promise<LeaseState> {
    const r = await this.q(
      `WITH renewed AS (
         UPDATE ${table} SET lease_expires_ms = ${NOW_MS} + $3
         WHERE id = $1 AND lease_owner = $2 AND status IN ('queued','running') RETURNING id)
       SELECT (SELECT COUNT(*) FROM renewed) AS held, cancel_requested FROM ${table} WHERE id = $1`,
      [id, owner, ttlMs],
    );
    const row = r.rows[0];
    return {
      held: row !== undefined && num(row.held) === 1,
      cancelRequested: row !== undefined && num(row.cancel_requested) === 1,
    };
  }

  private async cancelIn(table: LeasedTable, id: string): Promise<boolean> {
    const r = await this.q(
      `UPDATE ${table} SET cancel_requested = 1, updated_at = $2 WHERE id = $1 AND status IN ('queued','running')`,
      [id, new Date().toISOString()],
    );
    return r.rowCount === 1;
  }

  private async claimableIn(table: LeasedTable, stale?: (owner: string) => boolean): Promise<string[]> {
    const r = await this.q(
      `SELECT id, lease_owner, lease_expires_ms, ${NOW_MS} AS now FROM ${table} WHERE status IN ('queued','running')
       ORDER BY created_at, id`,
    );
    return r.rows
      .filter(
        (row) =>
          row.lease_owner === null ||
          num(row.lease_expires_ms ?? 0) <= num(row.now) ||
          (stale?.(row.lease_owner as string) ?? false),
      )
      .map((row) => row.id as string);
  }

  async getPrompt(key: PromptKey): Promise<StoredPrompt | undefined> {
    const r = await this.q(
      `SELECT prompt_json, failure FROM prompt_sets WHERE dataset_id = $1 AND object_id = $2 AND strategy = $3
       AND mode = $4 AND randomness = $5 AND seed = $6`,
      [key.datasetId, key.objectId, key.strategy, key.mode, key.randomness, key.seed],
    );
    const row = r.rows[0];
    return row === undefined
      ? undefined
      : {
          prompt: JSON.parse(row.prompt_json as string) as unknown,
          failure: (row.failure as string | null) ?? null,
        };
  }

  async putPrompt(key: PromptKey, value: StoredPrompt): Promise<StoredPrompt> {
    await this.q(
      `INSERT INTO prompt_sets (dataset_id, object_id, strategy, mode, randomness, seed, prompt_json, failure)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
      [
        key.datasetId,
        key.objectId,
        key.strategy,
        key.mode,
        key.randomness,
        key.seed,
        JSON.stringify(value.prompt),
        value.failure,
      ],
    );
    return (await this.getPrompt(key))!;
  }

  async doneKeys(jobId: string): Promise<Set<string>> {
    const r = await this.q('SELECT model, strategy, object_id, variant FROM samples WHERE job_id = $1', [
      jobId,
    ]);
    return new Set(
      r.rows.map((row) =>
        sampleKey(row.model as string, row.strategy as string, row.object_id as string, num(row.variant)),
      ),
    );
  }

  async putSample(
    sample: SampleRecord,
    curve?: { protocol: string; points: CurvePoint[] },
    leaseOwner?: string,
  ): Promise<boolean> {
    return this.tx(async (c) => {
      if (leaseOwner !== undefined) {
        // FOR SHARE holds off a claim (an UPDATE of the row) until this commits: a claim that commits first
        // is seen here, and one that comes later finds this sample stored.
        const l = await c.query('SELECT lease_owner FROM jobs WHERE id = $1 FOR SHARE', [sample.jobId]);
        if ((l.rows[0] as DbRow | undefined)?.lease_owner !== leaseOwner) {
          throw new StoreError(`job '${sample.jobId}' is no longer leased to ${leaseOwner}`, 'CONFLICT');
        }
      }
      const values = sampleValues(sample, new Date().toISOString());
      const r = await c.query(
        `INSERT INTO samples (${SAMPLE_COLUMNS.join(', ')})
         VALUES (${SAMPLE_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT DO NOTHING`,
        values,
      );
      if (r.rowCount !== 1) return false;
      for (const p of curve?.points ?? []) {
        await c.query(
          `INSERT INTO curves (job_id, model, protocol, object_id, click, dice, iou)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
          [sample.jobId, sample.model, curve!.protocol, sample.objectId, p.click, p.dice, p.iou],
        );
      }
      return true;
    });
  }

  async countSamples(jobId: string, status?: 'ok' | 'failed'): Promise<number> {
    const r =
      status === undefined
        ? await this.q('SELECT COUNT(*) AS n FROM samples WHERE job_id = $1', [jobId])
        : await this.q('SELECT COUNT(*) AS n FROM samples WHERE job_id = $1 AND status = $2', [
            jobId,
            status,
          ]);
    return num(r.rows[0].n);
  }

  async listSamples(jobId: string): Promise<SampleRecord[]> {
    return (await this.q('SELECT * FROM samples WHERE job_id = $1 ORDER BY seq', [jobId])).rows.map(
      toSampleRecord,
    );
  }

  async listCurves(jobId: string): Promise<StoredCurve[]> {
    const r = await this.q(
      'SELECT model, protocol, object_id, click, dice, iou FROM curves WHERE job_id = $1 ORDER BY model, protocol, object_id, click',
      [jobId],
    );
    return groupCurves(r.rows);
  }

  async putRecord(entry: Omit<RecordEntry, 'version'>, expectVersion?: number): Promise<number | null> {
    const now = this.now();
    const value = JSON.stringify(entry.value ?? null);
    if (expectVersion !== undefined && expectVersion > 0) {
      const r = await this.q(
        `UPDATE records SET value_json = $3, bytes = $4, expires_ms = $5, version = version + 1
         WHERE namespace = $1 AND key = $2 AND version = $6 AND (expires_ms IS NULL OR expires_ms > $7)
         RETURNING version`,
        [entry.namespace, entry.key, value, entry.bytes, entry.expiresMs, expectVersion, now],
      );
      return r.rows[0] === undefined ? null : num(r.rows[0].version);
    }
    // Insert, or overwrite: unconditionally, or (expectVersion 0) only a record that has expired.
    const r = await this.q(
      `INSERT INTO records (namespace, key, value_json, bytes, version, expires_ms) VALUES ($1, $2, $3, $4, 1, $5)
       ON CONFLICT (namespace, key) DO UPDATE SET value_json = EXCLUDED.value_json, bytes = EXCLUDED.bytes,
         expires_ms = EXCLUDED.expires_ms,
         version = CASE WHEN records.expires_ms IS NOT NULL AND records.expires_ms <= $6 THEN 1 ELSE records.version + 1 END
       WHERE $7::boolean OR (records.expires_ms IS NOT NULL AND records.expires_ms <= $6)
       RETURNING version`,
      [entry.namespace, entry.key, value, entry.bytes, entry.expiresMs, now, expectVersion === undefined],
    );
    return r.rows[0] === undefined ? null : num(r.rows[0].version);
  }

  async getRecord(namespace: string, key: string, touchMs?: number): Promise<RecordEntry | undefined> {
    const now = this.now();
    const r =
      touchMs === undefined
        ? await this.q(
            'SELECT * FROM records WHERE namespace = $1 AND key = $2 AND (expires_ms IS NULL OR expires_ms > $3)',
            [namespace, key, now],
          )
        : await this.q(
            `UPDATE records SET expires_ms = $4 WHERE namespace = $1 AND key = $2
             AND (expires_ms IS NULL OR expires_ms > $3) RETURNING *`,
            [namespace, key, now, now + touchMs],
          );
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      namespace,
      key,
      value: JSON.parse(row.value_json as string) as unknown,
      bytes: (row.bytes as Buffer | null) ?? null,
      version: num(row.version),
      expiresMs: row.expires_ms === null ? null : num(row.expires_ms),
    };
  }

  async deleteRecord(namespace: string, key: string): Promise<boolean> {
    return (
      (await this.q('DELETE FROM records WHERE namespace = $1 AND key = $2', [namespace, key])).rowCount === 1
    );
  }

  async countRecords(namespace: string, prefix = ''): Promise<number> {
    const r = await this.q(
      `SELECT COUNT(*) AS n FROM records WHERE namespace = $1 AND left(key, $2) = $3
       AND (expires_ms IS NULL OR expires_ms > $4)`,
      [namespace, prefix.length, prefix, this.now()],
    );
    return num(r.rows[0].n);
  }

  async listRecords(namespace: string, prefix = ''): Promise<RecordEntry[]> {
    const r = await this.q(
      `SELECT * FROM records WHERE namespace = $1 AND left(key, $2) = $3
       AND (expires_ms IS NULL OR expires_ms > $4) ORDER BY key`,
      [namespace, prefix.length, prefix, this.now()],
    );
    return r.rows.map((row) => ({
      namespace,
      key: row.key as string,
      value: JSON.parse(row.value_json as string) as unknown,
      bytes: (row.bytes as Buffer | null) ?? null,
      version: num(row.version),
      expiresMs: row.expires_ms === null ? null : num(row.expires_ms),
    }));
  }

  async putRecordBounded(
    entry: Omit<RecordEntry, 'version'>,
    prefix: string,
    max: number,
  ): Promise<number | null> {
    const now = this.now();
    return this.tx(async (c) => {
      // A transaction advisory lock per bound (namespace and prefix) makes the count and the insert one step
      // for every replica; other bounds do not wait.
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
        BOUND_LOCK_CLASS,
        `${entry.namespace}|${prefix}`,
      ]);
      const n = await c.query(
        `SELECT COUNT(*) AS n FROM records WHERE namespace = $1 AND left(key, $2) = $3
         AND (expires_ms IS NULL OR expires_ms > $4)`,
        [entry.namespace, prefix.length, prefix, now],
      );
      if (num((n.rows[0] as DbRow).n) >= max) return null;
      const r = await c.query(
        `INSERT INTO records (namespace, key, value_json, bytes, version, expires_ms) VALUES ($1, $2, $3, $4, 1, $5)
         ON CONFLICT (namespace, key) DO UPDATE SET value_json = EXCLUDED.value_json, bytes = EXCLUDED.bytes,
           version = 1, expires_ms = EXCLUDED.expires_ms
         WHERE records.expires_ms IS NOT NULL AND records.expires_ms <= $6`,
        [entry.namespace, entry.key, JSON.stringify(entry.value ?? null), entry.bytes, entry.expiresMs, now],
      );
      return r.rowCount === 1 ? 1 : null;
    });
  }

  async sweepRecords(): Promise<number> {
    return (
      (await this.q('DELETE FROM records WHERE expires_ms IS NOT NULL AND expires_ms <= $1', [this.now()]))
        .rowCount ?? 0
    );
  }

  async takeToken(
    caller: string,
    ratePerSecond: number,
    burst: number,
  ): Promise<{ allowed: boolean; tokens: number }> {
    // One statement: the row lock of the upsert serialises replicas taking from one bucket at once.
    const refilled = `LEAST($3::float8, rate_buckets.tokens + (${NOW_F} - rate_buckets.updated_ms) / 1000.0 * $2::float8)`;
    const r = await this.q(
      `INSERT INTO rate_buckets (caller, tokens, updated_ms, allowed) VALUES ($1, $3::float8 - 1, ${NOW_F}, $3::float8 >= 1)
       ON CONFLICT (caller) DO UPDATE SET
         tokens = CASE WHEN ${refilled} >= 1 THEN ${refilled} - 1 ELSE ${refilled} END,
         allowed = ${refilled} >= 1,
         updated_ms = ${NOW_F}
       RETURNING tokens, allowed`,
      [caller, ratePerSecond, burst],
    );
    return { allowed: r.rows[0].allowed === true, tokens: num(r.rows[0].tokens) };
  }

  async publish(channel: string, payload: string): Promise<void> {
    checkPayload(channel, payload);
    await this.q('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, JSON.stringify({ c: channel, p: payload })]);
  }

  async listen(channel: string, listener: ChannelListener): Promise<() => Promise<void>> {
    checkPayload(channel, '');
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    try {
      await this.ensureListening();
    } catch (err: unknown) {
      set.delete(listener);
      throw wrap(err);
    }
    return async () => {
      const s = this.listeners.get(channel);
      s?.delete(listener);
      if (s?.size === 0) this.listeners.delete(channel);
    };
  }

  private ensureListening(): Promise<void> {
    if (this.listenClient) return Promise.resolve();
    this.listenStarting ??= (async () => {
      const client = new pg.Client({
        connectionString: this.options.url,
        connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
      });
      client.on('notification', (n) => this.deliver(n.payload));
      client.on('error', (err) => this.lostListener(client, err));
      client.on('end', () => this.lostListener(client, new Error('connection ended')));
      try {
        await client.connect();
        await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      } catch (err: unknown) {
        await client.end().catch(() => {});
        throw err;
      }
      this.listenClient = client;
    })().finally(() => {
      this.listenStarting = undefined;
    });
    return this.listenStarting;
  }

  private deliver(raw: string | undefined): void {
    if (raw === undefined) return;
    let msg: { c?: unknown; p?: unknown };
    try {
      msg = JSON.parse(raw) as { c?: unknown; p?: unknown };
    } catch {
      return;
    }
    if (typeof msg.c !== 'string' || typeof msg.p !== 'string') return;
    for (const l of this.listeners.get(msg.c) ?? []) l(msg.p);
  }

  // Notifications sent while no connection listens are lost: subscribers read final states from the store.
  private lostListener(client: pg.Client, err: Error): void {
    if (this.listenClient !== client) return;
    this.listenClient = undefined;
    client.end().catch(() => {});
    if (this.closed) return;
    this.options.onWarning?.(`event listener lost its database connection (${err.message}); reconnecting`);
    let delay = 250;
    const retry = (): void => {
      if (this.closed || this.listeners.size === 0) return;
      this.ensureListening().catch(() => {
        delay = Math.min(delay * 2, 5000);
        this.reconnectTimer = setTimeout(retry, delay);
      });
    };
    this.reconnectTimer = setTimeout(retry, delay);
  }
}

function ignore(): void {}

/** Database errors that mean "unreachable" become StoreError UNAVAILABLE; others pass through. */
function wrap(err: unknown): unknown {
  if (err instanceof StoreError) return err;
  if (isConnectionError(err)) {
    const e = new StoreError(
      `database unavailable: ${(err as Error).message || String((err as { code?: string }).code)}`,
      'UNAVAILABLE',
    );
    e.cause = err;
    return e;
  }
  return err;
}
