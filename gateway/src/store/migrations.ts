/**
 * Versioned, forward-only schema migrations of both stores. Version 1 is the schema the SQLite job store
 * had before versioning (a database written by it has its tables but no `schema_version` row, and every
 * statement of version 1 is `IF NOT EXISTS`, so it adopts such a file as is). Every later migration is
 * additive (new tables, new nullable or defaulted columns) so replicas of the previous release keep running
 * while a new release migrates: the upgrade path of deploy/README.md.
 *
 * The samples table's metric columns (`oracle_<metric>`, `deploy_<metric>`) follow the metric table
 * (bench/metric-table.ts): version 1 holds the seven metrics it had, and every opener then adds the columns
 * of metrics added to the table since ({@link metricColumnAdditions}), nullable, so adding a metric needs no
 * numbered migration and samples stored before it simply have no value for it.
 */
import { checkMetricTable, METRICS, type MetricTable } from '../bench/types.ts';

/** One migration: its version and the statements of each dialect. */
export interface Migration {
  version: number;
  description: string;
  sqlite: string;
  postgres: string;
}

// Frozen: the schema of version 1 never changes, whatever the metric table becomes.
const V1_METRICS = ['dice', 'iou', 'hd', 'hd95', 'asd', 'assd', 'nsd'];
const metricColumns = (type: string): string =>
  V1_METRICS.map((m) => `oracle_${m} ${type}, deploy_${m} ${type},`).join('\n  ');

const V1_SQLITE = `
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
  ${metricColumns('REAL')}
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

const V1_POSTGRES = `
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
  seed BIGINT NOT NULL,
  prompt_json TEXT NOT NULL,
  failure TEXT,
  PRIMARY KEY (dataset_id, object_id, strategy, mode, randomness, seed)
);
CREATE TABLE IF NOT EXISTS samples (
  seq BIGSERIAL PRIMARY KEY,
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
  ${metricColumns('DOUBLE PRECISION')}
  oracle_index INTEGER,
  oracle_pred_iou DOUBLE PRECISION,
  deploy_index INTEGER,
  deploy_pred_iou DOUBLE PRECISION,
  candidates_json TEXT NOT NULL,
  factors_json TEXT,
  prompt_json TEXT,
  segmenter_ms DOUBLE PRECISION NOT NULL,
  total_ms DOUBLE PRECISION NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (job_id, model, strategy, object_id, variant)
);
CREATE TABLE IF NOT EXISTS curves (
  job_id TEXT NOT NULL REFERENCES jobs(id),
  model TEXT NOT NULL,
  protocol TEXT NOT NULL,
  object_id TEXT NOT NULL,
  click INTEGER NOT NULL,
  dice DOUBLE PRECISION NOT NULL,
  iou DOUBLE PRECISION NOT NULL,
  UNIQUE (job_id, model, protocol, object_id, click)
);
`;

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'datasets, jobs, prompt sets, samples and curves (the pre-versioning schema)',
    sqlite: V1_SQLITE,
    postgres: V1_POSTGRES,
  },
  {
    version: 2,
    description: 'job leases and cancel requests; expiring records (sessions, volume jobs, handles)',
    sqlite: `
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_ms INTEGER;
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
CREATE TABLE records (
  namespace TEXT NOT NULL,
  key TEXT NOT NULL,
  value_json TEXT NOT NULL,
  bytes BLOB,
  version INTEGER NOT NULL,
  expires_ms INTEGER,
  PRIMARY KEY (namespace, key)
);
CREATE INDEX records_expiry ON records (expires_ms);
`,
    postgres: `
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS lease_expires_ms BIGINT;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS cancel_requested INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS records (
  namespace TEXT NOT NULL,
  key TEXT NOT NULL,
  value_json TEXT NOT NULL,
  bytes BYTEA,
  version BIGINT NOT NULL,
  expires_ms BIGINT,
  PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_ms);
