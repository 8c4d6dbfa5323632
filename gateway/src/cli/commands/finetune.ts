/**
 * `medseg finetune`: trains the mask decoder of a served SAM-family model on a dataset (the paper's recipe,
 * trainer/) and publishes it as a new model in the model repository. Runs the job in this process with the
 * embedded server (or Triton at --url); jobs live in the benchmark database, so `resume` continues a killed
 * or cancelled job from its last checkpoint.
 */
import { existsSync, statSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import type { DatasetLayout } from '../../bench/datasets/dataset.ts';
import type { SqliteStore } from '../../store/sqlite/sqlite-store.ts';
import type { FineTuneInput } from '../../finetune/finetune-service.ts';
import { CliError, EXIT, parseCliArgs, type CliCommand, type CliIo } from '../command.ts';
import { parseClasses } from './bench.ts';

const USAGE = `usage: medseg finetune --dataset ID|DIR --model BASE --epochs N [options]
       medseg finetune resume [JOB] [--db FILE] [--url HOST:PORT]   (no JOB: every interrupted job)
       medseg finetune list [--db FILE]

Fine-tunes BASE's mask decoder (frozen image and prompt encoders; AdamW lr 1e-4, weight decay 0.01;
Dice + BCE on the single-mask output; a box prompt per object; 2 images per batch; the best epoch by
validation Dice, best of the multimask candidates) and publishes it as the model BASE_ft_<dataset>.

  --dataset ID|DIR   a registered dataset id, or a folder (registered on the way, as bench run does)
  --model BASE       the base model (default mobilesam)
  --split SPEC       auto (default: groups 60/20/20 by seed) or train=2,4;val=3;test=5 (volumes by number)
  --epochs N         training epochs (1..1000)
  --seed S           seed of the split, the initial state and the batch order (default 0)
  --name NAME        the published model's name (default BASE_ft_<dataset>)
  --threads N        trainer threads (default 2)
  --classes 85=LV,.. --modality M --layout L   dataset options when --dataset is a folder
  --db FILE          job database (default .medseg/bench.sqlite)
  --url HOST:PORT    Triton instead of the embedded server
  --json             print the finished job as JSON

Needs Debian's python3-torch and python3-onnx (TRAINER_PYTHON picks another Python).`;

const OPTIONS = {
  dataset: { type: 'string' },
  model: { type: 'string' },
  split: { type: 'string' },
  epochs: { type: 'string' },
  seed: { type: 'string' },
  name: { type: 'string' },
  threads: { type: 'string' },
  classes: { type: 'string' },
  modality: { type: 'string' },
  layout: { type: 'string' },
  db: { type: 'string' },
  url: { type: 'string' },
  json: { type: 'boolean' },
  onnx: { type: 'string' },
  probe: { type: 'string' },
} satisfies ParseArgsConfig['options'];

const DEFAULT_DB = '.medseg/bench.sqlite';

function integer(text: string | undefined, flag: string, fallback?: number): number {
  if (text === undefined) {
    if (fallback === undefined) throw new CliError(`${flag} is required\n${USAGE}`);
    return fallback;
  }
  if (!/^\d+$/.test(text.trim())) throw new CliError(`${flag} expects a non-negative integer, got '${text}'`);
  return Number(text);
}

/** Input errors of the service are usage errors (exit 2); failures of a started job exit 1. */
const INPUT_CODES = new Set([
  'BAD_REQUEST',
  'NOT_FOUND',
  'MODEL_NOT_FOUND',
  'EMPTY_DATASET',
  'NO_OBJECTS',
  'BAD_SPLIT',
  'BAD_DATASET',
  'ALREADY_EXISTS',
]);

async function checkOnnx(values: { onnx?: string; probe?: string }, io: CliIo): Promise<number> {
  if (!values.onnx || !values.probe) throw new CliError('check-onnx needs --onnx FILE and --probe FILE');
  const { compareDecoder } = await import('../../finetune/onnx-check.ts');
  const { readTensorFile } = await import('../../finetune/tensor-file.ts');
  const result = await compareDecoder(values.onnx, readTensorFile(values.probe));
  io.stdout(JSON.stringify(result) + '\n');
  return EXIT.ok;
}

async function run(args: string[], io: CliIo): Promise<number> {
  const sub = args[0] === 'resume' || args[0] === 'list' || args[0] === 'check-onnx' ? args[0] : undefined;
  const { values, positionals } = parseCliArgs(
    sub ? args.slice(1) : args,
    { options: OPTIONS, allowPositionals: true },
    USAGE,
  );
  if (sub === 'check-onnx') return checkOnnx(values, io);
  const { SqliteStore } = await import('../../store/sqlite/sqlite-store.ts');
  const dbFile = values.db ?? DEFAULT_DB;
  const { mkdirSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  mkdirSync(dirname(dbFile), { recursive: true });
  const jobStore = new SqliteStore(dbFile);
  try {
    if (sub === 'list') {
      for (const j of await jobStore.listFineTuneJobs()) {
        const best = j.result
          ? ` val Dice ${j.result.valDice.toFixed(4)} (base ${j.result.baseValDice.toFixed(4)})`
          : '';
        io.stdout(
          `${j.id} ${j.status} ${j.config.modelName} epochs ${j.history.length}/${j.config.epochs}${best}${j.error ? ` ${j.errorCode}: ${j.error}` : ''}\n`,
        );
      }
      return EXIT.ok;
    }
    if (!sub && positionals.length > 0)
      throw new CliError(`unexpected argument '${positionals[0]}'\n${USAGE}`);
    return await runJob(sub, values, positionals, jobStore, io);
  } finally {
    await jobStore.close();
  }
}

async function runJob(
  sub: 'resume' | undefined,
  values: Record<string, string | boolean | undefined>,
  positionals: string[],
  jobStore: SqliteStore,
  io: CliIo,
): Promise<number> {
  const str = (k: string) => values[k] as string | undefined;
  const { loadConfig, ConfigError } = await import('../../config.ts');
  const { createInferenceStack, createLogger } = await import('../../main.ts');
  const { FineTuneService, FineTuneError } = await import('../../finetune/finetune-service.ts');
  const { registerDataset } = await import('../../bench/datasets/registry.ts');
  let config;
  try {
    config = loadConfig({
      ...process.env,
      ...(str('url') ? { TRITON_URL: str('url') } : {}),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    });
  } catch (err: unknown) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  // Input that needs no backend is checked before one starts.
  let input: FineTuneInput | undefined;
  if (!sub) {
    const dataset = str('dataset');
    if (!dataset) throw new CliError(`--dataset is required\n${USAGE}`);
    input = {
      dataset,
      baseModel: str('model') ?? 'mobilesam',
      split: str('split'),
      epochs: integer(str('epochs'), '--epochs'),
      seed: integer(str('seed'), '--seed', 0),
      modelName: str('name'),
      threads: integer(str('threads'), '--threads', 2),
    };
    if (existsSync(dataset) && statSync(dataset).isDirectory()) {
      const { DatasetError } = await import('../../bench/datasets/dataset.ts');
      try {
        const { row } = await registerDataset(jobStore, dataset, {
          classes: str('classes') ? parseClasses(str('classes')!) : undefined,
          modality: str('modality'),
          layout: str('layout') as DatasetLayout | undefined,
        });
        input.dataset = row.id;
      } catch (err: unknown) {
        if (err instanceof DatasetError) throw new CliError(`${err.code}: ${err.message}`);
        throw err;
      }
    }
  } else if (positionals.length > 1) throw new CliError(`resume takes at most one JOB id\n${USAGE}`);
  if (!config.tritonUrl) {
    const { ensureServedModels } = await import('../../models/ensure-models.ts');
    await ensureServedModels(config.modelRepository);
  }
  // The stack `medseg start` runs; training features stay FP32 and live for the whole run.
  const stack = await createInferenceStack(config, createLogger(config), {
    cacheFp16: false,
    cacheTtlMs: 24 * 3600_000,
  });
  const { sam: session, cache } = stack;
  const service = new FineTuneService({
    jobStore,
    session,
    cache,
    repository: config.modelRepository,
    stateDir: config.stateDir,
    log: (line) => io.stderr(line + '\n'),
  });
  const onSignal = () => {
    void service.jobs().then((jobs) => jobs.forEach((j) => void service.cancel(j.id)));
  };
  process.once('SIGINT', onSignal);
  try {
    let jobId: string;
    try {
      if (sub && positionals.length === 0) {
        // No id: every job a crash or a stop left queued or running (a Job's replacement pod does this).
        const ids = await service.resumeInterrupted(Number.POSITIVE_INFINITY);
        if (ids.length === 0) throw new CliError('no interrupted fine-tuning job to resume', EXIT.usage);
        for (const id of ids.slice(0, -1)) await service.settled(id);
        jobId = ids[ids.length - 1];
      } else jobId = sub ? (await service.resume(positionals[0])).id : (await service.start(input!)).id;
    } catch (err: unknown) {
      if (err instanceof FineTuneError) {
        throw new CliError(
          `${err.code}: ${err.message}`,
          INPUT_CODES.has(err.code) ? EXIT.usage : EXIT.failure,
        );
      }
      throw err;
    }
    io.stderr(`fine-tuning job ${jobId}\n`);
    const job = await service.settled(jobId);
    if (values.json) io.stdout(JSON.stringify(job, null, 2) + '\n');
    if (job?.status !== 'completed') {
      throw new CliError(`job ${jobId} ${job?.status}: ${job?.errorCode}: ${job?.error}`, EXIT.failure);
    }
    const r = job.result!;
    if (!values.json) {
      io.stdout(
        `${r.modelName}: best epoch ${r.bestEpoch}/${r.epochs}, validation Dice ${r.valDice.toFixed(4)} (base ${r.baseValDice.toFixed(4)}); test groups ${r.splitGroups.test.join(',') || 'none'}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    process.removeListener('SIGINT', onSignal);
    await service.drain(true);
    await stack.close();
  }
}

/** The `medseg finetune` command. */
export const command: CliCommand = {
  name: 'finetune',
  summary: "fine-tune a model's mask decoder on a dataset and publish it as a new model",
  usage: USAGE,
  run,
};
