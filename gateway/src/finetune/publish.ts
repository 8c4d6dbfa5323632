/**
 * Publishing a fine-tuned decoder into the model repository as a new model: `<name>_decoder` (the base
 * decoder's config under a new name, the new weights as version 1) and `<name>` (the base ensemble's config
 * with its decoder step and `sam.decoder` pointing at the new decoder, the encoder step unchanged, plus
 * `finetune.*` provenance parameters). Both folders are written under a hidden staging folder of the
 * repository (which no server reads) and renamed in, decoder first, so a server polling the repository never
 * sees a half-written model; any failure removes what was written.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** A model that cannot be published: the name exists, or the base configs are not what was expected. */
export class PublishError extends Error {
  constructor(
    readonly code: 'ALREADY_EXISTS' | 'BAD_MODEL',
    message: string,
  ) {
    super(message);
    this.name = 'PublishError';
  }
}

/** What to publish. */
export interface PublishRequest {
  repository: string;
  baseModel: string;
  baseDecoder: string;
  modelName: string;
  /** The exported decoder ONNX file. */
  onnxFile: string;
  /** Provenance written as `finetune.<key>` parameters of the new ensemble. */
  provenance: Record<string, string>;
  /** Distinguishes the staging folder (the job id). */
  tag: string;
}

/** A model name the repository, Triton and the gateway all accept. */
export const MODEL_NAME = /^[a-z][a-z0-9_]{0,62}$/;

function rename(config: string, from: string, to: string, file: string): string {
  const nameLine = new RegExp(`^name:\\s*"${from}"`, 'm');
  if (!nameLine.test(config))
    throw new PublishError('BAD_MODEL', `${file}: expected the line name: "${from}"`);
  // The base model's own comments describe the base model, not this one.
  return config
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n')
    .replace(nameLine, `name: "${to}"`);
}

const quote = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

/** The names of the two folders a model occupies. */
export function modelFolders(repository: string, modelName: string): string[] {
  return [join(repository, modelName), join(repository, `${modelName}_decoder`)];
}

/** Writes and renames in the two folders; throws PublishError or the file system's error, leaving nothing. */
export function publishModel(req: PublishRequest): void {
  const { repository, baseModel, baseDecoder, modelName } = req;
  if (!MODEL_NAME.test(modelName)) {
    throw new PublishError('BAD_MODEL', `model name '${modelName}' must match ${MODEL_NAME.source}`);
  }
  const [ensDir, decDir] = modelFolders(repository, modelName);
  for (const d of [ensDir, decDir]) {
    if (existsSync(d))
      throw new PublishError('ALREADY_EXISTS', `${d} already exists in the model repository`);
  }
  const decName = `${modelName}_decoder`;
  const baseEns = join(repository, baseModel, 'config.pbtxt');
  const baseDec = join(repository, baseDecoder, 'config.pbtxt');
  let ens = rename(readFileSync(baseEns, 'utf8'), baseModel, modelName, baseEns);
  const dec = rename(readFileSync(baseDec, 'utf8'), baseDecoder, decName, baseDec);
  const step = `model_name: "${baseDecoder}"`;
  const param = `string_value: "${baseDecoder}"`;
  if (!ens.includes(step) || !ens.includes(param)) {
    throw new PublishError(
      'BAD_MODEL',
      `${baseEns}: expected a step and a sam.decoder parameter naming ${baseDecoder}`,
    );
  }
  ens = ens.split(step).join(`model_name: "${decName}"`).split(param).join(`string_value: "${decName}"`);
  const header = `# Fine-tuned by medseg finetune (job ${req.tag}): the mask decoder of ${baseModel} trained on dataset ${req.provenance.dataset ?? '?'}; the encoder is ${baseModel}'s.\n`;
  ens =
    header +
    ens.trimEnd() +
    '\n' +
    Object.entries(req.provenance)
      .map(([k, v]) => `parameters {\n  key: "finetune.${k}"\n  value: { string_value: "${quote(v)}" }\n}\n`)
      .join('');

  const staging = join(repository, `.finetune-${req.tag}`);
  rmSync(staging, { recursive: true, force: true });
  const sDec = join(staging, decName);
  const sEns = join(staging, modelName);
  let movedDecoder = false;
  try {
    mkdirSync(join(sDec, '1'), { recursive: true });
    mkdirSync(join(sEns, '1'), { recursive: true });
    writeFileSync(join(sDec, 'config.pbtxt'), header + dec);
    copyFileSync(req.onnxFile, join(sDec, '1', 'model.onnx'));
    writeFileSync(join(sEns, 'config.pbtxt'), ens);
    // The decoder first: an ensemble that appears before its step would only wait for it, but never the reverse.
    renameSync(sDec, decDir);
    movedDecoder = true;
    renameSync(sEns, ensDir);
  } catch (err: unknown) {
    if (movedDecoder) rmSync(decDir, { recursive: true, force: true });
    throw err;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
