/**
 * `medseg bench`: runs the COSMOS 1050K benchmark protocol ("Segment Anything Model for Medical Images?")
 * on a dataset directory and reports it. Sub-commands: `run`, `resume`, `report`, `datasets add|list`.
 * Results live in a SQLite file (--db), so a killed run resumes where it stopped.
 */
import { mkdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { Segmenter } from '../../core/segmenter.ts';
import type { GatewayConfig } from '../../config.ts';
import { DatasetError, type DatasetLayout, type DatasetOptions } from '../../bench/datasets/dataset.ts';
import { registerDataset } from '../../bench/datasets/registry.ts';
import { BenchmarkLimitError, checkRunningJobLimit } from '../../bench/benchmark-service.ts';
import type { JobStore } from '../../bench/job-store.ts';
import { mergeShards, MergeError, type MergeSummary } from '../../bench/merge-shards.ts';
import { isPostgresUrl, openStore as openStateStore, redact } from '../../store/open-store.ts';
import { SqliteStore } from '../../store/sqlite/sqlite-store.ts';
import { StoreError } from '../../store/state-store.ts';
import { buildReport, ReportError } from '../../bench/report/build-report.ts';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../../bench/report/render.ts';
import { paperFindings } from '../../bench/report/findings.ts';
import {
  BenchmarkError,
  resumeBenchmark,
  startBenchmark,
  type BenchmarkHandle,
  type JobSummary,
} from '../../bench/runner.ts';
import {
  RANDOMNESS,
  STRATEGIES,
  type InteractiveProtocol,
  type PromptMode,
  type Randomness,
  type SelectionName,
  type StrategyName,
} from '../../bench/types.ts';
import { CliError, EXIT, parseCliArgs, type CliCommand, type CliIo } from '../command.ts';

const USAGE = `usage: medseg bench <sub-command> [options]

  run --dataset DIR [--model M[,M2]] --strategies S1,S2,S5
      [--mode faithful|corrected] [--selection oracle|predictedIou] [--randomness 0-10|10-20|20-30]
      [--interactive errorRegion|boxThen5] [--clicks N] [--seed N] [--limit N] [--shard i/N]
      [--modality M] [--classes 85=LV,170=MYO] [--layout cosmos|per-structure|images-masks|nifti] [--axis 0|1|2]
      [--mask-threshold T]
      [--db FILE|URL] [--out results.json] [--triton-url HOST:PORT] [--job ID]
        registers DIR as a dataset, runs every model (default: DEFAULT_MODEL, mobilesam) x strategy x
        object and prints progress; --out writes the JSON report at the end (its folder is created). With
        --job, an unfinished job of that id is resumed (a restarted shard of a Kubernetes Job) and a
        completed one is left as it is.
  resume [JOB] [--db FILE|URL] [--triton-url HOST:PORT]
        resumes JOB, or every job a crash left running; stored samples are never recomputed.
  jobs [--db FILE|URL]
        lists the stored jobs, newest first: id, status, samples done/total, dataset, models, strategies.
  report JOB[,JOB...]|latest [--db FILE|URL] [--format md|csv|json|html] [--out FILE]
        several jobs: the shards of one run (--shard i/N each), reported as one run.
  findings JOB [JOB...] [--db FILE|URL] [--model M]
        tests the paper's findings on the jobs' numbers (a job without randomness is the baseline, jobs
        with --randomness are compared with it).
  merge SHARD.sqlite... --db FILE [--job ID] [--source-job ID] [--format F --out FILE]
        copies the jobs of a --shard i/N run's stores (one per shard) into one job of --db, then reports it.
  merge --keep-jobs SHARD.sqlite... --db FILE
        copies shard store files as they are (each job keeps its id) into one store, without duplicates;
        then report their jobs together.
  datasets add DIR [--id ID] [--modality M] [--classes 85=LV,...] [--layout L] [--axis N] [--mask-threshold T]
      [--db FILE|URL]
        layouts: cosmos (images/, labels/ with one grey value per class), per-structure (masks/<image>_<s>_<k>),
        images-masks (masks/<name> named like images/<name>: Kvasir-SEG, ISIC, BUSI; --mask-threshold T reads
        lossy JPEG masks), nifti (image/label volume pairs).
  datasets list [--db FILE|URL]

--triton-url is the KServe v2 gRPC address of Triton (default TRITON_URL; unset: the embedded server);
--url is its old name. --db is a SQLite file or a postgres:// URL (shards of one run on several machines
write to one PostgreSQL); it defaults to DATABASE_URL when that is a postgres:// URL, else
.medseg/bench.sqlite.`;

const DEFAULT_DB = '.medseg/bench.sqlite';

/** How the CLI obtains a Segmenter; injected by tests, wired to the SAM session in production. */
export type SegmenterFactory = (options: {
  /** KServe v2 gRPC address (Triton); undefined for TRITON_URL or the embedded server. */
  url?: string;
}) => Promise<{ segmenter: Segmenter; close(): Promise<void> }>;

/** The gateway configuration from the environment (and `TRITON_URL` from `--triton-url`); CliError if bad. */
async function cliConfig(url?: string): Promise<GatewayConfig> {
  const { loadConfig, ConfigError } = await import('../../config.ts');
  try {
    return loadConfig({
      ...process.env,
      ...(url ? { TRITON_URL: url } : {}),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    });
  } catch (err: unknown) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

/**
 * Builds the Segmenter for `bench run|resume`: the SAM session over Triton at `--triton-url` (or TRITON_URL),
 * or over the embedded server started here on the model repository (MODEL_REPOSITORY), through the same
 * inference stack as `medseg start` (main.ts `createInferenceStack`: bounded queue and retries included).
 */
export const createCliSegmenter: SegmenterFactory = async (options) => {
  const config = await cliConfig(options.url);
  const { createInferenceStack, createLogger } = await import('../../main.ts');
  if (!config.tritonUrl) {
    const { ensureServedModels } = await import('../../models/ensure-models.ts');
    await ensureServedModels(config.modelRepository);
  }
  // A benchmark revisits each image once per model and strategy: keep embeddings for the whole run.
  const stack = await createInferenceStack(config, createLogger(config), { cacheTtlMs: 24 * 3600_000 });
  return { segmenter: stack.sam, close: () => stack.close() };
};

/** Parses `--shard i/N` (0 <= i < N). */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw new CliError(`--shard must be i/N with 0 <= i < N (e.g. 0/4), got '${text}'`);
  }
  return { index, count };
}

