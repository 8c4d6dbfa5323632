/**
 * `medseg models check`: validates a Triton model repository before Triton or the embedded server loads it.
 * It applies the rules Triton applies at load time (config parses, name matches its folder, version folders,
 * model file present, config tensors against the ONNX graph, ensemble maps) plus this project's SAM
 * preprocessing contract (`sam.*` parameters, see gateway/src/sam/contract.ts), and reports every
 * problem at once instead of stopping at the first.
 * Specs: https://github.com/triton-inference-server/server/blob/main/docs/user_guide/model_repository.md,
 * model_configuration.md, ensemble_models.md; ONNX IR https://onnx.ai/onnx/repo-docs/IR.html.
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseModelConfig } from '../embedded/pbtxt-parser.ts';
import type { ConfigDataType, ModelConfig, ModelTensorConfig } from '../protocol/model-config.ts';
import { DECODER_INPUTS, DECODER_OUTPUTS, ProfileError, profileFromConfig } from '../sam/contract.ts';
import type { ModelProfile } from '../sam/contract.ts';
import { profileOf } from '../sam/profiles/index.ts';
import type { Datatype } from '../protocol/types.ts';
import { readOnnxSignature, type OnnxSignature } from './onnx-signature.ts';

/** How serious a finding is: errors make Triton (or the gateway) refuse the model; warnings may. */
export type FindingLevel = 'error' | 'warning' | 'info';

/** Machine-readable finding codes; the message says the details. */
export type FindingCode =
  | 'REPOSITORY_MISSING'
  | 'MISSING_CONFIG'
  | 'CONFIG_PARSE'
  | 'NAME_MISMATCH'
  | 'NO_VERSION'
  | 'NON_NUMERIC_VERSION'
  | 'MISSING_MODEL_FILE'
  | 'MISSING_EXTERNAL_DATA'
  | 'ONNX_UNREADABLE'
  | 'NOT_CHECKED'
  | 'TENSOR_MISSING'
  | 'TENSOR_NOT_IN_CONFIG'
  | 'DTYPE_MISMATCH'
  | 'DIMS_MISMATCH'
  | 'BATCH_DIM'
  | 'DYNAMIC_BATCHING_WITHOUT_BATCH'
  | 'ACCELERATOR_PARAMETER'
  | 'PROFILE_INVALID'
  | 'PROFILE_MISMATCH'
  | 'DECODER_MISSING'
  | 'DECODER_INTERFACE'
  | 'ENSEMBLE_STEP_MODEL_MISSING'
  | 'ENSEMBLE_MAP_UNKNOWN_TENSOR'
  | 'ENSEMBLE_INPUT_UNMAPPED'
  | 'ENSEMBLE_TENSOR_UNDEFINED'
  | 'ENSEMBLE_OUTPUT_NOT_PRODUCED'
  | 'ENSEMBLE_INPUT_UNUSED'
  | 'ENSEMBLE_TENSOR_MISMATCH'
  | 'ENSEMBLE_BATCH_SIZE';

/** One problem (or note) about one model; `file` is relative to the repository, `line` is 1-based. */
export interface Finding {
  level: FindingLevel;
  code: FindingCode;
  message: string;
  file?: string;
  line?: number;
}

/** What the checker concluded about one model folder. */
export interface ModelReport {
  name: string;
  /** `encoder` declares `sam.decoder`; `decoder` is named by an encoder; `ensemble` by its platform. */
  role: 'encoder' | 'decoder' | 'ensemble' | 'model' | 'unknown';
  platform: string;
  findings: Finding[];
}

/** The result of {@link checkRepository}. `ok` is true when no finding is an error. */
export interface CheckReport {
  repository: string;
  models: ModelReport[];
  /** Findings about the repository itself (not tied to one model). */
  findings: Finding[];
  errors: number;
  warnings: number;
  ok: boolean;
}

/** Options of {@link checkRepository}. */
export interface CheckOptions {
  /** Parses config.pbtxt text; defaults to the embedded server's parser so both agree on syntax. */
  parseConfig?: (text: string, source: string, folderName: string) => ModelConfig;
}

const MODELS_DOC = 'deploy/MODELS.md';

/** Triton's default model file name per platform/backend (model_repository.md, "Model Files"). */
const DEFAULT_FILENAMES: Record<string, string> = {
  onnxruntime_onnx: 'model.onnx',
  onnxruntime: 'model.onnx',
  tensorrt_plan: 'model.plan',
  tensorrt: 'model.plan',
  pytorch_libtorch: 'model.pt',
  pytorch: 'model.pt',
  tensorflow_savedmodel: 'model.savedmodel',
  tensorflow_graphdef: 'model.graphdef',
  openvino: 'model.xml',
  python: 'model.py',
};

