/**
 * Row mapping shared by both store implementations: the samples table's column list and values, and the
 * conversion of database rows (snake_case columns, JSON text) back into the engine's records.
 */
import type {
  BenchmarkConfig,
  ChoiceResult,
  FactorValues,
  JobStatus,
  MetricTable,
  MetricValues,
  SampleRecord,
} from '../bench/types.ts';
import { METRICS, metricValue } from '../bench/types.ts';
import { metricColumnNames } from './migrations.ts';
import type {
  DatasetRow,
  EpochRow,
  FineTuneConfig,
  FineTuneJobRow,
  FineTunePatch,
  FineTuneResult,
  FineTuneStatus,
  JobRow,
} from './state-store.ts';

/** A database row as the driver returns it. */
export type DbRow = Record<string, unknown>;

/** Columns of an inserted sample with the metrics of `table`, in the order of {@link sampleValues}. */
export function sampleColumns(table: MetricTable = METRICS): string[] {
  return [
    'job_id',
    'model',
    'strategy',
    'object_id',
    'variant',
    'image_id',
    'class_value',
    'class_name',
    'modality',
    'status',
    'failure_reason',
    ...metricColumnNames(table),
    'oracle_index',
    'oracle_pred_iou',
    'deploy_index',
    'deploy_pred_iou',
    'candidates_json',
    'factors_json',
    'prompt_json',
    'segmenter_ms',
    'total_ms',
    'created_at',
  ];
}

/** Columns of an inserted sample, in the order of {@link sampleValues}: the benchmark's metric table. */
export const SAMPLE_COLUMNS: readonly string[] = sampleColumns();

