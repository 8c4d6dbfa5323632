/**
 * GraphQL resolvers: validate arguments at the boundary, call the SAM session, and shape masks for clients.
 * Errors leave as ApiError (mapped to GraphQLError with `extensions.code` by formatError).
 */
import { decodeRle, RleError } from '../core/rle.ts';
import type { MaskCandidate, PromptSet } from '../core/segmenter.ts';
import type { EmbeddingInfo } from '../sam/session.ts';
import { maskToLowRes } from '../sam/session.ts';
import type { SamModel } from '../sam/contract.ts';
import { sessionPrompts, type AnnotationSessionState } from './annotation-sessions.ts';
import { callerOf } from './auth.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './errors.ts';
import { checkBox, checkPoint, finite, type BoxArg, type PointArg } from './resolver-kit.ts';
import type { ImageInputArg } from './image-input.ts';
import { maskOutput, type MaskOutputForm, type ProvenanceInput } from './mask-output.ts';
import { medicalResolvers } from './medical/resolvers.ts';
import { benchmarkResolvers } from './benchmark-resolvers.ts';
import { viewerResolvers } from './viewer-resolvers.ts';
import { finetuneResolvers } from './finetune-resolvers.ts';

interface PromptSetArg {
  points?: PointArg[] | null;
  box?: BoxArg | null;
  previousMask?: { lowResId?: string | null; rle?: { size: number[]; counts: string } | null } | null;
}
interface SegmentOptionsArg {
  multimask?: boolean | null;
  selection?: 'BEST_PREDICTED_IOU' | 'ALL' | null;
  maskThreshold?: number | null;
  outputs?: MaskOutputForm[] | null;
}
interface SegmentInputArg {
  image?: ImageInputArg | null;
  embeddingId?: string | null;
  model?: string | null;
  prompts: PromptSetArg[];
  options?: SegmentOptionsArg | null;
}
interface EverythingOptionsArg {
  pointsPerSide?: number | null;
  pointsPerBatch?: number | null;
  predIouThresh?: number | null;
  stabilityScoreThresh?: number | null;
  stabilityScoreOffset?: number | null;
  boxNmsThresh?: number | null;
  minMaskRegionArea?: number | null;
  outputs?: MaskOutputForm[] | null;
}

function embeddingOut(e: EmbeddingInfo) {
  return {
    id: e.id,
    model: e.model,
    modelVersion: e.modelVersion,
    width: e.width,
    height: e.height,
    cached: e.cached,
    expiresAt: new Date(e.expiresAtMs).toISOString(),
  };
}

/** The embedding a request names: by id, or by image (read, decoded and encoded once per request). */
async function embeddingFor(
  ctx: ApiContext,
  image: ImageInputArg | null | undefined,
  embeddingId: string | null | undefined,
  model: string | null | undefined,
): Promise<EmbeddingInfo> {
  if ((image ? 1 : 0) + (embeddingId ? 1 : 0) !== 1) {
    throw new ApiError('BAD_REQUEST', 'give exactly one of image or embeddingId');
  }
  if (embeddingId) {
    const e = await ctx.loaders.embeddingById.load(embeddingId);
    if (!e)
      throw new ApiError(
        'EMBEDDING_NOT_FOUND',
        `embedding '${embeddingId}' is unknown or expired; encode the image again`,
      );
    if (model && model !== e.model) {
      throw new ApiError(
        'BAD_REQUEST',
        `embedding '${embeddingId}' belongs to model '${e.model}', not '${model}'`,
      );
    }
    return e;
  }
  return ctx.loaders.embeddingByImage.load({
    image: image!,
    model: model ?? ctx.services.config.defaultModel,
  });
}

