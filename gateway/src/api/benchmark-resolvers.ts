/**
 * GraphQL resolvers of the benchmark engine (schema/benchmark.graphql): datasets under the data roots, jobs,
 * aggregated results, reports and the progress subscription. The engine itself is gateway/src/bench.
 */
import type { AggregateRow } from '../bench/aggregate.ts';
import type { DatasetLayout, DatasetStats } from '../bench/datasets/dataset.ts';
import type { DatasetRow, JobRow } from '../bench/job-store.ts';
import {
  caseImagePng,
  checkThumbnailSize,
  MAX_GALLERY_CASES,
  renderThumbnail,
  storedPromptSet,
} from '../bench/gallery.ts';
import { REPORT_FORMATS, type ReportFormat } from '../bench/report/render.ts';
import { MAX_MODELS_PER_JOB, type BenchmarkEvent, type BenchmarkInput } from '../bench/runner.ts';
import { scaledStats } from '../bench/metric-table.ts';
import type { Randomness, StrategyName } from '../bench/types.ts';
import { callerOf } from './auth.ts';
import type { ApiContext } from './context.ts';
import { ApiError, scrubServerPaths } from './errors.ts';
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
    results: async ({ scope }: { scope: string }) => {
      if (!['target', 'modality', 'dataset', 'overall'].includes(scope)) {
        throw new ApiError(
          'BAD_REQUEST',
          `scope must be target, modality, dataset or overall, got '${scope}'`,
        );
      }
      const aggregate = (await bench.report(job.id)).aggregate;
      return aggregate.rows
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
          // One field per metric of the table, in report units (schema/benchmark.graphql documents each).
          ...scaledStats(r.metrics, aggregate.metricTable),
        }));
    },
    report: async ({ format }: { format: string }) => {
      if (!(REPORT_FORMATS as readonly string[]).includes(format)) {
        throw new ApiError(
          'BAD_REQUEST',
          `format must be one of ${REPORT_FORMATS.join(', ')}, got '${format}'`,
        );
      }
      // The gallery of an HTML report counts against the request's budget of re-created cases.
      const out = await bench.renderReportCounted(
        job.id,
        format as ReportFormat,
        MAX_GALLERY_CASES - galleryCasesUsed(ctx),
      );
      spendGalleryCases(ctx, out.galleryCases);
      // Reports name the dataset's folder; a client sees it relative to the data roots.
      return scrubServerPaths(out.text, ctx.services.config.dataRoots);
    },
    gallery: async (args: {
      model?: string | null;
      strategy?: string | null;
      target?: string | null;
      objectId?: string | null;
      limit: number;
    }) => galleryOut(ctx, job.id, args),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
}

// Gallery cases re-created per request (reports and gallery fields, every alias and job together): each is an
// image load and a decode, so one request does at most MAX_GALLERY_CASES of them.
const galleryUsed = new WeakMap<ApiContext, number>();
const galleryCasesUsed = (ctx: ApiContext): number => galleryUsed.get(ctx) ?? 0;
function spendGalleryCases(ctx: ApiContext, n: number): void {
  const used = galleryCasesUsed(ctx) + n;
  if (used > MAX_GALLERY_CASES)
    throw new ApiError(
      'LIMIT_EXCEEDED',
      `one request re-creates at most ${MAX_GALLERY_CASES} gallery cases (thumbnails, images, HTML reports together)`,
    );
  galleryUsed.set(ctx, used);
}