/**
 * Parameters Triton's onnxruntime backend accepts for the `tensorrt` GPU accelerator, with the kind of value
 * it parses; any other key fails the model load ("unknown parameter ... is provided for TensorRT Execution
 * Accelerator"). Source: onnxruntime_backend src/onnxruntime.cc (ModelState::LoadModel).
 */
const TRT_PARAMETERS: Record<string, 'precision' | 'uint' | 'int' | 'bool' | 'string'> = {
  precision_mode: 'precision',
  max_workspace_size_bytes: 'uint',
  trt_max_partition_iterations: 'int',
  trt_min_subgraph_size: 'int',
  int8_calibration_table_name: 'string',
  int8_use_native_calibration_table: 'bool',
  trt_dla_enable: 'bool',
  trt_dla_core: 'int',
  trt_engine_cache_enable: 'bool',
  trt_engine_cache_path: 'string',
  trt_engine_cache_prefix: 'string',
  trt_dump_subgraphs: 'bool',
  trt_force_sequential_engine_build: 'bool',
  trt_context_memory_sharing_enable: 'bool',
  trt_layer_norm_fp32_fallback: 'bool',
  trt_timing_cache_enable: 'bool',
  trt_timing_cache_path: 'string',
  trt_force_timing_cache: 'bool',
  trt_detailed_build_log: 'bool',
  trt_build_heuristics_enable: 'bool',
  trt_sparsity_enable: 'bool',
  trt_builder_optimization_level: 'int',
  trt_auxiliary_streams: 'int',
  trt_tactic_sources: 'string',
  trt_extra_plugin_lib_paths: 'string',
  trt_profile_min_shapes: 'string',
  trt_profile_max_shapes: 'string',
  trt_profile_opt_shapes: 'string',
  trt_cuda_graph_enable: 'bool',
  trt_dump_ep_context_model: 'bool',
  trt_ep_context_file_path: 'string',
  trt_ep_context_embed_mode: 'int',
};

/** Keys recent backends accept but older releases reject as unknown (server issue #7156: 24.03). */
const TRT_RECENT_PARAMETERS = new Set([
  'trt_profile_min_shapes',
  'trt_profile_max_shapes',
  'trt_profile_opt_shapes',
]);

