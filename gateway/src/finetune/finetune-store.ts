/**
 * Fine-tuning jobs, stored in the benchmark's SQLite file beside its jobs (one more table), so that every
 * job of the gateway lives in one place and survives a restart: configuration, split, per-epoch history,
 * status, and the published model's provenance.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** Status of a fine-tuning job. */
export type FineTuneStatus = 'queued' | 'running' | 'cancelled' | 'completed' | 'failed';

/** What a fine-tuning job was asked to do. */
export interface FineTuneConfig {
  dataset: string;
  baseModel: string;
  /** Name of the model it publishes (`<base>_ft_<dataset>` unless given). */
  modelName: string;
  /** `auto` or `train=..;val=..;test=..` (groups: volumes or patients). */
  split: string;
  epochs: number;
  seed: number;
  /** Trainer threads (CPU). */
  threads: number;
}

/** One finished epoch. */
export interface EpochRow {
  epoch: number;
  loss: number;
  valDice: number;
  /** Seconds of the epoch, validation included. */
  seconds: number;
  /** Seconds in the decoder's forward and backward passes (the rest: loading, loss, optimizer, validation). */
  decoderSeconds: number;
  /** Peak resident memory of the trainer process so far, MiB. */
  peakRssMiB: number;
}

/** Provenance of a published model. */
export interface FineTuneResult {
  modelName: string;
  baseModel: string;
  dataset: string;
  split: string;
  splitGroups: { train: string[]; val: string[]; test: string[] };
  epochs: number;
  bestEpoch: number;
  valDice: number;
  baseValDice: number;
  exportMaxAbsDiff: number;
  date: string;
}

/** A stored job. */
export interface FineTuneJobRow {
  id: string;
  config: FineTuneConfig;
  status: FineTuneStatus;
  split: { train: string[]; val: string[]; test: string[]; groups: Record<string, string[]> } | null;
  history: EpochRow[];
  baseValDice: number | null;
  result: FineTuneResult | null;
  errorCode: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS finetune_jobs (
  id TEXT PRIMARY KEY,
  config_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued','running','cancelled','completed','failed')),
  split_json TEXT,
  history_json TEXT NOT NULL DEFAULT '[]',
  base_val_dice REAL,
  result_json TEXT,
  error_code TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
`;

type Row = Record<string, unknown>;

function toRow(r: Row): FineTuneJobRow {
  return {
    id: r.id as string,
    config: JSON.parse(r.config_json as string) as FineTuneConfig,
    status: r.status as FineTuneStatus,
    split: r.split_json === null ? null : (JSON.parse(r.split_json as string) as FineTuneJobRow['split']),
    history: JSON.parse(r.history_json as string) as EpochRow[],
    baseValDice: (r.base_val_dice as number | null) ?? null,
    result: r.result_json === null ? null : (JSON.parse(r.result_json as string) as FineTuneResult),
    errorCode: (r.error_code as string | null) ?? null,
    error: (r.error as string | null) ?? null,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

/** The fine-tuning table over an open database (the JobStore's). */
export class FineTuneStore {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  /** Creates a queued job. */
  create(id: string, config: FineTuneConfig): FineTuneJobRow {
    const now = new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO finetune_jobs (id, config_json, status, created_at, updated_at) VALUES (?, ?, 'queued', ?, ?)`,
      )
      .run(id, JSON.stringify(config), now, now);
    return this.get(id)!;
  }

  /** A job by id, or undefined. */
  get(id: string): FineTuneJobRow | undefined {
    const r = this.db.prepare('SELECT * FROM finetune_jobs WHERE id = ?').get(id) as Row | undefined;
    return r === undefined ? undefined : toRow(r);
  }

  /** Every job, newest first. */
  list(): FineTuneJobRow[] {
    return (this.db.prepare('SELECT * FROM finetune_jobs ORDER BY created_at DESC, id').all() as Row[]).map(
      toRow,
    );
  }

  /** The completed job that published a model, or undefined. */
  byModel(modelName: string): FineTuneJobRow | undefined {
    return this.list().find((j) => j.status === 'completed' && j.result?.modelName === modelName);
  }

  private update(id: string, set: string, ...args: unknown[]): void {
    const info = this.db
      .prepare(`UPDATE finetune_jobs SET ${set}, updated_at = ? WHERE id = ?`)
      .run(...args, new Date().toISOString(), id);
    if (info.changes !== 1) throw new Error(`fine-tuning job '${id}' does not exist`);
  }

  /** Sets the status (and the error for failures and cancellations). */
  setStatus(
    id: string,
    status: FineTuneStatus,
    error: { code: string; message: string } | null = null,
  ): void {
    this.update(
      id,
      'status = ?, error_code = ?, error = ?',
      status,
      error?.code ?? null,
      error?.message ?? null,
    );
  }

  /** Records the split. */
  setSplit(id: string, split: NonNullable<FineTuneJobRow['split']>): void {
    this.update(id, 'split_json = ?', JSON.stringify(split));
  }

  /** Records the base model's validation Dice (epoch 0). */
  setBaseValDice(id: string, dice: number): void {
    this.update(id, 'base_val_dice = ?', dice);
  }

  /** Records one epoch (replacing a row of the same epoch, which a resumed job may repeat). */
  addEpoch(id: string, row: EpochRow): void {
    const job = this.get(id);
    if (!job) throw new Error(`fine-tuning job '${id}' does not exist`);
    const history = [...job.history.filter((h) => h.epoch !== row.epoch), row].sort(
      (a, b) => a.epoch - b.epoch,
    );
    this.update(id, 'history_json = ?', JSON.stringify(history));
  }

  /** Records the published model and completes the job. */
  complete(id: string, result: FineTuneResult): void {
    this.update(
      id,
      "status = 'completed', result_json = ?, error_code = NULL, error = NULL",
      JSON.stringify(result),
    );
  }
}

/** Opens (creating) a SQLite file of its own for the fine-tuning table, for gateways whose state is on PostgreSQL. */
export function openFineTuneDatabase(file: string): Database.Database {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  return db;
}