/** Parses `--strategies S1,S2,S5`. */
export function parseStrategies(text: string): StrategyName[] {
  const items = text
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter((s) => s.length > 0);
  for (const s of items) {
    if (!(STRATEGIES as readonly string[]).includes(s)) {
      throw new CliError(
        `unknown strategy '${s}' in --strategies; expected a comma list of ${STRATEGIES.join(', ')}`,
      );
    }
  }
  return items as StrategyName[];
}

/** Parses `--classes 85=LV,170=MYO` into a class map. */
export function parseClasses(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const [k, ...rest] = part.split('=');
    const name = rest.join('=').trim();
    if (!/^\d+$/.test(k.trim()) || name.length === 0) {
      throw new CliError(
        `--classes must be value=name pairs separated by commas (85=LV,170=MYO), got '${part}'`,
      );
    }
    out[k.trim()] = name;
  }
  return out;
}

function integer(text: string | undefined, what: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isInteger(v) || v < min)
    throw new CliError(`${what} must be an integer >= ${min}, got '${text}'`);
  return v;
}

function oneOf<T extends string>(
  text: string | undefined,
  allowed: readonly T[],
  what: string,
): T | undefined {
  if (text === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(text)) {
    throw new CliError(`${what} must be one of ${allowed.join(', ')}, got '${text}'`);
  }
  return text as T;
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  return parseCliArgs(args, { options, allowPositionals: true }, USAGE);
}

