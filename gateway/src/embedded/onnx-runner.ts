/**
 * Runs one ONNX model file on CPU with onnxruntime-node: one InferenceSession per configured instance
 * (instance_group counts, all on CPU), checked at load against the configuration (names, element types and
 * dimensions of every input and output), and the conversions between KServe tensors and ORT tensors.
 *
 * Threading: onnxruntime-node 1.22 runs `session.run` synchronously on the calling thread (after a
 * setImmediate), and its native binding loads only once per process (a second thread gets "Module did not
 * self-register"), so sessions cannot move to worker threads. While a model runs, this process's event loop
 * waits, and several instances take turns rather than run in parallel; ONNX Runtime's intra-op threads are
 * the parallelism. Where the gateway must stay responsive during long runs, start the server as its own
 * process (`medseg serve-models`) and point the gateway at it.
 * Spec: https://onnxruntime.ai/docs/api/js/ and Triton's onnxruntime backend conventions
 */
import ort from 'onnxruntime-node';
import type { ConfigDataType, ModelConfig } from '../protocol/model-config.ts';
import type { Datatype, Tensor } from '../protocol/types.ts';
import { InvalidRequestError } from './served-model.ts';

type OrtType = ort.Tensor.Type;

/** KServe datatype -> ORT tensor type; BF16 has no ORT tensor type in onnxruntime-node. */
export function ortTypeOf(datatype: Datatype): OrtType | undefined {
  switch (datatype) {
    case 'BOOL':
      return 'bool';
    case 'UINT8':
      return 'uint8';
    case 'UINT16':
      return 'uint16';
    case 'UINT32':
      return 'uint32';
    case 'UINT64':
      return 'uint64';
    case 'INT8':
      return 'int8';
    case 'INT16':
      return 'int16';
    case 'INT32':
      return 'int32';
    case 'INT64':
      return 'int64';
    case 'FP16':
      return 'float16';
    case 'FP32':
      return 'float32';
    case 'FP64':
      return 'float64';
    case 'BYTES':
      return 'string';
    case 'BF16':
      return undefined;
    default:
      return datatype satisfies never;
  }
}

const CONFIG_TO_ORT: Record<ConfigDataType, OrtType | undefined> = {
  TYPE_INVALID: undefined,
  TYPE_BOOL: 'bool',
  TYPE_UINT8: 'uint8',
  TYPE_UINT16: 'uint16',
  TYPE_UINT32: 'uint32',
  TYPE_UINT64: 'uint64',
  TYPE_INT8: 'int8',
  TYPE_INT16: 'int16',
  TYPE_INT32: 'int32',
  TYPE_INT64: 'int64',
  TYPE_FP16: 'float16',
  TYPE_FP32: 'float32',
  TYPE_FP64: 'float64',
  TYPE_STRING: 'string',
  TYPE_BF16: undefined,
};

const ORT_TO_DATATYPE: Partial<Record<string, Datatype>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

/** A model file that does not match its configuration, or that ONNX Runtime cannot load. */
export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8enc = new TextEncoder();

/** KServe tensor -> ORT tensor (shares the typed array; BYTES elements decoded as UTF-8 strings). */
export function toOrtTensor(t: Tensor, shape: readonly number[] = t.shape): ort.Tensor {
  const type = ortTypeOf(t.datatype);
  if (!type)
    throw new ModelLoadError(`tensor '${t.name}': ${t.datatype} is not supported by ONNX Runtime for Node`);
  if (type === 'string') {
    // ONNX Runtime string tensors are C strings of UTF-8: refuse what they would silently alter.
    const strings = (t.data as Uint8Array[]).map((b, i) => {
      if (b.includes(0)) {
        throw new InvalidRequestError(
          `BYTES element ${i} of input '${t.name}': expected no NUL byte (ONNX string tensors end at NUL), got one`,
        );
      }
      try {
        return utf8.decode(b);
      } catch {
        throw new InvalidRequestError(
          `BYTES element ${i} of input '${t.name}': expected UTF-8 text for an ONNX string tensor, got invalid UTF-8`,
        );
      }
    });
    return new ort.Tensor('string', strings, shape);
  }
  return new ort.Tensor(type, t.data as Exclude<Tensor['data'], Uint8Array[]> as never, shape);
}