function toPromptSets(ctx: ApiContext, args: PromptSetArg[], e: EmbeddingInfo, model: SamModel): PromptSet[] {
  const { config } = ctx.services;
  if (args.length === 0) throw new ApiError('BAD_PROMPT', 'prompts is empty: give at least one prompt set');
  if (args.length > config.maxPromptSets) {
    throw new ApiError(
      'LIMIT_EXCEEDED',
      `${args.length} prompt sets exceed the limit of ${config.maxPromptSets}`,
    );
  }
  return args.map((arg, i) => {
    const where = `prompts[${i}]`;
    const points = (arg.points ?? []).map((p, j) =>
      checkPoint(p, e.width, e.height, `${where}.points[${j}]`),
    );
    if (points.length > config.maxPointsPerSet) {
      throw new ApiError(
        'LIMIT_EXCEEDED',
        `${where} has ${points.length} points, limit ${config.maxPointsPerSet}`,
      );
    }
    const box = arg.box ? checkBox(arg.box, e.width, e.height, `${where}.box`) : undefined;
    const set: PromptSet = { points, box };
    const prior = arg.previousMask;
    if (prior?.lowResId) {
      const found = ctx.services.lowRes.get(prior.lowResId);
      if (!found)
        throw new ApiError(
          'BAD_PROMPT',
          `${where}.previousMask.lowResId '${prior.lowResId}' is unknown or expired`,
        );
      if (found.model !== e.model) {
        throw new ApiError(
          'BAD_PROMPT',
          `${where}.previousMask came from model '${found.model}', not '${e.model}'`,
        );
      }
      set.maskInput = found.logits;
    } else if (prior?.rle) {
      const { size, counts } = prior.rle;
      if (size.length !== 2 || size[0] !== e.height || size[1] !== e.width) {
        throw new ApiError(
          'BAD_PROMPT',
          `${where}.previousMask.rle size [${size.join(', ')}] must be the image size [${e.height}, ${e.width}]`,
        );
      }
      let mask;
      try {
        mask = decodeRle({ size: [size[0], size[1]], counts });
      } catch (err: unknown) {
        // The same class with the argument's name in front; the error table gives its code.
        if (err instanceof RleError) throw new RleError(`${where}.previousMask.rle: ${err.message}`);
        throw err;
      }
      set.maskInput = maskToLowRes(mask, model);
    }
    if (points.length === 0 && !box && !set.maskInput) {
      throw new ApiError('BAD_PROMPT', `${where} has no point, no box and no previous mask`);
    }
    return set;
  });
}

function provenance(ctx: ApiContext, e: EmbeddingInfo, set: PromptSet, c: MaskCandidate): ProvenanceInput {
  const model = ctx.services.sam.resolved(e.model);
  return {
    model: e.model,
    modelVersion: e.modelVersion,
    profile: model?.profile.name ?? '',
    encoder: model?.encoder ?? '',
    decoder: model?.decoder ?? '',
    points: set.points.map((p) => ({ x: p.x, y: p.y, positive: p.label === 1 })),
    box: set.box ? { x0: set.box[0], y0: set.box[1], x1: set.box[2], y1: set.box[3] } : null,
    usedPreviousMask: set.maskInput !== undefined,
    candidateIndex: c.index,
    createdAt: new Date().toISOString(),
  };
}

async function runSession(ctx: ApiContext, s: AnnotationSessionState) {
  const { points, box } = sessionPrompts(s.actions);
  if (points.length === 0 && !box) return undefined;
  const prev = ctx.services.sessions.current(s)?.mask;
  const set: PromptSet = { points, box, maskInput: prev?.lowRes };
  const [candidates] = await ctx.services.sam.decode(s.embeddingId, [set], {
    multimask: points.length <= 1,
    select: 'best',
  });
  const best = [...candidates].sort((a, b) => b.predictedIou - a.predictedIou)[0];
  return { best, set };
}

function sessionOut(ctx: ApiContext, s: AnnotationSessionState) {
  const e = ctx.services.sam.embedding(s.embeddingId);
  if (!e)
    throw new ApiError(
      'SESSION_NOT_FOUND',
      `session '${s.id}' lost its embedding (expired); start a new session`,
    );
  const { points, box } = sessionPrompts(s.actions);
  const current = ctx.services.sessions.current(s);
  const set: PromptSet = { points, box };
  return {
    id: s.id,
    model: s.model,
    embedding: embeddingOut(e),
    clicks: points.map((p) => ({ x: p.x, y: p.y, positive: p.label === 1 })),
    box: box ? { x0: box[0], y0: box[1], x1: box[2], y1: box[3] } : null,
    clickCount: points.length,
    elapsedMs: Date.now() - s.startedAtMs,
    mask: current
      ? maskOutput(ctx, current.mask, provenance(ctx, e, set, current.mask), [], current.lowResId)
      : null,
    expiresAt: new Date(ctx.services.sessions.expiresAtMs(s)).toISOString(),
  };
}