`,
  },
  {
    version: 3,
    description: 'token buckets of the rate limit shared by every replica',
    sqlite: `
CREATE TABLE rate_buckets (
  caller TEXT PRIMARY KEY,
  tokens REAL NOT NULL,
  updated_ms REAL NOT NULL
);
`,
    postgres: `
CREATE TABLE IF NOT EXISTS rate_buckets (
  caller TEXT PRIMARY KEY,
  tokens DOUBLE PRECISION NOT NULL,
  updated_ms DOUBLE PRECISION NOT NULL,
  allowed BOOLEAN NOT NULL DEFAULT TRUE
);
`,
  },
  {
    version: 4,
    description:
      'owners of benchmark jobs (the API caller that started each; NULL for the CLI and older jobs)',
    sqlite: `
ALTER TABLE jobs ADD COLUMN owner TEXT;
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, status);
`,
    postgres: `
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS owner TEXT;
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, status);
`,
  },
  {
    version: 5,
    description:
      'fine-tuning jobs in the shared store, with owners, leases and cancel requests (SQLite files of the ' +
      'previous release already hold the table without those columns)',
    sqlite: `
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
ALTER TABLE finetune_jobs ADD COLUMN owner TEXT;
ALTER TABLE finetune_jobs ADD COLUMN model_name TEXT;
ALTER TABLE finetune_jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE finetune_jobs ADD COLUMN lease_expires_ms INTEGER;
ALTER TABLE finetune_jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
UPDATE finetune_jobs SET model_name = json_extract(config_json, '$.modelName') WHERE model_name IS NULL;
CREATE INDEX IF NOT EXISTS finetune_jobs_owner ON finetune_jobs (owner, status);
CREATE INDEX IF NOT EXISTS finetune_jobs_model ON finetune_jobs (model_name, status);
`,
    postgres: `
CREATE TABLE IF NOT EXISTS finetune_jobs (
  id TEXT PRIMARY KEY,
  config_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued','running','cancelled','completed','failed')),
  split_json TEXT,
  history_json TEXT NOT NULL DEFAULT '[]',
  base_val_dice DOUBLE PRECISION,
  result_json TEXT,
  error_code TEXT,
  error TEXT,
  owner TEXT,
  model_name TEXT,
  lease_owner TEXT,
  lease_expires_ms BIGINT,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS finetune_jobs_owner ON finetune_jobs (owner, status);
CREATE INDEX IF NOT EXISTS finetune_jobs_model ON finetune_jobs (model_name, status);
`,
  },
];

/** The newest schema version this release knows. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** The samples table's metric columns of a metric table, in its order: `oracle_<name>`, `deploy_<name>`. */
export function metricColumnNames(table: MetricTable = METRICS): string[] {
  return table.flatMap((d) => [`oracle_${d.name}`, `deploy_${d.name}`]);
}

/**
 * The `ALTER TABLE samples ADD COLUMN` statements that give a samples table with the columns `existing` the
 * metric columns of `table` it lacks (nullable: older samples have no value). Run by both stores after the
 * numbered migrations, under their migration lock; nothing when the table is unchanged. Column names come
 * from metric names, which `checkMetricTable` restricts to lower-case letters and digits.
 */
export function metricColumnAdditions(
  existing: Iterable<string>,
  dialect: 'sqlite' | 'postgres',
  table: MetricTable = METRICS,
): string[] {
  // Names become SQL identifiers: a table that is not well formed never reaches the database.
  checkMetricTable(table);
  const have = new Set([...existing].map((c) => c.toLowerCase()));
  const type = dialect === 'sqlite' ? 'REAL' : 'DOUBLE PRECISION';
  const ifNot = dialect === 'postgres' ? 'IF NOT EXISTS ' : '';
  return metricColumnNames(table)
    .filter((c) => !have.has(c))
    .map((c) => `ALTER TABLE samples ADD COLUMN ${ifNot}${c} ${type}`);
}