/** ORT tensor -> KServe tensor (typed arrays kept as they are; strings encoded as UTF-8). */
export function fromOrtTensor(name: string, value: ort.Tensor): Tensor {
  const datatype = ORT_TO_DATATYPE[value.type];
  if (!datatype)
    throw new Error(`output '${name}': ONNX Runtime type '${value.type}' has no KServe datatype`);
  const shape = value.dims.map(Number);
  if (datatype === 'BYTES') {
    return { name, datatype, shape, data: (value.data as string[]).map((s) => utf8enc.encode(s)) };
  }
  let data = value.data as Tensor['data'];
  // Some runtimes hand FP16 back as Float16Array; the contract is raw bit patterns in a Uint16Array.
  if (datatype === 'FP16' && !(data instanceof Uint16Array)) {
    const v = data as unknown as ArrayBufferView;
    data = new Uint16Array(v.buffer, v.byteOffset, v.byteLength / 2);
  }
  if (datatype === 'BOOL' && !(data instanceof Uint8Array)) {
    data = Uint8Array.from(data as unknown as ArrayLike<number>, (x) => (x ? 1 : 0));
  }
  return { name, datatype, shape, data };
}

/** Options of {@link OnnxRunner.create}. */
export interface OnnxRunnerOptions {
  /** ONNX Runtime intra-op threads per session (default 1: instances, not threads, give parallelism). */
  intraOpThreads?: number;
}

/**
 * The configured shape of a tensor as the ONNX graph sees it: reshape.shape when given, with the batch
 * dimension in front when the model batches.
 */
function graphShape(config: ModelConfig, t: ModelConfig['input'][number]): number[] {
  const dims = t.reshape ? t.reshape.shape : t.dims;
  return config.maxBatchSize > 0 ? [-1, ...dims] : [...dims];
}

/** Sessions of one ONNX model file, with a pool so that at most `instanceCount` runs happen at once. */
export class OnnxRunner {
  private readonly idle: ort.InferenceSession[];
  private readonly waiters: Array<(s: ort.InferenceSession) => void> = [];

  private constructor(
    private readonly config: ModelConfig,
    private readonly sessions: ort.InferenceSession[],
  ) {
    this.idle = [...sessions];
  }

  /** Number of sessions (the sum of instance_group counts). */
  get instanceCount(): number {
    return this.sessions.length;
  }