/** The values of one sample for {@link sampleColumns} of the same `table`. */
export function sampleValues(
  sample: SampleRecord,
  createdAt: string,
  table: MetricTable = METRICS,
): unknown[] {
  const metricArgs: Array<number | null> = [];
  for (const def of table) {
    metricArgs.push(
      sample.oracle ? metricValue(sample.oracle.metrics, def) : null,
      sample.deployable ? metricValue(sample.deployable.metrics, def) : null,
    );
  }
  return [
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
    createdAt,
  ];
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** A number from a column that PostgreSQL may return as a string (BIGINT, COUNT). */
export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

/** A dataset row from the database. */
export function toDatasetRow(r: DbRow): DatasetRow {
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

/** A job row from the database. */
export function toJobRow(r: DbRow): JobRow {
  return {
    id: r.id as string,
    datasetId: r.dataset_id as string,
    config: JSON.parse(r.config_json as string) as BenchmarkConfig,
    status: r.status as JobStatus,
    total: num(r.total),
    error: (r.error as string | null) ?? null,
    leaseOwner: (r.lease_owner as string | null) ?? null,
    leaseExpiresMs:
      r.lease_expires_ms === null || r.lease_expires_ms === undefined ? null : num(r.lease_expires_ms),
    cancelRequested: Boolean(num(r.cancel_requested ?? 0)),
    owner: (r.owner as string | null | undefined) ?? null,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

function readChoice(r: DbRow, prefix: 'oracle' | 'deploy', table: MetricTable): ChoiceResult | null {
  const index = r[`${prefix}_index`] as number | null;
  if (index === null) return null;
  const metrics: Record<string, number | null> = {};
  // A column this database lacks (a metric newer than its last opener) reads as no value.
  for (const def of table) metrics[def.name] = (r[`${prefix}_${def.name}`] as number | null) ?? null;
  return {
    candidateIndex: num(index),
    predictedIou: (r[`${prefix}_pred_iou`] as number | null) ?? Number.NaN,
    metrics: metrics as MetricValues,
  };
}

/** A sample record from the database, with the benchmark's metrics. */
export function toSampleRecord(r: DbRow): SampleRecord {
  return readSample(r, METRICS);
}

/** A sample record from the database, with the metrics of `table`. */
export function readSample(r: DbRow, table: MetricTable): SampleRecord {
  return {
    jobId: r.job_id as string,
    model: r.model as string,
    strategy: r.strategy as string,
    variant: num(r.variant),
    objectId: r.object_id as string,
    imageId: r.image_id as string,
    classValue: num(r.class_value),
    className: r.class_name as string,
    modality: r.modality as string,
    status: r.status as 'ok' | 'failed',
    failureReason: (r.failure_reason as string | null) ?? null,
    oracle: readChoice(r, 'oracle', table),
    deployable: readChoice(r, 'deploy', table),
    candidates: JSON.parse(r.candidates_json as string) as SampleRecord['candidates'],
    factors: r.factors_json === null ? null : (JSON.parse(r.factors_json as string) as FactorValues),
    prompt: r.prompt_json === null ? null : (JSON.parse(r.prompt_json as string) as unknown),
    segmenterMs: num(r.segmenter_ms),
    totalMs: num(r.total_ms),
  };
}

/** Groups curve rows (ordered by model, protocol, object, click) into curves. */
export function groupCurves(rows: DbRow[]): Array<{
  model: string;
  protocol: string;
  objectId: string;
  points: Array<{ click: number; dice: number; iou: number }>;
}> {
  const out: ReturnType<typeof groupCurves> = [];
  for (const r of rows) {
    const point = { click: num(r.click), dice: num(r.dice), iou: num(r.iou) };
    const last = out[out.length - 1];
    if (last && last.model === r.model && last.protocol === r.protocol && last.objectId === r.object_id) {
      last.points.push(point);
    } else {
      out.push({
        model: r.model as string,
        protocol: r.protocol as string,
        objectId: r.object_id as string,
        points: [point],
      });
    }
  }
  return out;
}

/** A fine-tuning job row from the database. */
export function toFineTuneRow(r: DbRow): FineTuneJobRow {
  return {
    id: r.id as string,
    config: JSON.parse(r.config_json as string) as FineTuneConfig,
    status: r.status as FineTuneStatus,
    split: r.split_json === null ? null : (JSON.parse(r.split_json as string) as FineTuneJobRow['split']),
    history: JSON.parse(r.history_json as string) as EpochRow[],
    baseValDice: r.base_val_dice === null ? null : num(r.base_val_dice),
    result: r.result_json === null ? null : (JSON.parse(r.result_json as string) as FineTuneResult),
    errorCode: (r.error_code as string | null) ?? null,
    error: (r.error as string | null) ?? null,
    owner: (r.owner as string | null | undefined) ?? null,
    leaseOwner: (r.lease_owner as string | null) ?? null,
    leaseExpiresMs:
      r.lease_expires_ms === null || r.lease_expires_ms === undefined ? null : num(r.lease_expires_ms),
    cancelRequested: Boolean(num(r.cancel_requested ?? 0)),
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

/**
 * The SET list and values of a fine-tuning patch, with `$n`-style placeholders numbered from `first` when
 * `dollar` is set (PostgreSQL) and `?` otherwise (SQLite). `updated_at` is always set.
 */
export function fineTunePatchSql(
  patch: FineTunePatch,
  first: number,
  dollar: boolean,
): { set: string; values: unknown[] } {
  const cols: string[] = [];
  const values: unknown[] = [];
  const put = (col: string, v: unknown) => {
    values.push(v);
    cols.push(`${col} = ${dollar ? `$${first + values.length - 1}` : '?'}`);
  };
  if (patch.status !== undefined) {
    put('status', patch.status);
    // A terminal status ends the lease; queued hands the job to whichever replica claims it next.
    if (patch.status !== 'running') {
      cols.push('lease_owner = NULL', 'lease_expires_ms = NULL', 'cancel_requested = 0');
    }
  }
  if (patch.error !== undefined) {
    put('error_code', patch.error?.code ?? null);
    put('error', patch.error?.message ?? null);
  }
  if (patch.split !== undefined) put('split_json', JSON.stringify(patch.split));
  if (patch.history !== undefined) put('history_json', JSON.stringify(patch.history));
  if (patch.baseValDice !== undefined) put('base_val_dice', patch.baseValDice);
  if (patch.result !== undefined) put('result_json', JSON.stringify(patch.result));
  put('updated_at', new Date().toISOString());
  return { set: cols.join(', '), values };
}
