/**
 * GraphQL resolvers of fine-tuning jobs (schema/finetune.graphql). The engine is gateway/src/finetune; this
 * maps its rows onto the schema (its errors are mapped by the API's error table, errors.ts).
 */
import type { FineTuneEvent } from '../finetune/finetune-service.ts';
import type { EpochRow, FineTuneJobRow, FineTuneResult } from '../finetune/finetune-store.ts';
import { callerOf } from './auth.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './errors.ts';

const epochOut = (r: EpochRow) => ({ epoch: r.epoch, loss: r.loss, valDice: r.valDice, seconds: r.seconds });

function provenanceOut(r: FineTuneResult, jobId: string) {
  return {
    model: r.modelName,
    baseModel: r.baseModel,
    dataset: r.dataset,
    split: r.split,
    trainGroups: r.splitGroups.train,
    valGroups: r.splitGroups.val,
    testGroups: r.splitGroups.test,
    epochs: r.epochs,
    bestEpoch: r.bestEpoch,
    valDice: r.valDice,
    baseValDice: Number.isFinite(r.baseValDice) ? r.baseValDice : null,
    exportMaxAbsDiff: r.exportMaxAbsDiff,
    date: r.date,
    jobId,
  };
}

function jobOut(j: FineTuneJobRow) {
  return {
    id: j.id,
    status: j.status,
    dataset: j.config.dataset,
    baseModel: j.config.baseModel,
    modelName: j.config.modelName,
    split: j.config.split,
    epochs: j.config.epochs,
    seed: j.config.seed,
    history: j.history.map(epochOut),
    baseValDice: j.baseValDice,
    result: j.result ? provenanceOut(j.result, j.id) : null,
    errorCode: j.errorCode,
    error: j.error,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
  };
}

function eventOut(e: FineTuneEvent) {
  return e.type === 'epoch'
    ? { jobId: e.jobId, type: 'epoch', epoch: epochOut(e.row), epochs: e.epochs, bestValDice: e.bestValDice }
    : { jobId: e.jobId, type: 'status', status: e.status, errorCode: e.errorCode, error: e.error };
}

/** A job through the request's loader; `fresh` reads it again after this request changed it. */
async function found(ctx: ApiContext, id: string, fresh = false): Promise<FineTuneJobRow> {
  if (fresh) ctx.loaders.fineTuneJob.clear(id);
  const j = await ctx.loaders.fineTuneJob.load(id);
  if (!j) throw new ApiError('NOT_FOUND', `no fine-tuning job '${id}'`);
  return j;
}

interface StartArgs {
  input: {
    dataset: string;
    baseModel: string;
    split: string;
    epochs: number;
    seed: number;
    modelName?: string | null;
  };
}

/** Query, Mutation, Subscription and Model fields of fine-tuning. */
export const finetuneResolvers = {
  Query: {
    fineTuneJobs: async (_: unknown, __: unknown, ctx: ApiContext) =>
      (await ctx.services.finetune.jobs()).map(jobOut),
    fineTuneJob: async (_: unknown, a: { id: string }, ctx: ApiContext) => {
      const j = await ctx.loaders.fineTuneJob.load(a.id);
      return j ? jobOut(j) : null;
    },
  },
  Mutation: {
    startFineTune: async (_: unknown, a: StartArgs, ctx: ApiContext) =>
      jobOut(
        await ctx.services.finetune.start(
          {
            dataset: a.input.dataset,
            baseModel: a.input.baseModel,
            split: a.input.split,
            epochs: a.input.epochs,
            seed: a.input.seed,
            modelName: a.input.modelName ?? undefined,
          },
          callerOf(ctx).id,
        ),
      ),
    cancelFineTune: async (_: unknown, a: { id: string }, ctx: ApiContext) => {
      const j = await found(ctx, a.id);
      // On any replica: the one running the job hears it through the store.
      if (!(await ctx.services.finetune.cancel(a.id))) {
        throw new ApiError('BAD_REQUEST', `job '${a.id}' is not running (status ${j.status})`);
      }
      return jobOut(await found(ctx, a.id, true));
    },
    resumeFineTune: async (_: unknown, a: { id: string }, ctx: ApiContext) =>
      jobOut(await ctx.services.finetune.resume(a.id)),
  },
  Subscription: {
    fineTuneProgress: {
      subscribe: async function* (_: unknown, a: { id: string }, ctx: ApiContext) {
        if (!(await ctx.loaders.fineTuneJob.load(a.id))) {
          throw new ApiError('NOT_FOUND', `no fine-tuning job '${a.id}'`);
        }
        for await (const e of ctx.services.finetune.events(a.id)) yield { fineTuneProgress: eventOut(e) };
      },
    },
  },
  Model: {
    fineTune: async (parent: { name: string }, _: unknown, ctx: ApiContext) => {
      const job = await ctx.services.finetune.byModel(parent.name);
      return job?.result ? provenanceOut(job.result, job.id) : null;
    },
  },
};
