/**
 * Resolvers of the medical API: 3-D propagation (`segmentVolume`, and as a job: `startVolumeSegmentation`,
 * `volumeJob`, `cancelVolume`, the `volumeProgress` subscription), DICOM SEG export (`exportDicomSeg`),
 * configured PACS names, and the pixel spacing of embeddings.
 */
import { randomUUID } from 'node:crypto';
import type { BinaryMask } from '../../core/mask.ts';
import { decodeRle, encodeRle, RleError, rleToBbox } from '../../core/rle.ts';
import type { PromptPoint } from '../../core/segmenter.ts';
import { segSourceFromDicom } from '../../imaging/dicom-seg.ts';
import { propagate, type KeyPrompt, type PropagationResult, type StopReason } from '../../sam/propagation.ts';
import { callerOf } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { checkBox, checkPoint, type BoxArg, type PointArg, decodeSlot } from '../resolver-kit.ts';
import { decodeBase64 } from '../base64.ts';
import { imaging, type WindowArg } from './input.ts';
import { writeNiftiLabels } from './nifti-writer.ts';
import { pacsCall } from './pacs.ts';
import { createLoaders } from '../request-loaders.ts';
import { exportSeg, type SegOptionsArg } from './seg.ts';
import type { LoadedVolume } from '../../imaging/medical-volume.ts';
import { loadVolume, type VolumeArg } from './volume.ts';
import {
  volumeTopic,
  type JobReporter,
  type VolumeJob,
  type VolumeProgressEvent,
  type VolumeRunner,
} from '../propagation-jobs.ts';
import type { VolumeResultOut } from './services.ts';

/** VolumeSegmentInput. */
interface VolumeSegmentArg {
  volume: VolumeArg;
  keySlice: number;
  prompt: { box?: BoxArg | null; points?: PointArg[] | null };
  model?: string | null;
  window?: WindowArg | null;
  maxSlices?: number | null;
  minArea?: number | null;
  boxMargin?: number | null;
  outputs?: Array<'NIFTI' | 'DICOM_SEG'> | null;
  seg?: SegOptionsArg | null;
}

/** DicomSegExportInput. */
interface DicomSegExportArg {
  source: {
    dicom?: string[] | null;
    dicomweb?: { pacs: string; studyUID: string; seriesUID: string; instanceUIDs: string[] } | null;
  };
  masks: Array<{ sourceIndex: number; rle: { size: number[]; counts: string } }>;
  model?: string | null;
  seg?: SegOptionsArg | null;
}

const STOPS: Record<StopReason, string> = {
  vanished: 'VANISHED',
  'volume-end': 'VOLUME_END',
  limit: 'LIMIT',
  cancelled: 'CANCELLED',
};

function keyPrompt(arg: VolumeSegmentArg['prompt'], width: number, height: number): KeyPrompt {
  const points: PromptPoint[] = (arg.points ?? []).map((p, i) =>
    checkPoint(p, width, height, `prompt.points[${i}]`),
  );
  const box = arg.box ? checkBox(arg.box, width, height, 'prompt.box') : undefined;
  if (!box && !points.some((p) => p.label === 1))
    throw new ApiError('BAD_PROMPT', 'prompt needs a box or at least one positive point on the key slice');
  return { points, ...(box ? { box } : {}) };
}