  /**
   * Loads `bytes` once per instance and checks the graph's inputs and outputs against `config`.
   * @throws ModelLoadError with the mismatch (name, type or dimensions) or ONNX Runtime's own message
   */
  static async create(
    bytes: Uint8Array,
    config: ModelConfig,
    options: OnnxRunnerOptions = {},
  ): Promise<OnnxRunner> {
    const count = config.instanceGroup.reduce((n, g) => n + g.count, 0) || 1;
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.intraOpThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
    };
    let first: ort.InferenceSession;
    try {
      first = await ort.InferenceSession.create(bytes, sessionOptions);
    } catch (err: unknown) {
      throw new ModelLoadError(
        `ONNX Runtime cannot load the model: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    try {
      checkAgainstConfig(first, config);
      const rest = await Promise.all(
        Array.from({ length: count - 1 }, () => ort.InferenceSession.create(bytes, sessionOptions)),
      );
      return new OnnxRunner(config, [first, ...rest]);
    } catch (err: unknown) {
      await first.release();
      throw err;
    }
  }

  private acquire(): Promise<ort.InferenceSession> {
    const s = this.idle.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(s: ort.InferenceSession): void {
    const next = this.waiters.shift();
    if (next) next(s);
    else this.idle.push(s);
  }

  /** Runs the model once on already validated inputs and returns the requested outputs in order. */
  async run(inputs: Tensor[], outputs: string[]): Promise<Tensor[]> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of inputs) {
      const c = this.config.input.find((i) => i.name === t.name);
      const shape = c?.reshape
        ? this.config.maxBatchSize > 0
          ? [t.shape[0], ...c.reshape.shape]
          : c.reshape.shape
        : t.shape;
      feeds[t.name] = toOrtTensor(t, shape);
    }
    const session = await this.acquire();
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await session.run(feeds, outputs);
    } finally {
      this.release(session);
    }
    // onnxruntime-node 1.22 returns a subset of fetches in the model's output order but keyed by the model's
    // first output names (asking for [low_res_masks] yields the key masks). Keys are trusted only when they
    // are exactly the names asked for; otherwise values are matched to the requested names sorted by their
    // position among the model's outputs.
    const keys = Object.keys(result);
    const byName = keys.length === outputs.length && outputs.every((name) => keys.includes(name));
    const values = Object.values(result);
    const order = [...outputs].sort(
      (a, b) => session.outputNames.indexOf(a) - session.outputNames.indexOf(b),
    );
    return outputs.map((name) => {
      const t = fromOrtTensor(name, (byName ? result[name] : values[order.indexOf(name)]) as ort.Tensor);
      const c = this.config.output.find((o) => o.name === name);
      if (c?.reshape && c.dims.every((d) => d > 0)) {
        t.shape = this.config.maxBatchSize > 0 ? [t.shape[0], ...c.dims] : [...c.dims];
      }
      return t;
    });
  }

  /** Releases every session. */
  async close(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}

function checkAgainstConfig(session: ort.InferenceSession, config: ModelConfig): void {
  const problems: string[] = [];
  const check = (
    kind: 'input' | 'output',
    declared: ModelConfig['input'],
    actual: readonly ort.InferenceSession.ValueMetadata[],
  ) => {
    const byName = new Map(actual.map((m) => [m.name, m]));
    for (const t of declared) {
      const m = byName.get(t.name);
      if (!m) {
        problems.push(
          `${kind} '${t.name}' is not in the ONNX model (its ${kind}s: ${[...byName.keys()].join(', ')})`,
        );
        continue;
      }
      if (!m.isTensor) {
        problems.push(`${kind} '${t.name}' is not a tensor in the ONNX model`);
        continue;
      }
      const want = CONFIG_TO_ORT[t.dataType];
      if (!want) problems.push(`${kind} '${t.name}': ${t.dataType} is not supported by the embedded server`);
      else if (m.type !== want)
        problems.push(`${kind} '${t.name}': config says ${t.dataType}, the ONNX model has ${m.type}`);
      const cfg = graphShape(config, t);
      const onnx = m.shape;
      if (onnx.length === 0) continue; // no shape information in the graph: nothing to compare
      if (onnx.length !== cfg.length) {
        problems.push(
          `${kind} '${t.name}': config shape [${cfg.join(',')}] has rank ${cfg.length}, the ONNX model's [${onnx.join(',')}] has rank ${onnx.length}`,
        );
        continue;
      }
      if (config.maxBatchSize > 0 && typeof onnx[0] === 'number' && onnx[0] > 0) {
        problems.push(
          `${kind} '${t.name}': max_batch_size ${config.maxBatchSize} needs a variable first dimension, the ONNX model fixes it to ${onnx[0]}`,
        );
      }
      onnx.forEach((d, i) => {
        if (typeof d === 'number' && d > 0 && cfg[i] > 0 && d !== cfg[i]) {
          problems.push(
            `${kind} '${t.name}': dimension ${i} is ${cfg[i]} in the config, ${d} in the ONNX model`,
          );
        }
      });
    }
    if (kind === 'input') {
      const declaredNames = new Set(declared.map((t) => t.name));
      for (const m of actual)
        if (!declaredNames.has(m.name)) problems.push(`ONNX input '${m.name}' is missing from the config`);
    }
  };
  check('input', config.input, session.inputMetadata);
  check('output', config.output, session.outputMetadata);
  if (problems.length > 0)
    throw new ModelLoadError(`config does not match the ONNX model: ${problems.join('; ')}`);
}