async function applyAction(ctx: ApiContext, id: string, change: (s: AnnotationSessionState) => void) {
  const s = ctx.services.sessions.get(id, callerOf(ctx));
  await ctx.loaders.model.load(s.model);
  change(s);
  const result = await runSession(ctx, s);
  if (result) {
    ctx.services.sessions.recordMask(s, result.best, ctx.services.lowRes.put(result.best.lowRes, s.model));
  }
  await ctx.services.handles?.pushSession(s);
  return sessionOut(ctx, s);
}

/** A live session, read from the shared store first when replicas share one (another may have changed it). */
async function sessionFor(ctx: ApiContext, id: string): Promise<AnnotationSessionState> {
  await ctx.services.handles?.pullSession(id);
  return ctx.services.sessions.get(id, callerOf(ctx));
}

/** The resolver map for schema/schema.graphql. */
/** segmentEverything calls running per gateway (keyed by its services, so test gateways stay apart). */
const everythingRunning = new WeakMap<object, number>();

/** One of EVERYTHING_MAX_RUNNING slots, or RESOURCE_EXHAUSTED; returns the release function. */
const everythingSlots = {
  take(ctx: ApiContext): () => void {
    const key = ctx.services;
    const running = everythingRunning.get(key) ?? 0;
    if (running >= ctx.services.config.everythingMaxRunning)
      throw new ApiError(
        'RESOURCE_EXHAUSTED',
        `${running} segmentEverything calls are running (EVERYTHING_MAX_RUNNING); retry later`,
        { retryAfterSeconds: 5 },
      );
    everythingRunning.set(key, running + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      everythingRunning.set(key, (everythingRunning.get(key) ?? 1) - 1);
    };
  },
};

/** Aborted when the client goes away or the deadline passes, with a typed reason; dispose clears the timer. */
function everythingSignal(ctx: ApiContext, deadlineMs: number): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new ApiError(
          'DEADLINE_EXCEEDED',
          `segmentEverything ran past EVERYTHING_DEADLINE_MS=${deadlineMs} ms`,
        ),
      ),
    deadlineMs,
  );
  const onGone = () =>
    controller.abort(new ApiError('DEADLINE_EXCEEDED', 'the client went away; segmentEverything stopped'));
  if (ctx.signal?.aborted) onGone();
  ctx.signal?.addEventListener('abort', onGone, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onGone);
    },
  };
}