async function galleryOut(
  ctx: ApiContext,
  jobId: string,
  args: {
    model?: string | null;
    strategy?: string | null;
    target?: string | null;
    objectId?: string | null;
    limit: number;
  },
) {
  const bench = ctx.services.benchmark;
  const picks = await bench.galleryPicks(jobId, {
    ...(args.model != null ? { model: args.model } : {}),
    ...(args.strategy != null ? { strategy: args.strategy } : {}),
    ...(args.target != null ? { target: args.target } : {}),
    ...(args.objectId != null ? { objectId: args.objectId } : {}),
    limit: args.limit,
  });
  // Cases are rebuilt once per request, and only when a thumbnail or an image is asked for.
  let rebuilt: ReturnType<typeof bench.galleryCases> | undefined;
  const rebuild = () => {
    if (rebuilt === undefined) {
      spendGalleryCases(ctx, picks.length);
      rebuilt = bench.galleryCases(jobId, picks);
    }
    return rebuilt;
  };
  return picks.map((p, i) => {
    const prompt = storedPromptSet(p.sample.prompt);
    return {
      model: p.model,
      strategy: p.strategy,
      target: p.target,
      ranks: p.ranks,
      imageId: p.sample.imageId,
      objectId: p.sample.objectId,
      dice: p.dice * 100,
      candidateIndex: p.sample.deployable!.candidateIndex,
      predictedIou: p.sample.deployable!.predictedIou,
      groupSize: p.groupSize,
      groupFailed: p.groupFailed,
      prompt: { points: prompt.points, box: prompt.box ?? null },
      thumbnail: async ({ size }: { size: number }) => {
        checkThumbnailSize(size);
        return Buffer.from(renderThumbnail((await rebuild())[i], size)).toString('base64');
      },
      image: async () => Buffer.from(caseImagePng((await rebuild())[i])).toString('base64'),
    };
  });
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

/** True when the caller may see the job: its owner, or an admin (jobs without owner: admins only). */
function visible(ctx: ApiContext, row: JobRow): boolean {
  const caller = callerOf(ctx);
  return caller.admin || row.owner === caller.id;
}

/**
 * A job the caller may see, through the request's loader (which answers another caller's job like an
 * unknown one, so ids cannot be probed); `fresh` reads it again after this request changed it.
 */
async function job(ctx: ApiContext, id: string, fresh = false): Promise<JobRow> {
  if (fresh) ctx.loaders.benchmarkJob.clear(id);
  const row = await ctx.loaders.benchmarkJob.load(id);
  if (!row) throw new ApiError('NOT_FOUND', `no benchmark job '${id}'`);
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
    datasets: async (_: unknown, __: unknown, ctx: ApiContext) =>
      (await ctx.services.benchmark.datasets()).map(datasetOut),
    benchmark: async (_: unknown, a: { id: string }, ctx: ApiContext) => {
      const row = await ctx.loaders.benchmarkJob.load(a.id);
      return row ? jobOut(ctx, row) : null;
    },
    benchmarks: async (_: unknown, __: unknown, ctx: ApiContext) =>
      Promise.all(
        (await ctx.services.benchmark.jobs()).filter((j) => visible(ctx, j)).map((j) => jobOut(ctx, j)),
      ),
  },
  Mutation: {
    registerDataset: async (
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
    startBenchmark: async (_: unknown, { input }: { input: StartArgs }, ctx: ApiContext) => {
      const caller = callerOf(ctx);
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
          if (typeof model === 'string' && /^[\w.-]{1,128}$/.test(model)) await ctx.loaders.model.load(model);
      }
      const handle = await ctx.services.benchmark.start(
        bench,
        undefined,
        caller.id,
        ctx.services.config.maxJobsPerCaller,
      );
      return jobOut(ctx, await job(ctx, handle.jobId));
    },
    cancelBenchmark: async (_: unknown, a: { id: string }, ctx: ApiContext) => {
      const row = await job(ctx, a.id);
      await ctx.services.benchmark.cancel(a.id);
      ctx.loaders.benchmarkJob.clear(a.id);
      return jobOut(ctx, (await ctx.loaders.benchmarkJob.load(a.id)) ?? row);
    },
    resumeBenchmark: async (_: unknown, a: { id: string }, ctx: ApiContext) => {
      await job(ctx, a.id);
      await ctx.services.benchmark.resume(a.id);
      return jobOut(ctx, await job(ctx, a.id, true));
    },
  },
  Subscription: {
    benchmarkProgress: {
      subscribe: async function* (_: unknown, a: { id: string }, ctx: ApiContext) {
        const row = await ctx.loaders.benchmarkJob.load(a.id);
        if (!row) {
          throw new ApiError('NOT_FOUND', `no benchmark job '${a.id}'`);
        }
        for await (const e of ctx.services.benchmark.events(a.id)) yield { benchmarkProgress: eventOut(e) };
      },
    },
  },
};
