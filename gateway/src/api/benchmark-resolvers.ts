/**
 * GraphQL resolvers of the benchmark engine (schema/benchmark.graphql): datasets under the data roots, jobs,
 * aggregated results, reports and the progress subscription. The engine itself is gateway/src/bench.
 */
import type { AggregateRow, MetricStat } from '../bench/aggregate.ts';
import { DatasetError, type DatasetLayout, type DatasetStats } from '../bench/datasets/dataset.ts';
import type { DatasetRow, JobRow } from '../bench/job-store.ts';
import { BenchmarkLimitError } from '../bench/benchmark-service.ts';
import { ReportError } from '../bench/report/build-report.ts';
import { REPORT_FORMATS, type ReportFormat } from '../bench/report/render.ts';
import {
  BenchmarkError,
  MAX_MODELS_PER_JOB,
  type BenchmarkEvent,
  type BenchmarkInput,
} from '../bench/runner.ts';
import type { Randomness, StrategyName } from '../bench/types.ts';
import { callerOf } from './auth.ts';
import type { ApiContext } from './context.ts';
import { ApiError, scrubServerPaths, toGraphQLError } from './errors.ts';
import { guarded } from './resolver-kit.ts';
import { confinePath } from './image-input.ts';

const LAYOUTS: Record<string, DatasetLayout> = {
  COSMOS: 'cosmos',
  PER_STRUCTURE: 'per-structure',
  IMAGES_MASKS: 'images-masks',
  NIFTI: 'nifti',
};
const RANDOMNESS: Record<string, Randomness> = {
  NONE: 'none',
  R0_10: '0-10',
  R10_20: '10-20',
  R20_30: '20-30',
};

function datasetOut(row: DatasetRow) {
  const stats = row.stats as Partial<DatasetStats> | null;
  return {
    id: row.id,
    name: row.name,
    layout: row.layout,
    modality: row.modality,
    images: stats?.images ?? 0,
    objects: stats?.objects ?? 0,
    objectsPerClass: Object.entries(stats?.objectsPerClass ?? {}).map(([name, count]) => ({ name, count })),
    problems: (row.problems as Array<{ file: string; problem: string }>).map((p) => ({
      file: p.file,
      problem: p.problem,
    })),
    createdAt: row.createdAt,
  };
}

/** A metric summary, scaled (Dice, IoU and NSD are fractions in the store and x100 in the API, as the paper). */
function stat(s: MetricStat | undefined, scale = 1) {
  return {
    mean: s?.mean == null ? null : s.mean * scale,
    std: s?.std == null ? null : s.std * scale,
    n: s?.n ?? 0,
  };
}

/**
 * A field resolved by a function on the parent object (graphql's default resolver calls it with the
 * arguments): its errors leave with public codes, like those of the guarded root resolvers. Thrown raw, an
 * ApiError would reach the client as INTERNAL.
 */
function typedField<A, R>(fn: (args: A) => R | Promise<R>): (args: A, ctx?: ApiContext) => Promise<R> {
  return async (args: A, ctx?: ApiContext) => {
    try {
      return await fn(args);
    } catch (err: unknown) {
      throw toGraphQLError(engineError(err), ctx?.requestId);
    }
  };
}