const DATASET_OPTIONS = {
  modality: { type: 'string' },
  'mask-threshold': { type: 'string' },
  classes: { type: 'string' },
  layout: { type: 'string' },
  axis: { type: 'string' },
  db: { type: 'string' },
} as const;

function maskThreshold(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = Number(text);
  if (text.trim() === '' || !(t >= 0 && t <= 65535))
    throw new CliError(`--mask-threshold must be a number 0..65535, got '${text}'`);
  return t;
}

function datasetOptions(values: Record<string, unknown>): DatasetOptions {
  const axis = integer(values.axis as string | undefined, '--axis', 0);
  if (axis !== undefined && axis > 2) throw new CliError(`--axis must be 0, 1 or 2, got ${axis}`);
  return {
    modality: values.modality as string | undefined,
    classes: values.classes ? parseClasses(values.classes as string) : undefined,
    layout: oneOf(
      values.layout as string | undefined,
      ['cosmos', 'per-structure', 'images-masks', 'nifti'] as DatasetLayout[],
      '--layout',
    ),
    axis: axis as 0 | 1 | 2 | undefined,
    maskThreshold: maskThreshold(values['mask-threshold'] as string | undefined),
  };
}

function checkDir(dir: string | undefined, what: string): string {
  if (!dir) throw new CliError(`${what} is required\n${USAGE}`);
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new CliError(`${what} ${dir} does not exist`);
  }
  if (!isDir) throw new CliError(`${what} ${dir} is not a directory`);
  return dir;
}

async function openStore(db: string | undefined): Promise<JobStore> {
  const envUrl = process.env.DATABASE_URL?.trim();
  const target = db ?? (isPostgresUrl(envUrl) ? envUrl : DEFAULT_DB);
  if (isPostgresUrl(target)) {
    try {
      return await openStateStore({ databaseUrl: target, stateDir: '.', connectTimeoutMs: 30_000 });
    } catch (err: unknown) {
      if (err instanceof StoreError)
        throw new CliError(`--db ${redact(target)}: ${err.message}`, EXIT.failure);
      throw err;
    }
  }
  if (target !== ':memory:') mkdirSync(dirname(target), { recursive: true });
  return new SqliteStore(target);
}

/** A sample rate for people: samples per second when at least one a second, else seconds per sample. */
export function formatRate(samplesPerSecond: number): string {
  if (!(samplesPerSecond > 0)) return 'rate ?';
  if (samplesPerSecond >= 1) return `${samplesPerSecond.toFixed(1)} samples/s`;
  const perSample = 1 / samplesPerSecond;
  return `${perSample < 10 ? perSample.toFixed(1) : Math.round(perSample)} s/sample`;
}

/** Writes `text` to `file`, creating its folder. */
async function writeOut(file: string, text: string): Promise<void> {
  mkdirSync(dirname(resolvePath(file)), { recursive: true });
  await writeFile(file, text);
}

/** `--triton-url`, or its old name `--url`. */
function tritonUrl(values: Record<string, unknown>): string | undefined {
  return (values['triton-url'] as string | undefined) ?? (values.url as string | undefined);
}

/** Prints progress lines to stderr (at most one per second) and the final summary. */
async function follow(handle: BenchmarkHandle, io: CliIo): Promise<JobSummary> {
  let lastPrint = 0;
  handle.events.on('event', (e) => {
    if (e.type === 'status') {
      io.stderr(`job ${e.jobId}: ${e.status}${e.error ? ` (${e.error})` : ''}\n`);
      return;
    }
    const now = Date.now();
    if (now - lastPrint < 1000 && e.done < e.total) return;
    lastPrint = now;
    const eta = e.etaSeconds === null ? '?' : `${Math.round(e.etaSeconds)} s`;
    io.stderr(`  ${e.done}/${e.total} samples, ${e.failed} failed, ${formatRate(e.rate)}, ETA ${eta}\n`);
  });
  const s = await handle.done;
  io.stdout(
    `job ${s.jobId} ${s.status}: ${s.done}/${s.total} samples (${s.computed} computed now, ${s.failed} failed) ` +
      `in ${(s.wallMs / 1000).toFixed(1)} s, ${((100 * s.segmenterMs) / Math.max(1, s.wallMs)).toFixed(0)}% in the segmenter\n`,
  );
  return s;
}