export const resolvers = {
  Query: {
    models: async (_: unknown, __: unknown, ctx: ApiContext) =>
      (await ctx.services.sam.listModels()).map(modelOut),
    model: async (_: unknown, args: { name: string }, ctx: ApiContext) => {
      const found = await ctx.loaders.modelListing.load(args.name);
      return found ? modelOut(found) : null;
    },
    embedding: async (_: unknown, args: { id: string }, ctx: ApiContext) => {
      const e = await ctx.loaders.embeddingById.load(args.id);
      return e ? embeddingOut(e) : null;
    },
    segment: async (_: unknown, { input }: { input: SegmentInputArg }, ctx: ApiContext) => {
      const e = await embeddingFor(ctx, input.image, input.embeddingId, input.model);
      const model = await ctx.loaders.model.load(e.model);
      for (const p of input.prompts ?? []) {
        if (p.previousMask?.lowResId) await ctx.services.handles?.ensureLowRes(p.previousMask.lowResId);
      }
      const sets = toPromptSets(ctx, input.prompts, e, model);
      const o = input.options ?? {};
      const threshold = o.maskThreshold ?? 0;
      finite(threshold, 'options.maskThreshold');
      const all = (o.selection ?? 'BEST_PREDICTED_IOU') === 'ALL';
      const results = await ctx.services.sam.decode(
        e.id,
        sets,
        { multimask: o.multimask ?? true, maskThreshold: threshold, select: all ? 'all' : 'best' },
        model,
      );
      const out = {
        embedding: embeddingOut(e),
        results: results.map((candidates, i) => {
          const ordered = [...candidates].sort((a, b) => b.predictedIou - a.predictedIou);
          const chosen = all ? ordered : ordered.slice(0, 1);
          return {
            promptIndex: i,
            masks: chosen.map((c) => maskOutput(ctx, c, provenance(ctx, e, sets[i], c), o.outputs ?? [])),
          };
        }),
      };
      // The lowResIds just issued are in the shared store before the client can use them elsewhere.
      await ctx.services.handles?.flush();
      return out;
    },
    segmentEverything: async (
      _: unknown,
      args: { image: ImageInputArg; model?: string | null; options?: EverythingOptionsArg | null },
      ctx: ApiContext,
    ) => {
      const cfg = ctx.services.config;
      const o = args.options ?? {};
      const pps = o.pointsPerSide ?? 32;
      const maxSide = Math.floor(Math.sqrt(cfg.everythingMaxPoints));
      // Bounds that need no image are checked before the image is read or encoded.
      if (!Number.isInteger(pps) || pps < 1 || pps > maxSide)
        throw new ApiError(
          'LIMIT_EXCEEDED',
          `pointsPerSide must be in 1..${maxSide} (EVERYTHING_MAX_POINTS=${cfg.everythingMaxPoints}), got ${pps}`,
        );
      const ppb = o.pointsPerBatch ?? Math.min(64, cfg.everythingMaxPointsPerBatch);
      if (!Number.isInteger(ppb) || ppb < 1 || ppb > cfg.everythingMaxPointsPerBatch)
        throw new ApiError(
          'LIMIT_EXCEEDED',
          `pointsPerBatch must be in 1..${cfg.everythingMaxPointsPerBatch} (EVERYTHING_MAX_POINTS_PER_BATCH), got ${ppb}`,
        );
      for (const k of ['predIouThresh', 'stabilityScoreThresh', 'boxNmsThresh'] as const) {
        const v = o[k];
        if (v != null && !(v >= 0 && v <= 1))
          throw new ApiError('BAD_REQUEST', `${k} must be in [0, 1], got ${v}`);
      }
      const release = everythingSlots.take(ctx);
      try {
        const e = await embeddingFor(ctx, args.image, undefined, args.model);
        // Every candidate is a full-size mask: 3 per point (multimask), each the image's pixels.
        const pixelCandidates = pps * pps * 3 * e.width * e.height;
        if (pixelCandidates > cfg.everythingMaxPixelCandidates)
          throw new ApiError(
            'LIMIT_EXCEEDED',
            `${pps}x${pps} points x 3 masks of ${e.width}x${e.height} pixels is ${pixelCandidates} pixel-candidates, over EVERYTHING_MAX_PIXEL_CANDIDATES=${cfg.everythingMaxPixelCandidates}; use fewer pointsPerSide`,
          );
        await ctx.loaders.model.load(e.model);
        const signal = everythingSignal(ctx, cfg.everythingDeadlineMs);
        const result = await ctx.services.sam
          .everything(e.id, {
            pointsPerSide: pps,
            pointsPerBatch: ppb,
            predIouThresh: o.predIouThresh ?? undefined,
            stabilityScoreThresh: o.stabilityScoreThresh ?? undefined,
            stabilityScoreOffset: o.stabilityScoreOffset ?? undefined,
            boxNmsThresh: o.boxNmsThresh ?? undefined,
            minMaskRegionArea: o.minMaskRegionArea ?? undefined,
            signal: signal.signal,
          })
          .catch((err: unknown) => {
            if (signal.signal.aborted) {
              ctx.services.log.info(
                { requestId: ctx.requestId, reason: (signal.signal.reason as Error).message },
                'segmentEverything stopped',
              );
              throw signal.signal.reason;
            }
            throw err;
          })
          .finally(() => signal.dispose());
        const empty: PromptSet = { points: [] };
        const out = {
          embedding: embeddingOut(e),
          masks: result.masks.map((c) => maskOutput(ctx, c, provenance(ctx, e, empty, c), o.outputs ?? [])),
          pointsEvaluated: result.pointsEvaluated,
          candidatesConsidered: result.candidatesConsidered,
        };
        await ctx.services.handles?.flush();
        return out;
      } finally {
        release();
      }
    },
    session: async (_: unknown, args: { id: string }, ctx: ApiContext) => {
      await ctx.services.handles?.pullSession(args.id);
      const s = ctx.services.sessions.find(args.id, callerOf(ctx));
      return s ? sessionOut(ctx, s) : null;
    },
    cacheStats: (_: unknown, __: unknown, ctx: ApiContext) => ctx.services.cache.stats(),
    ...medicalResolvers.Query,
    ...benchmarkResolvers.Query,
    ...viewerResolvers.Query,
    ...finetuneResolvers.Query,
  },
  Mutation: {
    encodeImage: async (_: unknown, args: { image: ImageInputArg; model?: string | null }, ctx: ApiContext) =>
      embeddingOut(await embeddingFor(ctx, args.image, undefined, args.model)),
    startSession: async (
      _: unknown,
      args: { image: ImageInputArg; model?: string | null },
      ctx: ApiContext,
    ) => {
      const e = await embeddingFor(ctx, args.image, undefined, args.model);
      await ctx.loaders.model.load(e.model);
      const s = ctx.services.sessions.create(e.model, e.id, e.width, e.height, callerOf(ctx).id);
      // The session bounds (overall and per caller) hold across replicas when they share a store: the claim
      // counts and inserts in one step, and drops the session again when a bound is reached.
      await ctx.services.handles?.claimSession(s);
      return sessionOut(ctx, s);
    },
    addClick: async (
      _: unknown,
      a: { session: string; x: number; y: number; positive: boolean },
      ctx: ApiContext,
    ) => {
      const s = await sessionFor(ctx, a.session);
      const point = checkPoint(a, s.width, s.height, 'click');
      ctx.services.sessions.checkClickRoom(s, ctx.services.config.maxPointsPerSet);
      return applyAction(ctx, a.session, (st) =>
        ctx.services.sessions.addAction(st, { kind: 'click', point }),
      );
    },
    setBox: async (_: unknown, a: { session: string; box: BoxArg }, ctx: ApiContext) => {
      const s = await sessionFor(ctx, a.session);
      const box = checkBox(a.box, s.width, s.height, 'box');
      return applyAction(ctx, a.session, (st) => ctx.services.sessions.addAction(st, { kind: 'box', box }));
    },
    undo: async (_: unknown, a: { session: string }, ctx: ApiContext) => {
      const s = await sessionFor(ctx, a.session);
      ctx.services.sessions.undo(s);
      await ctx.services.handles?.pushSession(s);
      return sessionOut(ctx, s);
    },
    reset: async (_: unknown, a: { session: string }, ctx: ApiContext) => {
      const s = await sessionFor(ctx, a.session);
      ctx.services.sessions.reset(s);
      await ctx.services.handles?.pushSession(s);
      return sessionOut(ctx, s);
    },
    exportSession: async (_: unknown, a: { session: string; format: 'RLE' | 'PNG' }, ctx: ApiContext) => {
      const s = await sessionFor(ctx, a.session);
      const current = ctx.services.sessions.current(s);
      if (!current)
        throw new ApiError('BAD_REQUEST', `session '${s.id}' has no mask yet: add a click or a box first`);
      const e = ctx.services.sam.embedding(s.embeddingId);
      if (!e) throw new ApiError('SESSION_NOT_FOUND', `session '${s.id}' lost its embedding (expired)`);
      const out = maskOutput(
        ctx,
        current.mask,
        provenance(ctx, e, { points: [] }, current.mask),
        a.format === 'PNG' ? ['PNG'] : [],
        current.lowResId,
      );
      return { format: a.format, rle: out.rle, png: a.format === 'PNG' ? out.png : null };
    },
    closeSession: async (_: unknown, a: { session: string }, ctx: ApiContext) =>
      ctx.services.handles
        ? ctx.services.handles.deleteSession(a.session, callerOf(ctx))
        : ctx.services.sessions.delete(a.session, callerOf(ctx)),
    ...medicalResolvers.Mutation,
    ...benchmarkResolvers.Mutation,
    ...finetuneResolvers.Mutation,
  },
  Subscription: {
    ...medicalResolvers.Subscription,
    ...benchmarkResolvers.Subscription,
    ...finetuneResolvers.Subscription,
  },
  Model: { ...finetuneResolvers.Model },
  Embedding: { ...medicalResolvers.Embedding },
};

function modelOut(m: Awaited<ReturnType<ApiContext['services']['sam']['listModels']>>[number]) {
  const p = m.model?.profile;
  return {
    name: m.name,
    version: m.version,
    ready: m.ready,
    reason: m.reason,
    platform: m.platform,
    encoder: m.encoder,
    decoder: m.decoder,
    profile: p
      ? {
          name: p.name,
          inputSize: p.inputSize,
          resize: p.resize,
          normalize: p.normalize,
          pixelMean: p.pixelMean,
          pixelStd: p.pixelStd,
          embeddingShape: p.embeddingShape,
          maskInputSize: p.maskInputSize,
        }
      : null,
  };
}