async function jobOut(ctx: ApiContext, job: JobRow) {
  const bench = ctx.services.benchmark;
  const p = await bench.progress(job.id);
  return {
    id: job.id,
    dataset: job.datasetId,
    models: job.config.models,
    strategies: job.config.strategies,
    status: job.status,
    error: job.error,
    progress: {
      done: p?.done ?? 0,
      total: p?.total ?? job.total,
      failed: p?.failed ?? 0,
      rate: p?.rate ?? 0,
      etaSeconds: p?.etaSeconds ?? null,
    },
    results: typedField(async ({ scope }: { scope: string }) => {
      if (!['target', 'modality', 'dataset', 'overall'].includes(scope)) {
        throw new ApiError(
          'BAD_REQUEST',
          `scope must be target, modality, dataset or overall, got '${scope}'`,
        );
      }
      return (await bench.report(job.id)).aggregate.rows
        .filter((r: AggregateRow) => r.scope === scope)
        .map((r: AggregateRow) => ({
          model: r.model,
          strategy: r.strategy,
          selection: r.selection,
          scope: r.scope,
          target: r.target,
          modality: r.modality,
          samples: r.samples,
          failed: r.failed,
          dice: stat(r.metrics.dice, 100),
          iou: stat(r.metrics.iou, 100),
          hd95: stat(r.metrics.hd95),
          nsd: stat(r.metrics.nsd, 100),
        }));
    }),
    report: typedField(async ({ format }: { format: string }) => {
      if (!(REPORT_FORMATS as readonly string[]).includes(format)) {
        throw new ApiError(
          'BAD_REQUEST',
          `format must be one of ${REPORT_FORMATS.join(', ')}, got '${format}'`,
        );
      }
      // Reports name the dataset's folder; a client sees it relative to the data roots.
      return scrubServerPaths(
        await bench.renderReport(job.id, format as ReportFormat),
        ctx.services.config.dataRoots,
      );
    }),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
}

function eventOut(e: BenchmarkEvent) {
  return e.type === 'progress'
    ? {
        jobId: e.jobId,
        type: 'progress',
        progress: { done: e.done, total: e.total, failed: e.failed, rate: e.rate, etaSeconds: e.etaSeconds },
        status: null,
        error: null,
      }
    : { jobId: e.jobId, type: 'status', progress: null, status: e.status, error: e.error };
}

/** Maps the engine's own errors (bad input, unknown job or dataset) onto BAD_REQUEST. */
function engineError(err: unknown): unknown {
  if (err instanceof BenchmarkLimitError) return new ApiError('LIMIT_EXCEEDED', err.message);
  if (err instanceof BenchmarkError || err instanceof ReportError)
    return new ApiError('BAD_REQUEST', err.message);
  if (err instanceof DatasetError)
    return new ApiError(err.code === 'EXISTS' ? 'ALREADY_EXISTS' : 'BAD_REQUEST', `dataset: ${err.message}`);
  return err;
}

/** The engine's errors with public codes, and without the server's absolute data paths in their messages. */
function guard<A extends unknown[], R>(fn: (...args: A) => Promise<R> | R): (...args: A) => Promise<R> {
  return guarded(async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err: unknown) {
      const mapped = engineError(err);
      const ctx = args[2] as ApiContext | undefined;
      if (mapped instanceof ApiError && ctx)
        throw new ApiError(
          mapped.code,
          scrubServerPaths(mapped.message, ctx.services.config.dataRoots),
          mapped.details,
        );
      throw mapped;
    }
  });
}

/** True when the caller may see the job: its owner, or an admin (jobs without owner: admins only). */
function visible(ctx: ApiContext, row: JobRow): boolean {
  const caller = callerOf(ctx);
  return caller.admin || row.owner === caller.id;
}

/** A job the caller may see; another caller's job is answered like an unknown one, so ids cannot be probed. */
async function job(ctx: ApiContext, id: string): Promise<JobRow> {
  const row = await ctx.services.benchmark.job(id);
  if (!row || !visible(ctx, row)) throw new ApiError('BAD_REQUEST', `no benchmark job '${id}'`);
  return row;
}

interface StartArgs {
  dataset: string;
  models: string[];
  strategies: StrategyName[];
  mode?: 'FAITHFUL' | 'CORRECTED' | null;
  randomness?: string | null;
  interactive?: 'ERROR_REGION' | 'BOX_THEN_5' | null;
  clicks?: number | null;
  seed?: number | null;
  limit?: number | null;
  shardIndex?: number | null;
  shardCount?: number | null;
  nsdTolerance?: number | null;
}