function mapError(err: unknown): never {
  if (err instanceof BenchmarkLimitError) throw new CliError(err.message, EXIT.failure);
  if (err instanceof DatasetError)
    throw new CliError(err.message, err.code === 'NOT_FOUND' ? EXIT.usage : EXIT.usage);
  if (err instanceof BenchmarkError || err instanceof ReportError) throw new CliError(err.message);
  throw err;
}

/** Creates the command with an injectable Segmenter factory (tests pass a fake). */
export function createBenchCommand(deps: { createSegmenter?: SegmenterFactory } = {}): CliCommand {
  const factory = deps.createSegmenter ?? createCliSegmenter;
  return {
    name: 'bench',
    summary: 'run the SAM medical benchmark protocol on a dataset; reports (md/csv/json/html)',
    usage: USAGE,
    async run(args, io) {
      const [sub, ...rest] = args;
      switch (sub) {
        case 'run':
          return runCommand(rest, io, factory);
        case 'resume':
          return resumeCommand(rest, io, factory);
        case 'report':
          return reportCommand(rest, io);
        case 'findings':
          return findingsCommand(rest, io);
        case 'jobs':
          return jobsCommand(rest, io);
        case 'merge':
          return mergeCommand(rest, io);
        case 'datasets':
          return datasetsCommand(rest, io);
        default:
          throw new CliError(
            `unknown sub-command '${sub ?? ''}'; expected run, resume, jobs, report, findings, merge or datasets\n${USAGE}`,
          );
      }
    },
  };
}