function intIn(
  value: number | null | undefined,
  fallback: number,
  min: number,
  max: number,
  what: string,
): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max)
    throw new ApiError('BAD_REQUEST', `${what} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}

interface PreparedVolume {
  volume: LoadedVolume;
  arg: VolumeSegmentArg;
  model: string;
  prompt: KeyPrompt;
  maxSlices: number;
  minArea: number;
  boxMargin: number;
  outputs: Array<'NIFTI' | 'DICOM_SEG'>;
}

/** Validates a VolumeSegmentInput and loads its volume (so bad inputs fail before any job starts). */
async function prepare(ctx: ApiContext, arg: VolumeSegmentArg): Promise<PreparedVolume> {
  const { config, medical } = ctx.services;
  const maxSlices = arg.maxSlices ?? config.maxVolumeSlices;
  if (!Number.isInteger(maxSlices) || maxSlices < 1)
    throw new ApiError('BAD_REQUEST', `maxSlices must be a positive integer, got ${maxSlices}`);
  if (maxSlices > config.maxVolumeSlices)
    throw new ApiError(
      'LIMIT_EXCEEDED',
      `maxSlices ${maxSlices} exceeds the limit of ${config.maxVolumeSlices}`,
    );
  const minArea = intIn(arg.minArea, 20, 0, 1 << 30, 'minArea');
  const boxMargin = intIn(arg.boxMargin, 2, 0, 1024, 'boxMargin');
  const outputs = arg.outputs ?? ['NIFTI'];
  const volume = await decodeSlot(ctx.services, () =>
    loadVolume(arg.volume, arg.window, {
      maxBytes: config.maxBodyBytes,
      maxPixels: config.maxPixels,
      pacs: medical.pacs,
    }),
  );
  if (!Number.isInteger(arg.keySlice) || arg.keySlice < 0 || arg.keySlice >= volume.depth) {
    throw new ApiError(
      'BAD_REQUEST',
      `keySlice ${arg.keySlice} is outside 0..${volume.depth - 1} of a ${volume.depth}-slice volume`,
    );
  }
  if (outputs.includes('DICOM_SEG') && !volume.dicom)
    throw new ApiError('BAD_REQUEST', 'DICOM_SEG output needs a DICOM volume (dicomSeries or dicomweb)');
  if (arg.seg?.storeToPacs && !outputs.includes('DICOM_SEG'))
    throw new ApiError('BAD_REQUEST', 'seg.storeToPacs needs DICOM_SEG in outputs');
  return {
    volume,
    arg,
    model: arg.model ?? config.defaultModel,
    prompt: keyPrompt(arg.prompt, volume.width, volume.height),
    maxSlices,
    minArea,
    boxMargin,
    outputs,
  };
}

/** Runs the propagation and shapes the result; undefined when cancelled. */
async function run(
  ctx: ApiContext,
  p: PreparedVolume,
  reporter?: JobReporter,
): Promise<VolumeResultOut | undefined> {
  const started = performance.now();
  const result: PropagationResult = await propagate(ctx.services.sam, p.volume, {
    model: p.model,
    keySlice: p.arg.keySlice,
    prompt: p.prompt,
    maxSlices: p.maxSlices,
    minArea: p.minArea,
    boxMargin: p.boxMargin,
    ...(reporter
      ? {
          signal: reporter.signal,
          onProgress: (e) => reporter.progress(e.done, e.planned, e.slice.index, e.slice.area),
        }
      : {}),
  });
  if (result.cancelled) return undefined;
  const masks = new Map<number, BinaryMask>(result.slices.map((s) => [s.index, s.mask]));
  const nifti = p.outputs.includes('NIFTI')
    ? Buffer.from(writeNiftiLabels(p.volume.labelVolume(masks))).toString('base64')
    : null;
  const dicom = p.volume.dicom;
  const dicomSeg =
    p.outputs.includes('DICOM_SEG') && dicom
      ? await exportSeg(
          dicom.sources,
          dicom.context,
          result.slices.map((s) => ({ sourceIndex: s.index, mask: s.mask })),
          p.arg.seg,
          p.model,
          ctx.services.medical.pacs,
          dicom.pacs,
        )
      : null;
  return {
    model: p.model,
    keySlice: result.keySlice,
    dims: [p.volume.width, p.volume.height, p.volume.depth],
    spacing: p.volume.spacing ?? null,
    slices: result.slices.map((s) => {
      const rle = encodeRle(s.mask);
      const [x, y, width, height] = rleToBbox(rle);
      return {
        slice: s.index,
        rle: { size: rle.size, counts: rle.counts },
        area: s.area,
        predictedIou: s.predictedIou,
        bbox: { x, y, width, height },
        box: s.box ? { x0: s.box[0], y0: s.box[1], x1: s.box[2], y1: s.box[3] } : null,
        sopInstanceUID: dicom?.sources[s.index]?.sopInstanceUid ?? null,
      };
    }),
    stoppedUp: STOPS[result.stoppedUp],
    stoppedDown: STOPS[result.stoppedDown],
    nifti,
    dicomSeg,
    elapsedMs: Math.round(performance.now() - started),
  };
}

/** Runs a volume job taken over from a replica that died, from its stored input, with this replica's services. */
export function volumeRunner(services: ApiContext['services']): VolumeRunner<VolumeResultOut> {
  return async (spec, reporter) => {
    const ctx: ApiContext = { requestId: randomUUID(), services, loaders: createLoaders(services) };
    return run(ctx, await prepare(ctx, spec as VolumeSegmentArg), reporter);
  };
}

function jobOut(ctx: ApiContext, job: VolumeJob<VolumeResultOut>) {
  const snap = ctx.services.medical.volumeJobs.snapshot(job);
  return {
    jobId: job.id,
    status: job.status,
    slicesDone: snap.slicesDone,
    slicesPlanned: snap.slicesPlanned,
    progress: snap.progress,
    result: job.result ?? null,
    error: job.error ? { code: job.error.code, message: job.error.message } : null,
    createdAt: new Date(job.createdAtMs).toISOString(),
    finishedAt: job.finishedAtMs !== undefined ? new Date(job.finishedAtMs).toISOString() : null,
  };
}

async function segSources(ctx: ApiContext, source: DicomSegExportArg['source']) {
  const given = (source.dicom ? 1 : 0) + (source.dicomweb ? 1 : 0);
  if (given !== 1)
    throw new ApiError('BAD_REQUEST', `source needs exactly one of dicom, dicomweb; got ${given}`);
  let files: Uint8Array[];
  let pacs: string | undefined;
  if (source.dicom) {
    if (source.dicom.length === 0) throw new ApiError('BAD_REQUEST', 'source.dicom is empty');
    files = source.dicom.map((b) => decodeBase64(b, ctx.services.config.maxBodyBytes));
  } else {
    const ref = source.dicomweb!;
    if (ref.instanceUIDs.length === 0)
      throw new ApiError('BAD_REQUEST', 'source.dicomweb.instanceUIDs is empty');
    const client = ctx.services.medical.pacs.client(ref.pacs);
    files = await pacsCall(`WADO-RS from '${ref.pacs}'`, () =>
      Promise.all(ref.instanceUIDs.map((uid) => client.retrieveInstance(ref.studyUID, ref.seriesUID, uid))),
    );
    pacs = ref.pacs;
  }
  const parsed = files.map((f, i) => imaging(`source DICOM ${i}`, () => segSourceFromDicom(f)));
  return { sources: parsed.map((p) => p.source), context: parsed[0].context, pacs };
}

function maskOfRle(rle: { size: number[]; counts: string }, where: string, maxPixels: number): BinaryMask {
  if (rle.size.length !== 2) throw new ApiError('BAD_REQUEST', `${where}.size must be [height, width]`);
  // A ten-character RLE can claim billions of pixels; decoding it would hold the event loop for seconds.
  if (rle.size[0] * rle.size[1] > maxPixels) {
    throw new ApiError('IMAGE_TOO_LARGE', `${where}.size ${rle.size.join('x')} exceeds ${maxPixels} pixels`);
  }
  try {
    return decodeRle({ size: [rle.size[0], rle.size[1]], counts: rle.counts });
  } catch (err: unknown) {
    // The same class with the argument's name in front; the error table gives its code.
    if (err instanceof RleError) throw new RleError(`${where}: ${err.message}`);
    throw err;
  }
}

/** Resolvers of the medical API, merged into the resolver map by resolvers.ts. */
export const medicalResolvers = {
  Query: {
    volumeJob: async (_: unknown, a: { jobId: string }, ctx: ApiContext) => {
      // Started on another replica: read from the shared store.
      const job = await ctx.loaders.volumeJob.load(a.jobId);
      return job ? jobOut(ctx, job) : null;
    },
    pacsEndpoints: (_: unknown, __: unknown, ctx: ApiContext) => ctx.services.medical.pacs.names(),
  },
  Mutation: {
    segmentVolume: async (_: unknown, a: { input: VolumeSegmentArg }, ctx: ApiContext) => {
      const prepared = await prepare(ctx, a.input);
      return run(ctx, prepared);
    },
    startVolumeSegmentation: async (_: unknown, a: { input: VolumeSegmentArg }, ctx: ApiContext) => {
      const prepared = await prepare(ctx, a.input);
      // The job outlives this request: it gets a context of its own with the same request id.
      const jobCtx: ApiContext = {
        requestId: ctx.requestId,
        services: ctx.services,
        loaders: createLoaders(ctx.services),
      };
      // Atomic across replicas: a slot of the caller's bound is taken in the store for this job.
      const reserved = await ctx.services.medical.volumeJobs.checkSharedQuota(
        callerOf(ctx).id,
        ctx.services.config.maxJobsPerCaller,
      );
      const job = ctx.services.medical.volumeJobs.start(
        (reporter) => run(jobCtx, prepared, reporter),
        callerOf(ctx).id,
        ctx.services.config.maxJobsPerCaller,
        // The input is kept with the job, so a replica taking it over (this one died) runs it again.
        { ...(reserved !== undefined ? { id: reserved } : {}), spec: a.input },
      );
      await ctx.services.medical.volumeJobs.flush(job.id);
      return jobOut(ctx, job);
    },
    cancelVolume: (_: unknown, a: { jobId: string }, ctx: ApiContext) =>
      ctx.services.medical.volumeJobs.cancelShared(a.jobId, callerOf(ctx)),
    exportDicomSeg: async (_: unknown, a: { input: DicomSegExportArg }, ctx: ApiContext) => {
      const { sources, context, pacs } = await segSources(ctx, a.input.source);
      if (a.input.masks.length === 0) throw new ApiError('BAD_REQUEST', 'masks is empty');
      const masks = a.input.masks.map((m, i) => ({
        sourceIndex: m.sourceIndex,
        mask: maskOfRle(m.rle, `masks[${i}].rle`, ctx.services.config.maxPixels),
      }));
      return exportSeg(
        sources,
        context,
        masks,
        a.input.seg,
        a.input.model ?? ctx.services.config.defaultModel,
        ctx.services.medical.pacs,
        pacs,
      );
    },
  },
  Subscription: {
    volumeProgress: {
      subscribe: async (_: unknown, a: { jobId: string }, ctx: ApiContext) => {
        const jobs = ctx.services.medical.volumeJobs;
        // Subscribe before reading the state, so an event published in between is not lost.
        const events = ctx.services.pubsub.subscribe(volumeTopic(a.jobId));
        const job = jobs.find(a.jobId, callerOf(ctx));
        if (!job) {
          await events.return?.();
          // Running (or finished) on another replica: its events come through the shared store.
          const shared = await jobs.findShared(a.jobId, callerOf(ctx));
          if (!shared) throw new ApiError('NOT_FOUND', `volume job '${a.jobId}' is unknown or was evicted`);
          return (async function* () {
            for await (const e of jobs.sharedEvents(a.jobId)) yield { volumeProgress: e };
          })();
        }
        async function* stream(): AsyncGenerator<{ volumeProgress: VolumeProgressEvent }> {
          try {
            if (job!.status !== 'RUNNING') {
              yield { volumeProgress: jobs.snapshot(job!) };
              return;
            }
            for await (const event of events) {
              yield { volumeProgress: event };
              if (event.done) return;
            }
          } finally {
            await events.return?.();
          }
        }
        return stream();
      },
    },
  },
  Embedding: {
    spacing: (parent: { id: string }, _: unknown, ctx: ApiContext) =>
      ctx.services.medical.spacings.get(parent.id) ?? null,
  },
};