/** Resolvers merged into the gateway's resolver map. */
export const benchmarkResolvers = {
  Query: {
    datasets: guard(async (_: unknown, __: unknown, ctx: ApiContext) =>
      (await ctx.services.benchmark.datasets()).map(datasetOut),
    ),
    benchmark: guard(async (_: unknown, a: { id: string }, ctx: ApiContext) => {
      const row = await ctx.services.benchmark.job(a.id);
      return row && visible(ctx, row) ? jobOut(ctx, row) : null;
    }),
    benchmarks: guard(async (_: unknown, __: unknown, ctx: ApiContext) =>
      Promise.all(
        (await ctx.services.benchmark.jobs()).filter((j) => visible(ctx, j)).map((j) => jobOut(ctx, j)),
      ),
    ),
  },
  Mutation: {
    registerDataset: guard(
      async (
        _: unknown,
        {
          input,
        }: {
          input: {
            path: string;
            id?: string | null;
            layout?: string | null;
            modality?: string | null;
            classes?: Array<{ value: number; name: string }> | null;
            axis?: number | null;
            replace?: boolean | null;
            maskThreshold?: number | null;
          };
        },
        ctx: ApiContext,
      ) => {
        const root = await confinePath(input.path, ctx.services.config.dataRoots);
        if (input.axis != null && ![0, 1, 2].includes(input.axis))
          throw new ApiError('BAD_REQUEST', `axis must be 0, 1 or 2, got ${input.axis}`);
        if (input.maskThreshold != null && !(input.maskThreshold >= 0 && input.maskThreshold <= 65535))
          throw new ApiError('BAD_REQUEST', `maskThreshold must be 0..65535, got ${input.maskThreshold}`);
        const { row } = await ctx.services.benchmark.addDataset(root, {
          ...(input.id ? { id: input.id } : {}),
          replace: input.replace === true,
          ...(input.layout ? { layout: LAYOUTS[input.layout] } : {}),
          ...(input.modality ? { modality: input.modality } : {}),
          ...(input.classes
            ? { classes: Object.fromEntries(input.classes.map((c) => [String(c.value), c.name])) }
            : {}),
          ...(input.axis != null ? { axis: input.axis as 0 | 1 | 2 } : {}),
          ...(input.maskThreshold != null ? { maskThreshold: input.maskThreshold } : {}),
        });
        return datasetOut(row);
      },
    ),
    startBenchmark: guard(async (_: unknown, { input }: { input: StartArgs }, ctx: ApiContext) => {
      // Read from the shared store: the bounds hold across every replica.
      const active = (await ctx.services.benchmark.jobs()).filter(
        (j) => j.status === 'running' || j.status === 'queued',
      );
      const caller = callerOf(ctx);
      const mine = active.filter((j) => j.owner === caller.id).length;
      if (mine >= ctx.services.config.maxJobsPerCaller) {
        throw new ApiError(
          'LIMIT_EXCEEDED',
          `this caller runs ${mine} benchmark jobs (limit ${ctx.services.config.maxJobsPerCaller} per caller); wait or cancel one`,
        );
      }
      // MAX_BENCHMARK_JOBS is the service's rule (start and resume alike): BenchmarkLimitError below.
      if ((input.shardIndex == null) !== (input.shardCount == null)) {
        throw new ApiError('BAD_REQUEST', 'give both shardIndex and shardCount, or neither');
      }
      const bench: BenchmarkInput = {
        dataset: input.dataset,
        models: input.models,
        strategies: input.strategies,
        mode: input.mode === 'CORRECTED' ? 'corrected' : 'faithful',
        randomness: RANDOMNESS[input.randomness ?? 'NONE'],
        interactive: input.interactive
          ? {
              protocol: input.interactive === 'BOX_THEN_5' ? 'boxThen5' : 'errorRegion',
              ...(input.clicks != null ? { clicks: input.clicks } : {}),
            }
          : null,
        seed: input.seed ?? 0,
        limit: input.limit ?? null,
        shard: input.shardCount != null ? { index: input.shardIndex!, count: input.shardCount } : null,
        ...(input.nsdTolerance != null ? { nsdTolerance: input.nsdTolerance } : {}),
      };
      // Each model must be served before the job is stored: a typo is MODEL_NOT_FOUND now, not a job that
      // fails every sample later.
      const distinct = new Set(input.models);
      if (distinct.size <= MAX_MODELS_PER_JOB) {
        for (const model of distinct)
          if (typeof model === 'string' && /^[\w.-]{1,128}$/.test(model))
            await ctx.services.sam.resolve(model);
      }
      const handle = await ctx.services.benchmark.start(bench, undefined, caller.id);
      return jobOut(ctx, await job(ctx, handle.jobId));
    }),
    cancelBenchmark: guard(async (_: unknown, a: { id: string }, ctx: ApiContext) => {
      const row = await job(ctx, a.id);
      await ctx.services.benchmark.cancel(a.id);
      return jobOut(ctx, (await ctx.services.benchmark.job(a.id)) ?? row);
    }),
    resumeBenchmark: guard(async (_: unknown, a: { id: string }, ctx: ApiContext) => {
      await job(ctx, a.id);
      await ctx.services.benchmark.resume(a.id);
      return jobOut(ctx, await job(ctx, a.id));
    }),
  },
  Subscription: {
    benchmarkProgress: {
      subscribe: async function* (_: unknown, a: { id: string }, ctx: ApiContext) {
        const row = await ctx.services.benchmark.job(a.id);
        if (!row || !visible(ctx, row)) {
          throw toGraphQLError(new ApiError('BAD_REQUEST', `no benchmark job '${a.id}'`), ctx.requestId);
        }
        for await (const e of ctx.services.benchmark.events(a.id)) yield { benchmarkProgress: eventOut(e) };
      },
    },
  },
};