async function runCommand(args: string[], io: CliIo, factory: SegmenterFactory): Promise<number> {
  const { values } = parse(args, {
    ...DATASET_OPTIONS,
    dataset: { type: 'string' },
    model: { type: 'string' },
    strategies: { type: 'string' },
    mode: { type: 'string' },
    selection: { type: 'string' },
    randomness: { type: 'string' },
    interactive: { type: 'string' },
    clicks: { type: 'string' },
    seed: { type: 'string' },
    limit: { type: 'string' },
    shard: { type: 'string' },
    out: { type: 'string' },
    'triton-url': { type: 'string' },
    url: { type: 'string' },
    job: { type: 'string' },
  });
  const dir = checkDir(values.dataset as string | undefined, '--dataset');
  // Without --model the benchmark measures the gateway's default model (DEFAULT_MODEL, the real MobileSAM).
  const models = (
    (values.model as string | undefined) ??
    (await import('../../config.ts')).loadConfig(process.env).defaultModel
  )
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  if (models.length === 0) throw new CliError(`--model names no model\n${USAGE}`);
  const strategies = parseStrategies((values.strategies as string | undefined) ?? 'S1,S2,S3,S4,S5,S6');
  const mode = oneOf(values.mode as string | undefined, ['faithful', 'corrected'] as PromptMode[], '--mode');
  const selection = oneOf(
    values.selection as string | undefined,
    ['oracle', 'predictedIou'] as SelectionName[],
    '--selection',
  );
  const randomness = oneOf(
    values.randomness as string | undefined,
    RANDOMNESS as readonly Randomness[],
    '--randomness',
  );
  const protocol = oneOf(
    values.interactive as string | undefined,
    ['errorRegion', 'boxThen5'] as InteractiveProtocol[],
    '--interactive',
  );
  const clicks = integer(values.clicks as string | undefined, '--clicks', 1);
  const seed = integer(values.seed as string | undefined, '--seed', 0);
  const limit = integer(values.limit as string | undefined, '--limit', 1);
  const shard = values.shard ? parseShard(values.shard as string) : undefined;
  const dsOptions = datasetOptions(values);
  const store = await openStore(values.db as string | undefined);
  try {
    const { row, dataset } = await registerDataset(store, dir, dsOptions).catch(mapError);
    io.stderr(
      `dataset ${row.id}: ${dataset.stats.images} images, ${dataset.stats.objects} objects, ${dataset.problems.length} problem(s)\n`,
    );
    for (const p of dataset.problems) io.stderr(`  problem: ${p.file}: ${p.problem}\n`);
    // Refused before a backend starts.
    await checkRunningJobLimit(
      store,
      (await cliConfig()).maxBenchmarkJobs,
      values.job as string | undefined,
    ).catch(mapError);
    const { segmenter, close } = await factory({ url: tritonUrl(values) });
    try {
      let handle: BenchmarkHandle;
      const existing = values.job ? await store.getJob(values.job as string) : undefined;
      if (existing?.status === 'completed') {
        io.stdout(`job ${existing.id} is already completed\n`);
        if (values.out) {
          await writeFile(values.out as string, renderReport(await buildReport(store, existing.id), 'json'));
          io.stdout(`report written to ${values.out as string}\n`);
        }
        return EXIT.ok;
      }
      try {
        handle = existing
          ? await resumeBenchmark(existing.id, { store, segmenter })
          : await startBenchmark(
              {
                dataset: row.id,
                models,
                strategies,
                mode,
                selection,
                randomness,
                interactive: protocol ? { protocol, clicks } : null,
                seed,
                limit,
                shard,
              },
              { store, segmenter, jobId: values.job as string | undefined },
            );
      } catch (err) {
        mapError(err);
      }
      io.stderr(`job ${handle.jobId} started\n`);
      const summary = await follow(handle, io);
      if (values.out) {
        await writeOut(values.out as string, renderReport(await buildReport(store, handle.jobId), 'json'));
        io.stdout(`report written to ${values.out as string}\n`);
      }
      return summary.status === 'completed' ? EXIT.ok : EXIT.failure;
    } finally {
      await close();
    }
  } finally {
    await store.close();
  }
}

async function resumeCommand(args: string[], io: CliIo, factory: SegmenterFactory): Promise<number> {
  const { values, positionals } = parse(args, { db: { type: 'string' }, url: { type: 'string' } });
  const store = await openStore(values.db as string | undefined);
  try {
    const limit = (await cliConfig()).maxBenchmarkJobs;
    // Refused before a backend starts.
    if (positionals[0]) await checkRunningJobLimit(store, limit, positionals[0]).catch(mapError);
    const { segmenter, close } = await factory({ url: tritonUrl(values) });
    try {
      let handles: BenchmarkHandle[];
      try {
        handles = positionals[0]
          ? [await resumeBenchmark(positionals[0], { store, segmenter })]
          : await resumeAdmitted(store, segmenter, limit, io);
      } catch (err) {
        mapError(err);
      }
      if (handles.length === 0) io.stdout('no interrupted job\n');
      let ok = true;
      for (const h of handles) ok = (await follow(h, io)).status === 'completed' && ok;
      return ok ? EXIT.ok : EXIT.failure;
    } finally {
      await close();
    }
  } finally {
    await store.close();
  }
}

/**
 * Resumes every job a crash left `running` (never refused: they count already) and, within
 * MAX_BENCHMARK_JOBS, those left `queued`; a queued job over the limit stays queued, with a line saying so.
 */
