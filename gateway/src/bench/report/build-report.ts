/** Collects what every report format shows about one job: its configuration, dataset, counts and aggregates. */
import { aggregateSamples, type AggregateRow, type BenchmarkAggregate } from '../aggregate.ts';
import type { DatasetRow, JobRow, JobStore } from '../job-store.ts';
import { METRICS, scaledStat, type MetricDef, type MetricStat, type MetricTable } from '../metric-table.ts';

/** The content of a report, independent of its format. */
export interface BenchmarkReport {
  title: string;
  job: JobRow;
  dataset: DatasetRow | null;
  /** Samples stored so far (a running or cancelled job reports what it has). */
  stored: number;
  aggregate: BenchmarkAggregate;
  generatedAt: string;
  /**
   * The gallery's cases with their thumbnails, when the renderer had a segmenter to re-create them; the
   * reason when it could not; absent when it had none (the HTML report says so).
   */
  gallery?: ReportGallery;
}

/** A gallery case as a report shows it: its place, its deployable Dice (fraction) and a PNG thumbnail. */
export interface ReportGalleryCase {
  model: string;
  strategy: string;
  target: string;
  ranks: string[];
  imageId: string;
  objectId: string;
  dice: number;
  /** PNG bytes of the thumbnail. */
  thumbnail: Uint8Array;
}

/** The gallery of a report: its cases (`of` picks in all, the first `cases.length` shown), or why it is missing. */
export type ReportGallery = { cases: ReportGalleryCase[]; of: number } | { unavailable: string };

/** Thrown when the job to report does not exist. */
export class ReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportError';
  }
}

/**
 * Builds the report of a stored job, or of one run split into shards (`jobId` a list: the shards' jobs,
 * which must share their configuration apart from `shard`), as if one job had run them all. The report
 * carries the metrics of `metrics` (default the benchmark's table).
 */
export async function buildReport(
  store: JobStore,
  jobId: string | readonly string[],
  now: Date = new Date(),
  metrics: MetricTable = METRICS,
): Promise<BenchmarkReport> {
  const ids = typeof jobId === 'string' ? [jobId] : [...new Set(jobId)];
  if (ids.length === 0) throw new ReportError('no job to report');
  const jobs: JobRow[] = [];
  for (const id of ids) {
    const j = await store.getJob(id);
    if (j === undefined) throw new ReportError(`no job '${id}' in this database`);
    jobs.push(j);
  }
  const job = jobs.length === 1 ? jobs[0] : mergeShards(jobs);
  const dataset = (await store.getDataset(job.datasetId)) ?? null;
  const samples = (await Promise.all(ids.map((id) => store.listSamples(id)))).flat();
  const curves = (await Promise.all(ids.map((id) => store.listCurves(id)))).flat();
  const aggregate = aggregateSamples(samples, curves, {
    dataset: dataset?.name ?? job.datasetId,
    metrics,
  });
  return {
    title: `SAM benchmark ${job.config.models.join(', ')} on ${dataset?.name ?? job.datasetId}`,
    job,
    dataset,
    stored: samples.length,
    aggregate,
    generatedAt: now.toISOString(),
  };
}

/** One job row standing for the shards of a run; ReportError when they are not shards of one run. */
function mergeShards(jobs: JobRow[]): JobRow {
  const plain = (j: JobRow): string => JSON.stringify({ ...j.config, shard: null });
  const first = jobs[0];
  for (const j of jobs) {
    if (plain(j) !== plain(first)) {
      throw new ReportError(
        `jobs '${first.id}' and '${j.id}' are not shards of one run: their configurations differ beyond the shard`,
      );
    }
  }
  const shards = jobs.map((j) => j.config.shard);
  const count = shards[0]?.count;
  if (
    shards.some((s) => s === null || s.count !== count) ||
    new Set(shards.map((s) => s!.index)).size !== jobs.length
  ) {
    throw new ReportError(
      `jobs ${jobs.map((j) => `'${j.id}'`).join(', ')} must be distinct shards i/N of one N, got ${JSON.stringify(shards)}`,
    );
  }
  const order: JobRow['status'][] = ['failed', 'running', 'queued', 'cancelled', 'completed'];
  const status = order.find((s) => jobs.some((j) => j.status === s)) ?? first.status;
  return {
    ...first,
    id: jobs.map((j) => j.id).join('+'),
    config: { ...first.config, shard: null },
    status,
    total: jobs.reduce((n, j) => n + j.total, 0),
    error: jobs.find((j) => j.error !== null)?.error ?? null,
  };
}

/** "mean ± std" of a statistic in report units with two decimals, or "n/a" when undefined. */
export function formatStat(def: MetricDef, s: MetricStat): string {
  const v = scaledStat(def, s);
  return v.mean === null ? 'n/a' : `${v.mean.toFixed(2)} ± ${(v.std ?? 0).toFixed(2)}`;
}

/** A row lookup over the aggregate. */
export function findRow(
  rows: readonly AggregateRow[],
  q: Partial<
    Pick<AggregateRow, 'model' | 'strategy' | 'selection' | 'scope' | 'target' | 'modality' | 'dataset'>
  >,
): AggregateRow | undefined {
  return rows.find((r) => Object.entries(q).every(([k, v]) => r[k as keyof AggregateRow] === v));
}

/** Human names of strategies. */
export function strategyLabel(s: string): string {
  const names: Record<string, string> = {
    S1: 'S1 everything',
    S2: 'S2 1 point',
    S3: 'S3 5 points',
    S4: 'S4 5+/5- points',
    S5: 'S5 box',
    S6: 'S6 box + point',
    'interactive-errorRegion': 'interactive (error-region clicks)',
    'interactive-boxThen5': 'interactive (box then 5 clicks)',
  };
  return names[s] ?? s;
}

/** The configuration as readable lines: what was run. */
export function describeRun(r: BenchmarkReport): Array<[string, string]> {
  const c = r.job.config;
  return [
    ['job', r.job.id],
    ['status', r.job.status + (r.job.error ? ` (${r.job.error})` : '')],
    ['models', c.models.join(', ')],
    [
      'dataset',
      `${r.dataset?.name ?? c.dataset} (${r.dataset?.modality ?? 'unknown modality'}, ${r.dataset?.layout ?? '?'} layout)`,
    ],
    ['strategies', c.strategies.map(strategyLabel).join('; ') || 'none'],
    ['prompt mode', c.mode],
    [
      'selection shown first',
      c.selection === 'oracle' ? 'oracle (highest Dice, as the paper)' : 'predicted IoU (deployable)',
    ],
    ['randomness', c.randomness === 'none' ? 'none' : `${c.randomness} px`],
    ['interactive', c.interactive ? `${c.interactive.protocol}, ${c.interactive.clicks} clicks` : 'none'],
    ['seed', String(c.seed)],
    ['shard / limit', `${c.shard ? `${c.shard.index}/${c.shard.count}` : 'all'} / ${c.limit ?? 'none'}`],
    ['samples', `${r.stored} stored of ${r.job.total} planned; ${r.aggregate.failed} failed`],
    ['created', r.job.createdAt],
    ['report generated', r.generatedAt],
  ];
}