function checkAccelerators(m: LoadedModel, config: ModelConfig): void {
  const platform = config.platform || config.backend;
  if (platform !== 'onnxruntime_onnx' && platform !== 'onnxruntime') return;
  const eas = config.optimization?.executionAccelerators;
  for (const ea of eas?.gpuExecutionAccelerator ?? []) {
    const line = lineOf(m.text, new RegExp(`name\\s*:\\s*"${escapeRegExp(ea.name)}"`));
    if (ea.name === 'cuda') continue;
    if (ea.name !== 'tensorrt') {
      add(
        m,
        'error',
        'ACCELERATOR_PARAMETER',
        `unknown GPU execution accelerator '${ea.name}' (tensorrt, cuda)`,
        line,
      );
      continue;
    }
    for (const [key, value] of Object.entries(ea.parameters ?? {})) {
      const kind = Object.hasOwn(TRT_PARAMETERS, key) ? TRT_PARAMETERS[key] : undefined;
      const keyLine = lineOf(m.text, `"${key}"`) ?? line;
      if (!kind) {
        add(
          m,
          'error',
          'ACCELERATOR_PARAMETER',
          `TensorRT accelerator parameter '${key}' is unknown to Triton's onnxruntime backend, which then ` +
            `refuses to load the model`,
          keyLine,
        );
        continue;
      }
      const valid =
        kind === 'precision'
          ? ['FP32', 'FP16', 'BF16', 'INT8'].includes(value)
          : kind === 'uint'
            ? /^\d+$/.test(value)
            : kind === 'int'
              ? /^-?\d+$/.test(value)
              : kind === 'bool'
                ? /^(0|1|true|false|True|False)$/.test(value)
                : value.length > 0;
      if (!valid) {
        add(
          m,
          'error',
          'ACCELERATOR_PARAMETER',
          `TensorRT accelerator parameter '${key}' expects ${kind === 'precision' ? 'FP32, FP16, BF16 or INT8' : `a ${kind} value`}, got '${value}'`,
          keyLine,
        );
      } else if (TRT_RECENT_PARAMETERS.has(key)) {
        add(
          m,
          'warning',
          'ACCELERATOR_PARAMETER',
          `'${key}' is rejected as unknown by older Triton releases (24.03 and earlier); check your Triton version`,
          keyLine,
        );
      }
    }
  }
  for (const ea of eas?.cpuExecutionAccelerator ?? []) {
    if (ea.name !== 'openvino') {
      add(
        m,
        'error',
        'ACCELERATOR_PARAMETER',
        `unknown CPU execution accelerator '${ea.name}' (openvino)`,
        lineOf(m.text, `"${ea.name}"`),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Repository walk
// ---------------------------------------------------------------------------------------------------------

interface LoadedModel {
  name: string;
  dir: string;
  configFile: string;
  text: string;
  config: ModelConfig | undefined;
  report: ModelReport;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** A directory entry that is a folder, following symbolic links as Triton does. */
async function isFolder(parent: string, e: Dirent): Promise<boolean> {
  return e.isDirectory() || (e.isSymbolicLink() && (await isDir(path.join(parent, e.name))));
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

function errorLine(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null) {
    const line = (err as { line?: unknown }).line;
    if (typeof line === 'number' && line > 0) return line;
  }
  const m = /\bline (\d+)/.exec(err instanceof Error ? err.message : String(err));
  return m ? Number(m[1]) : undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Line of an `input_map`/`output_map` entry `key: "<key>" value: "<value>"` in a config's text. */
function mapEntryLine(text: string, key: string, value: string): number | undefined {
  return lineOf(
    text,
    new RegExp(`key\\s*:\\s*"${escapeRegExp(key)}"\\s*value\\s*:\\s*"${escapeRegExp(value)}"`),
  );
}

/** 1-based line of the first match of `needle` in `text`, for pointing findings at a config entry. */
function lineOf(text: string, needle: string | RegExp): number | undefined {
  const idx = typeof needle === 'string' ? text.indexOf(needle) : text.search(needle);
  if (idx < 0) return undefined;
  return text.slice(0, idx).split('\n').length;
}

function tensorLine(m: LoadedModel, tensor: string): number | undefined {
  return lineOf(m.text, new RegExp(`name\\s*:\\s*"${escapeRegExp(tensor)}"`));
}

function paramLine(m: LoadedModel, key: string): number | undefined {
  return lineOf(m.text, `"${key}"`);
}

function add(m: LoadedModel, level: FindingLevel, code: FindingCode, message: string, line?: number): void {
  const finding: Finding = { level, code, message, file: path.posix.join(m.name, 'config.pbtxt') };
  if (line !== undefined) finding.line = line;
  m.report.findings.push(finding);
}

function fmtDims(dims: readonly number[]): string {
  return `[${dims.join(',')}]`;
}

/** Full shape as the server sees it: the batch dimension first when max_batch_size > 0. */
function fullDims(config: ModelConfig, t: ModelTensorConfig): number[] {
  const dims = t.reshape?.shape ?? t.dims;
  return (config.maxBatchSize ?? 0) > 0 ? [-1, ...dims] : [...dims];
}

function sameDimsWithWildcard(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === -1 || b[i] === -1 || d === b[i]);
}

function endsWith(dims: readonly number[], tail: readonly number[]): boolean {
  return dims.length >= tail.length && sameDimsWithWildcard(dims.slice(dims.length - tail.length), tail);
}

function isEnsemble(config: ModelConfig): boolean {
  return config.platform === 'ensemble' || config.backend === 'ensemble' || !!config.ensembleScheduling;
}

/** Versions Triton would load under the config's version policy (model_configuration.md "Version Policy"). */
function versionsToLoad(config: ModelConfig | undefined, numeric: number[]): number[] {
  const sorted = [...numeric].sort((a, b) => b - a);
  const policy = config?.versionPolicy;
  if (policy && 'all' in policy) return sorted;
  if (policy && 'specific' in policy) return [...policy.specific.versions].sort((a, b) => b - a);
  const n = policy && 'latest' in policy ? Math.max(1, policy.latest.numVersions) : 1;
  return sorted.slice(0, n);
}

async function checkVersions(m: LoadedModel, root: string): Promise<string[]> {
  const entries = await readdir(m.dir, { withFileTypes: true });
  const numeric: number[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.') || !(await isFolder(m.dir, e))) continue;
    if (/^\d+$/.test(e.name)) numeric.push(Number(e.name));
    else {
      add(
        m,
        'warning',
        'NON_NUMERIC_VERSION',
        `folder '${e.name}' is not a version number; Triton ignores it (versions are folders named 1, 2, ...)`,
      );
    }
  }
  if (numeric.length === 0) {
    add(m, 'error', 'NO_VERSION', `no version folder in ${m.name}/ (expected ${m.name}/1/)`);
    return [];
  }
  const wanted = versionsToLoad(m.config, numeric);
  const files: string[] = [];
  for (const v of wanted) {
    if (!numeric.includes(v)) {
      add(m, 'error', 'NO_VERSION', `version_policy names version ${v} but ${m.name}/${v}/ does not exist`);
      continue;
    }
    if (!m.config || isEnsemble(m.config)) continue;
    const platform = m.config.platform || m.config.backend;
    const fileName = m.config.defaultModelFilename || DEFAULT_FILENAMES[platform];
    if (!fileName) {
      add(
        m,
        'info',
        'NOT_CHECKED',
        `platform/backend '${platform}' has no known model file name; not checked`,
      );
      continue;
    }
    const file = path.join(m.dir, String(v), fileName);
    if (!(await exists(file))) {
      m.report.findings.push({
        level: 'error',
        code: 'MISSING_MODEL_FILE',
        file: path.relative(root, file).split(path.sep).join('/'),
        message:
          `missing model file ${path.relative(root, file)} (weights are not kept in git: export them as ` +
          `${MODELS_DOC} explains and put the file there)`,
      });
      continue;
    }
    files.push(file);
  }
  return files;
}

function checkTensorsAgainstOnnx(
  m: LoadedModel,
  config: ModelConfig,
  sig: OnnxSignature,
  rel: string,
  kind: 'input' | 'output',
): void {
  const declared = kind === 'input' ? (config.input ?? []) : (config.output ?? []);
  const initializers = new Set(sig.initializerNames);
  const actual = (kind === 'input' ? sig.inputs : sig.outputs).filter((t) => !initializers.has(t.name));
  const batching = (config.maxBatchSize ?? 0) > 0;
  for (const t of declared) {
    const line = tensorLine(m, t.name);
    const onnxT = actual.find((a) => a.name === t.name);
    if (!onnxT) {
      add(
        m,
        'error',
        'TENSOR_MISSING',
        `${kind} '${t.name}' is not in ${rel} (its ${kind}s: ${actual.map((a) => a.name).join(', ') || 'none'})`,
        line,
      );
      continue;
    }
    if (onnxT.dataType !== t.dataType) {
      add(
        m,
        'error',
        'DTYPE_MISMATCH',
        `${kind} '${t.name}': config says ${t.dataType}, ${rel} declares ${onnxT.dataType}`,
        line,
      );
    }
    if (onnxT.dims === undefined) continue;
    const dims = t.reshape?.shape ?? t.dims;
    // Triton's onnxruntime backend rules: with batching the model's first dim must be variable and is
    // dropped; then ranks must match and every fixed model dim must equal the config dim.
    let modelDims = onnxT.dims;
    if (batching) {
      if (modelDims.length === 0 || modelDims[0] !== -1) {
        add(
          m,
          'error',
          'BATCH_DIM',
          `${kind} '${t.name}': max_batch_size ${config.maxBatchSize} needs a variable first dimension, ` +
            `${rel} declares ${fmtDims(modelDims)} (re-export with a dynamic batch axis, or set ` +
            `max_batch_size: 0 and the full shape as dims)`,
          line,
        );
        continue;
      }
      modelDims = modelDims.slice(1);
    }
    const ok = modelDims.length === dims.length && modelDims.every((d, i) => d === -1 || d === dims[i]);
    if (!ok) {
      add(
        m,
        'error',
        'DIMS_MISMATCH',
        `${kind} '${t.name}': config dims ${fmtDims(dims)}${batching ? ' (after the batch dimension)' : ''} ` +
          `do not match ${rel} ${fmtDims(modelDims)}`,
        line,
      );
    }
  }
  const names = new Set(declared.map((t) => t.name));
  for (const a of actual) {
    if (names.has(a.name)) continue;
    if (kind === 'input') {
      add(
        m,
        'error',
        'TENSOR_NOT_IN_CONFIG',
        `${rel} has input '${a.name}' ${a.dims ? fmtDims(a.dims) : ''} that the config does not declare`,
      );
    } else {
      add(
        m,
        'info',
        'TENSOR_NOT_IN_CONFIG',
        `${rel} output '${a.name}' is not declared; clients cannot request it`,
      );
    }
  }
}

async function checkOnnx(m: LoadedModel, file: string, root: string): Promise<void> {
  const rel = path.relative(root, file);
  let sig: OnnxSignature;
  try {
    sig = await readOnnxSignature(file);
  } catch (err: unknown) {
    add(m, 'error', 'ONNX_UNREADABLE', err instanceof Error ? err.message : String(err));
    return;
  }
  for (const loc of sig.externalDataFiles) {
    const dataFile = path.join(path.dirname(file), loc);
    if (!(await exists(dataFile))) {
      add(
        m,
        'error',
        'MISSING_EXTERNAL_DATA',
        `${rel} keeps its weights in '${loc}', which is not beside it (expected ${path.relative(root, dataFile)})`,
      );
    }
  }
  if (m.config) {
    checkTensorsAgainstOnnx(m, m.config, sig, rel, 'input');
    checkTensorsAgainstOnnx(m, m.config, sig, rel, 'output');
  }
}

function checkEncoderProfile(m: LoadedModel, models: Map<string, LoadedModel>): void {
  const config = m.config;
  if (!config) return;
  let profile: ModelProfile;
  try {
    profile = profileFromConfig(config);
  } catch (err: unknown) {
    if (!(err instanceof ProfileError)) throw err;
    const key = /sam\.\w+/.exec(err.message)?.[0];
    add(m, 'error', 'PROFILE_INVALID', err.message, key ? paramLine(m, key) : undefined);
    return;
  }
  const image = (config.input ?? []).find((t) => t.name === profile.imageInput);
  if (!image) {
    add(
      m,
      'error',
      'PROFILE_MISMATCH',
      `sam.image_input '${profile.imageInput}' is not an input of ${m.name} ` +
        `(inputs: ${(config.input ?? []).map((t) => t.name).join(', ')})`,
      paramLine(m, 'sam.image_input'),
    );
  } else {
    // The family's own check, the one the session runs against ModelMetadata, here on the config's tensor.
    const dims = fullDims(config, image);
    const datatype = image.dataType.replace(/^TYPE_/, '').replace(/^STRING$/, 'BYTES') as Datatype;
    for (const problem of profileOf(profile.name).checkImageInput(
      { name: image.name, datatype, shape: dims },
      profile,
    )) {
      add(m, 'error', 'PROFILE_MISMATCH', `profile ${profile.name}: ${problem}`, tensorLine(m, image.name));
    }
  }
  const emb = (config.output ?? []).find((t) => t.name === 'image_embeddings') ?? config.output?.[0];
  if (!emb) {
    add(m, 'error', 'PROFILE_MISMATCH', `encoder ${m.name} declares no output for the image embeddings`);
  } else if (!endsWith(fullDims(config, emb), profile.embeddingShape)) {
    add(
      m,
      'error',
      'PROFILE_MISMATCH',
      `sam.embedding_shape ${fmtDims(profile.embeddingShape)} does not match output ${emb.name} ` +
        `${fmtDims(fullDims(config, emb))}`,
      paramLine(m, 'sam.embedding_shape') ?? tensorLine(m, emb.name),
    );
  }
  const decoderName = config.parameters?.['sam.decoder']?.stringValue ?? '';
  const decoder = models.get(decoderName);
  if (!decoder) {
    add(
      m,
      'error',
      'DECODER_MISSING',
      `sam.decoder names '${decoderName}', which is not a model folder in this repository`,
      paramLine(m, 'sam.decoder'),
    );
    return;
  }
  decoder.report.role = 'decoder';
  if (decoder.config) checkDecoderAgainstProfile(m, decoder, decoder.config, profile, emb?.dataType);
}

function checkDecoderAgainstProfile(
  encoder: LoadedModel,
  decoder: LoadedModel,
  config: ModelConfig,
  profile: ModelProfile,
  embeddingType: ConfigDataType | undefined,
): void {
  const inputs = config.input ?? [];
  const missing = DECODER_INPUTS.filter((n) => !inputs.some((t) => t.name === n));
  if (missing.length > 0) {
    add(
      decoder,
      'error',
      'DECODER_INTERFACE',
      `decoder of ${encoder.name} lacks the official SAM decoder input(s) ${missing.join(', ')}`,
    );
  }
  const missingOut = DECODER_OUTPUTS.filter((n) => !(config.output ?? []).some((t) => t.name === n));
  if (missingOut.length > 0) {
    add(
      decoder,
      'error',
      'DECODER_INTERFACE',
      `decoder of ${encoder.name} lacks the official SAM decoder output(s) ${missingOut.join(', ')}`,
    );
  }
  const emb = inputs.find((t) => t.name === 'image_embeddings');
  if (emb) {
    if (!endsWith(fullDims(config, emb), profile.embeddingShape)) {
      add(
        decoder,
        'error',
        'PROFILE_MISMATCH',
        `image_embeddings ${fmtDims(fullDims(config, emb))} does not end in ${encoder.name}'s sam.embedding_shape ` +
          `${fmtDims(profile.embeddingShape)}`,
        tensorLine(decoder, 'image_embeddings'),
      );
    }
    if (embeddingType && emb.dataType !== embeddingType) {
      add(
        decoder,
        'error',
        'PROFILE_MISMATCH',
        `image_embeddings is ${emb.dataType} but encoder ${encoder.name} produces ${embeddingType}`,
        tensorLine(decoder, 'image_embeddings'),
      );
    }
  }
  const mask = inputs.find((t) => t.name === 'mask_input');
  const k = profile.maskInputSize;
  if (mask && !endsWith(fullDims(config, mask), [k, k])) {
    add(
      decoder,
      'error',
      'PROFILE_MISMATCH',
      `mask_input ${fmtDims(fullDims(config, mask))} does not end in [${k},${k}] (sam.mask_input_size of ` +
        `${encoder.name})`,
      tensorLine(decoder, 'mask_input'),
    );
  }
  const iou = (config.output ?? []).find((t) => t.name === 'iou_predictions');
  if (iou) {
    const last = fullDims(config, iou).at(-1);
    if (last !== undefined && last !== -1 && last !== profile.candidates) {
      add(
        decoder,
        'error',
        'PROFILE_MISMATCH',
        `iou_predictions returns ${last} candidate(s) but ${encoder.name} declares sam.multimask ` +
          `${profile.candidates}`,
        tensorLine(decoder, 'iou_predictions'),
      );
    }
  }
}

interface EnsembleTensor {
  model: string;
  dataType: ConfigDataType;
  dims: number[];
  full: number[];
}

function tensorNode(model: string, config: ModelConfig, t: ModelTensorConfig): EnsembleTensor {
  const dims = t.reshape?.shape ?? t.dims;
  return { model, dataType: t.dataType, dims: [...dims], full: fullDims(config, t) };
}

async function checkEnsemble(m: LoadedModel, models: Map<string, LoadedModel>): Promise<void> {
  const config = m.config;
  if (!config) return;
  const steps = config.ensembleScheduling?.step ?? [];
  if (steps.length === 0) {
    add(m, 'error', 'ENSEMBLE_STEP_MODEL_MISSING', 'ensemble has no ensemble_scheduling steps');
    return;
  }
  // Tensor table as Triton builds it (ensemble_utils.cc): ensemble inputs and outputs, then each step's
  // mapped tensors; two views of one tensor must agree on type, and on shape with or without the batch dim.
  const tensors = new Map<string, EnsembleTensor>();
  const produced = new Set<string>();
  const consumed = new Set<string>();
  for (const t of config.input ?? []) {
    tensors.set(t.name, tensorNode(m.name, config, t));
    produced.add(t.name);
  }
  // Triton orders steps by data flow, not by their order in the file: collect every produced tensor first.
  for (const step of steps) for (const ens of Object.values(step.outputMap ?? {})) produced.add(ens);
  const outputs = new Map<string, EnsembleTensor>();
  for (const t of config.output ?? []) outputs.set(t.name, tensorNode(m.name, config, t));
  const agree = (name: string, a: EnsembleTensor, b: EnsembleTensor, line: number | undefined): void => {
    if (a.dataType !== b.dataType) {
      add(
        m,
        'error',
        'ENSEMBLE_TENSOR_MISMATCH',
        `ensemble tensor '${name}' is ${a.dataType} in ${a.model} but ${b.dataType} in ${b.model}`,
        line,
      );
    } else if (!sameDimsWithWildcard(a.dims, b.dims) && !sameDimsWithWildcard(a.full, b.full)) {
      add(
        m,
        'error',
        'ENSEMBLE_TENSOR_MISMATCH',
        `ensemble tensor '${name}' has shape ${fmtDims(a.full)} in ${a.model} but ${fmtDims(b.full)} in ${b.model}`,
        line,
      );
    }
  };
  for (const step of steps) {
    const stepLine = lineOf(m.text, `"${step.modelName}"`);
    const target = models.get(step.modelName);
    if (!target) {
      add(
        m,
        'error',
        'ENSEMBLE_STEP_MODEL_MISSING',
        `step model '${step.modelName}' is not a model folder in this repository`,
        stepLine,
      );
      continue;
    }
    if (step.modelVersion > 0 && !(await isDir(path.join(target.dir, String(step.modelVersion))))) {
      add(
        m,
        'error',
        'ENSEMBLE_STEP_MODEL_MISSING',
        `step pins ${step.modelName} version ${step.modelVersion}, but ${step.modelName}/${step.modelVersion}/ ` +
          `does not exist`,
        stepLine,
      );
    }
    const sc = target.config;
    if (!sc) continue; // its own report carries the parse error
    const stepBatch = sc.maxBatchSize ?? 0;
    if (stepBatch !== 0 && stepBatch < (config.maxBatchSize ?? 0)) {
      add(
        m,
        'error',
        'ENSEMBLE_BATCH_SIZE',
        `ensemble max_batch_size ${config.maxBatchSize} exceeds step model ${step.modelName}'s ${stepBatch}`,
        stepLine,
      );
    }
    const stepInputs = sc.input ?? [];
    for (const [key, ens] of Object.entries(step.inputMap ?? {})) {
      const t = stepInputs.find((x) => x.name === key);
      const line = mapEntryLine(m.text, key, ens) ?? stepLine;
      if (!t) {
        add(
          m,
          'error',
          'ENSEMBLE_MAP_UNKNOWN_TENSOR',
          `input_map maps ensemble tensor '${ens}' to '${key}', which is not an input of ${step.modelName} ` +
            `(inputs: ${stepInputs.map((x) => x.name).join(', ')})`,
          line,
        );
        continue;
      }
      consumed.add(ens);
      if (!produced.has(ens)) {
        add(
          m,
          'error',
          'ENSEMBLE_TENSOR_UNDEFINED',
          `step ${step.modelName} reads '${ens}', which is neither an ensemble input nor any step's output`,
          line,
        );
      }
      const node = tensorNode(step.modelName, sc, t);
      const known = tensors.get(ens);
      if (known) agree(ens, known, node, line);
      else tensors.set(ens, node);
    }
    for (const t of stepInputs) {
      if (t.optional) continue;
      if (!Object.hasOwn(step.inputMap ?? {}, t.name)) {
        add(
          m,
          'error',
          'ENSEMBLE_INPUT_UNMAPPED',
          `input '${t.name}' of step model ${step.modelName} is not mapped to any ensemble tensor`,
          stepLine,
        );
      }
    }
    const stepOutputs = sc.output ?? [];
    for (const [key, ens] of Object.entries(step.outputMap ?? {})) {
      const t = stepOutputs.find((x) => x.name === key);
      const line = mapEntryLine(m.text, key, ens) ?? stepLine;
      if (!t) {
        add(
          m,
          'error',
          'ENSEMBLE_MAP_UNKNOWN_TENSOR',
          `output_map reads '${key}', which is not an output of ${step.modelName} ` +
            `(outputs: ${stepOutputs.map((x) => x.name).join(', ')})`,
          line,
        );
        continue;
      }
      const node = tensorNode(step.modelName, sc, t);
      const known = tensors.get(ens) ?? outputs.get(ens);
      if (known) agree(ens, known, node, line);
      tensors.set(ens, node);
    }
  }
  for (const t of config.output ?? []) {
    if (!produced.has(t.name)) {
      add(
        m,
        'error',
        'ENSEMBLE_OUTPUT_NOT_PRODUCED',
        `ensemble output '${t.name}' is not produced by any step's output_map`,
        tensorLine(m, t.name),
      );
    }
  }
  for (const t of config.input ?? []) {
    if (!consumed.has(t.name)) {
      add(
        m,
        'warning',
        'ENSEMBLE_INPUT_UNUSED',
        `ensemble input '${t.name}' is not read by any step`,
        tensorLine(m, t.name),
      );
    }
  }
  for (const key of ['sam.encoder', 'sam.decoder']) {
    const named = config.parameters?.[key]?.stringValue;
    if (named === undefined) continue;
    if (!steps.some((s) => s.modelName === named)) {
      add(
        m,
        'error',
        'PROFILE_MISMATCH',
        `${key} names '${named}', which is not a step of this ensemble`,
        paramLine(m, key),
      );
    }
  }
}

function defaultParse(text: string, source: string, folderName: string): ModelConfig {
  return parseModelConfig(text, source, folderName);
}

/**
 * Checks every model folder of a Triton model repository and reports all findings; never throws for a
 * broken model (only for an unreadable repository folder it reports REPOSITORY_MISSING).
 */
export async function checkRepository(dir: string, options: CheckOptions = {}): Promise<CheckReport> {
  const root = path.resolve(dir);
  const parse = options.parseConfig ?? defaultParse;
  const report: CheckReport = {
    repository: root,
    models: [],
    findings: [],
    errors: 0,
    warnings: 0,
    ok: true,
  };
  if (!(await isDir(root))) {
    report.findings.push({
      level: 'error',
      code: 'REPOSITORY_MISSING',
      message: `model repository ${root} does not exist or is not a folder`,
    });
    return finish(report);
  }
  const entries: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.name.startsWith('.') && (await isFolder(root, e))) entries.push(e.name);
  }
  entries.sort();
  const models = new Map<string, LoadedModel>();
  for (const name of entries) {
    const modelDir = path.join(root, name);
    const configFile = path.join(modelDir, 'config.pbtxt');
    const m: LoadedModel = {
      name,
      dir: modelDir,
      configFile,
      text: '',
      config: undefined,
      report: { name, role: 'unknown', platform: '', findings: [] },
    };
    models.set(name, m);
    report.models.push(m.report);
    try {
      m.text = await readFile(configFile, 'utf8');
    } catch {
      m.report.findings.push({
        level: 'error',
        code: 'MISSING_CONFIG',
        message: `${name}/ has no config.pbtxt (every model folder needs one; the embedded server does not auto-complete configs)`,
        file: `${name}/config.pbtxt`,
      });
      continue;
    }
    try {
      m.config = parse(m.text, path.posix.join(name, 'config.pbtxt'), name);
    } catch (err: unknown) {
      // ModelConfigError carries file:line:column itself; the finding has its own file and line fields.
      const detail = (err as { detail?: unknown }).detail;
      const message = typeof detail === 'string' ? detail : err instanceof Error ? err.message : String(err);
      add(m, 'error', 'CONFIG_PARSE', message, errorLine(err));
      continue;
    }
    m.report.platform = m.config.platform || m.config.backend || '';
    if (m.config.name && m.config.name !== name) {
      add(
        m,
        'error',
        'NAME_MISMATCH',
        `config name "${m.config.name}" differs from its folder '${name}' (Triton requires them equal)`,
        lineOf(m.text, /^\s*name\s*:/m),
      );
    }
    if (m.config.dynamicBatching && (m.config.maxBatchSize ?? 0) === 0) {
      add(
        m,
        'error',
        'DYNAMIC_BATCHING_WITHOUT_BATCH',
        'dynamic_batching needs max_batch_size > 0 (the model has no batch dimension)',
        lineOf(m.text, 'dynamic_batching'),
      );
    }
    checkAccelerators(m, m.config);
    if (isEnsemble(m.config)) m.report.role = 'ensemble';
    else if (m.config.parameters?.['sam.decoder']) m.report.role = 'encoder';
    else if (m.report.role === 'unknown') m.report.role = 'model';
  }
  for (const m of models.values()) {
    if (!(await exists(m.configFile))) continue;
    const files = await checkVersions(m, root);
    for (const file of files) {
      if (file.endsWith('.onnx')) await checkOnnx(m, file, root);
      else
        add(
          m,
          'info',
          'NOT_CHECKED',
          `${path.relative(root, file)} is not ONNX; its tensors are not checked`,
        );
    }
  }
  for (const m of models.values()) {
    if (!m.config) continue;
    if (m.report.role === 'ensemble') await checkEnsemble(m, models);
    else if (m.report.role === 'encoder') checkEncoderProfile(m, models);
  }
  return finish(report);
}

function finish(report: CheckReport): CheckReport {
  const all = [...report.findings, ...report.models.flatMap((m) => m.findings)];
  report.errors = all.filter((f) => f.level === 'error').length;
  report.warnings = all.filter((f) => f.level === 'warning').length;
  report.ok = report.errors === 0;
  return report;
}

/** Human-readable report: one line per finding as `LEVEL CODE file:line message`, then a summary. */
export function formatReport(report: CheckReport): string {
  const lines = [`model repository ${report.repository}`];
  const where = (f: Finding): string => (f.file ? `${f.file}${f.line ? `:${f.line}` : ''} ` : '');
  for (const f of report.findings) lines.push(`  ${f.level.toUpperCase()} ${f.code} ${where(f)}${f.message}`);
  for (const m of report.models) {
    const errors = m.findings.filter((f) => f.level === 'error').length;
    lines.push(`${errors > 0 ? 'FAIL' : 'ok  '} ${m.name} (${m.role}${m.platform ? `, ${m.platform}` : ''})`);
    for (const f of m.findings) lines.push(`  ${f.level.toUpperCase()} ${f.code} ${where(f)}${f.message}`);
  }
  const missingWeights = report.models.some((m) => m.findings.some((f) => f.code === 'MISSING_MODEL_FILE'));
  lines.push(
    `${report.models.length} model(s), ${report.errors} error(s), ${report.warnings} warning(s)` +
      (missingWeights ? `; ${MODELS_DOC} explains how to export missing weights` : ''),
  );
  return lines.join('\n') + '\n';
}