async function resumeAdmitted(
  store: JobStore,
  segmenter: Segmenter,
  limit: number,
  io: CliIo,
): Promise<BenchmarkHandle[]> {
  const handles: BenchmarkHandle[] = [];
  for (const j of await store.listJobs('running'))
    handles.push(await resumeBenchmark(j.id, { store, segmenter }));
  const admitted: string[] = [];
  for (const j of await store.listJobs('queued')) {
    try {
      await checkRunningJobLimit(store, limit, j.id, admitted);
    } catch (err: unknown) {
      if (!(err instanceof BenchmarkLimitError)) throw err;
      io.stderr(`job ${j.id} stays queued: ${err.message}\n`);
      continue;
    }
    admitted.push(j.id);
    handles.push(await resumeBenchmark(j.id, { store, segmenter }));
  }
  return handles;
}

async function reportCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    db: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  });
  const wanted = positionals[0];
  if (!wanted) throw new CliError(`report needs a JOB id or 'latest'\n${USAGE}`);
  const format =
    oneOf(values.format as string | undefined, REPORT_FORMATS as readonly ReportFormat[], '--format') ?? 'md';
  const store = await openStore(values.db as string | undefined);
  try {
    let jobId = wanted;
    if (wanted === 'latest') {
      const newest = (await store.listJobs())[0];
      if (!newest) throw new CliError(`no job stored in ${(values.db as string | undefined) ?? DEFAULT_DB}`);
      jobId = newest.id;
      io.stderr(`latest job: ${jobId} (${newest.status})\n`);
    }
    let text: string;
    try {
      text = renderReport(await buildReport(store, jobId.split(',').filter(Boolean)), format);
    } catch (err) {
      mapError(err);
    }
    if (values.out) {
      await writeOut(values.out as string, text);
      io.stdout(`report written to ${values.out as string}\n`);
    } else {
      io.stdout(text);
    }
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `merge --keep-jobs`: each shard file's jobs copied as they are, without duplicates. */
async function keepJobsMerge(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { db: { type: 'string' }, 'keep-jobs': { type: 'boolean' } });
  const into = (values.db as string | undefined) ?? DEFAULT_DB;
  if (positionals.length === 0) throw new CliError(`merge needs shard store files\n${USAGE}`);
  if (isPostgresUrl(into))
    throw new CliError('merge writes into a SQLite --db file; shards on PostgreSQL share it already');
  for (const f of positionals) {
    let isFile = false;
    try {
      isFile = statSync(f).isFile();
    } catch {
      // Reported below.
    }
    if (!isFile) throw new CliError(`shard store ${f} does not exist or is not a file`);
  }
  mkdirSync(dirname(into), { recursive: true });
  const store = new SqliteStore(into);
  try {
    for (const f of positionals) {
      // Opening a shard file migrates it, so older files gain the columns the copy expects.
      try {
        await new SqliteStore(f).close();
      } catch (err: unknown) {
        throw new CliError(`${f} is not a medseg SQLite store: ${(err as Error).message}`);
      }
      let added: { jobs: number; samples: number };
      try {
        added = store.mergeFrom(f);
      } catch (err: unknown) {
        if (err instanceof StoreError) throw new CliError(err.message);
        throw err;
      }
      io.stdout(`${f}: ${added.jobs} job(s), ${added.samples} sample(s) added\n`);
    }
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

async function findingsCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { db: { type: 'string' }, model: { type: 'string' } });
  if (positionals.length === 0) throw new CliError(`findings needs at least one JOB id\n${USAGE}`);
  const store = await openStore(values.db as string | undefined);
  try {
    let reports;
    try {
      reports = await Promise.all(positionals.map((id) => buildReport(store, id)));
    } catch (err) {
      mapError(err);
    }
    const findings = paperFindings(reports, values.model as string | undefined);
    for (const f of findings)
      io.stdout(`${f.verdict.padEnd(14)} ${f.claim}\n${' '.repeat(15)}${f.evidence}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

async function jobsCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, { db: { type: 'string' } });
  const store = await openStore(values.db as string | undefined);
  try {
    const jobs = await store.listJobs();
    if (jobs.length === 0) io.stdout('no job stored\n');
    for (const j of jobs) {
      const shard = j.config.shard ? ` shard ${j.config.shard.index}/${j.config.shard.count}` : '';
      io.stdout(
        `${j.id}\t${j.status}\t${await store.countSamples(j.id)}/${j.total} samples\t${j.config.dataset}\t` +
          `${j.config.models.join(',')}\t${j.config.strategies.join(',')}${shard}\t${j.updatedAt}` +
          `${j.error ? `\t${j.error}` : ''}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `merge`: the shards of one --shard i/N run become one job of --db (or, with --keep-jobs, copies as they are). */
async function mergeCommand(args: string[], io: CliIo): Promise<number> {
  if (args.includes('--keep-jobs')) return keepJobsMerge(args, io);
  const { values, positionals } = parse(args, {
    db: { type: 'string' },
    job: { type: 'string' },
    'source-job': { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  });
  if (positionals.length === 0) throw new CliError(`merge needs the shard stores to merge\n${USAGE}`);
  if (!values.db) throw new CliError(`merge needs --db FILE, the store to merge into\n${USAGE}`);
  if (isPostgresUrl(values.db as string))
    throw new CliError('merge writes into a SQLite --db file; shards on PostgreSQL share it already');
  const format = oneOf(
    values.format as string | undefined,
    REPORT_FORMATS as readonly ReportFormat[],
    '--format',
  );
  const into = values.db as string;
  if (into !== ':memory:') mkdirSync(dirname(into), { recursive: true });
  const store = new SqliteStore(into);
  try {
    let summary: MergeSummary;
    try {
      summary = await mergeShards(store, positionals, {
        jobId: values.job as string | undefined,
        sourceJobId: values['source-job'] as string | undefined,
      });
    } catch (err) {
      if (err instanceof MergeError) throw new CliError(err.message);
      throw err;
    }
    io.stdout(
      `job ${summary.jobId} ${summary.status}: shards ${summary.shards.join(',')} of ${summary.count}, ` +
        `${summary.samples} samples${summary.error ? ` (${summary.error})` : ''}\n`,
    );
    if (values.out) {
      await writeOut(
        values.out as string,
        renderReport(await buildReport(store, summary.jobId), format ?? 'json'),
      );
      io.stdout(`report written to ${values.out as string}\n`);
    }
    return summary.status === 'completed' ? EXIT.ok : EXIT.failure;
  } finally {
    await store.close();
  }
}

async function datasetsCommand(args: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args;
  if (action === 'add') {
    const { values, positionals } = parse(rest, { ...DATASET_OPTIONS, id: { type: 'string' } });
    const dir = checkDir(positionals[0], 'datasets add DIR:');
    const store = await openStore(values.db as string | undefined);
    try {
      const { row, dataset } = await registerDataset(store, dir, {
        ...datasetOptions(values),
        id: values.id as string | undefined,
      }).catch(mapError);
      io.stdout(
        `${row.id}: ${dataset.layout} layout, ${dataset.modality}, ${dataset.stats.images} images, ` +
          `${dataset.stats.objects} objects (${Object.entries(dataset.stats.objectsPerClass)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}), ${dataset.problems.length} problem(s)\n`,
      );
      for (const p of dataset.problems) io.stdout(`  problem: ${p.file}: ${p.problem}\n`);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  }
  if (action === 'list') {
    const { values } = parse(rest, { db: { type: 'string' } });
    const store = await openStore(values.db as string | undefined);
    try {
      const rows = await store.listDatasets();
      if (rows.length === 0) io.stdout('no dataset registered\n');
      for (const r of rows) {
        const stats = r.stats as { images: number; objects: number };
        io.stdout(
          `${r.id}\t${r.layout}\t${r.modality}\t${stats.images} images\t${stats.objects} objects\t${r.root}\n`,
        );
      }
      return EXIT.ok;
    } finally {
      await store.close();
    }
  }
  throw new CliError(`datasets needs 'add DIR' or 'list', got '${action ?? ''}'\n${USAGE}`);
}

/** The `medseg bench` command. */
export const command: CliCommand = createBenchCommand();
