/**
 * Promise-based, typed client for the KServe v2 gRPC protocol (NVIDIA Triton or the embedded server). Every
 * call has a deadline; inputs are checked against the model's metadata before sending; a broken channel is
 * replaced, so the client recovers by itself after a server restart.
 * Spec: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
 */
import * as grpc from '@grpc/grpc-js';
import { InferenceError, toInferenceError } from './errors.ts';
import { normalizeModelConfig } from '../protocol/model-config-wire.ts';
import type { ModelConfig } from '../protocol/model-config.ts';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  inferenceService,
  type WireInferResponse,
  type WireParameter,
} from '../protocol/proto.ts';
import {
  TensorCodecError,
  checkTensorData,
  decodeTensorContents,
  decodeTensorData,
  encodeTensorData,
  hasContents,
  isDatatype,
} from '../protocol/tensor-codec.ts';
import type {
  InferParameterValue,
  InferRequest,
  InferResponse,
  ModelMetadata,
  ModelStatistics,
  RepositoryModel,
  ServerMetadata,
  Tensor,
  TensorMetadata,
} from '../protocol/types.ts';

/** What the gateway needs from an inference backend; KServeClient implements it, tests may fake it. */
export interface InferenceBackend {
  serverLive(): Promise<boolean>;
  serverReady(): Promise<boolean>;
  modelReady(name: string, version?: string): Promise<boolean>;
  serverMetadata(): Promise<ServerMetadata>;
  modelMetadata(name: string, version?: string): Promise<ModelMetadata>;
  modelConfig(name: string, version?: string): Promise<ModelConfig>;
  modelStatistics(name?: string, version?: string): Promise<ModelStatistics[]>;
  repositoryIndex(): Promise<RepositoryModel[]>;
  infer(req: InferRequest, opts?: { deadlineMs?: number }): Promise<InferResponse>;
  close(): void;
}

/** Options of {@link KServeClient.connect}. */
export interface KServeClientOptions {
  /** Default deadline of every call, in milliseconds (30 000). */
  deadlineMs?: number;
  /** Largest message sent or received, in bytes (256 MiB); an fp32 SAM embedding alone is 4 MiB. */
  maxMessageBytes?: number;
  /** Sent as gRPC metadata `authorization: Bearer <token>` with every call (the embedded server's token). */
  token?: string;
}

/** Default per-call deadline in milliseconds. */
export const DEFAULT_DEADLINE_MS = 30_000;

type Unary = (
  req: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;

/** Strips an optional scheme (`grpc://`, `http://`) and trailing slash from a `host:port` address. */
export function normalizeAddress(address: string): string {
  return address.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
}

/** The KServe v2 gRPC client. */
export class KServeClient implements InferenceBackend {
  private client: grpc.Client;
  private readonly metadataCache = new Map<string, Promise<ModelMetadata>>();
  private closed = false;

  private constructor(
    /** `host:port` of the server. */
    readonly address: string,
    private readonly deadlineMs: number,
    private readonly channelOptions: grpc.ChannelOptions,
    private readonly token?: string,
  ) {
    this.client = this.newClient();
  }

  /** Creates a client for `host:port`; no network traffic happens until the first call. */
  static connect(address: string, options: KServeClientOptions = {}): KServeClient {
    const target = normalizeAddress(address);
    if (!/^[^\s/]+:\d+$/.test(target) && !/^\[[^\]]+\]:\d+$/.test(target)) {
      throw new InferenceError('INVALID_INPUT', `inference address must be host:port, got '${address}'`);
    }
    const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    return new KServeClient(
      target,
      options.deadlineMs ?? DEFAULT_DEADLINE_MS,
      {
        'grpc.max_receive_message_length': maxBytes,
        'grpc.max_send_message_length': maxBytes,
        // Reconnect quickly after a server restart instead of grpc's default backoff of up to 120 s.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        'grpc.min_reconnect_backoff_ms': 100,
        // A private subchannel pool so that replacing a broken channel really starts a fresh connection.
        'grpc.use_local_subchannel_pool': 1,
      },
      options.token,
    );
  }

  private newClient(): grpc.Client {
    const Ctor = inferenceService();
    return new Ctor(this.address, grpc.credentials.createInsecure(), this.channelOptions);
  }

  private async call<T>(
    rpc: string,
    req: unknown,
    opts: { deadlineMs?: number; model?: string } = {},
  ): Promise<T> {
    if (this.closed) throw new InferenceError('BACKEND_UNAVAILABLE', `client for ${this.address} is closed`);
    const client = this.client;
    const method = (client as unknown as Record<string, Unary>)[rpc];
    const deadline = new Date(Date.now() + (opts.deadlineMs ?? this.deadlineMs));
    try {
      return await new Promise<T>((resolve, reject) => {
        const metadata = new grpc.Metadata();
        if (this.token !== undefined) metadata.set('authorization', `Bearer ${this.token}`);
        method.call(client, req, metadata, { deadline }, (err, res) =>
          err ? reject(err) : resolve(res as T),
        );
      });
    } catch (err: unknown) {
      const mapped = toInferenceError(err, { address: this.address, rpc, model: opts.model });
      if (opts.model) this.forgetModel(opts.model);
      if (mapped.code === 'BACKEND_UNAVAILABLE' && this.client === client && !this.closed) {
        // Do not keep a channel that failed at the transport level; the next call dials afresh.
        this.metadataCache.clear();
        this.client = this.newClient();
        client.close();
      }
      throw mapped;
    }
  }

  private forgetModel(name: string): void {
    for (const key of this.metadataCache.keys())
      if (key.startsWith(`${name}\u0000`)) this.metadataCache.delete(key);
  }

  /** ServerLive: is the server process up? */
  async serverLive(): Promise<boolean> {
    return (await this.call<{ live: boolean }>('ServerLive', {})).live;
  }

  /** ServerReady: can the server serve inferences? */
  async serverReady(): Promise<boolean> {
    return (await this.call<{ ready: boolean }>('ServerReady', {})).ready;
  }

  /** ModelReady: is the model (default: its latest version) ready? */
  async modelReady(name: string, version = ''): Promise<boolean> {
    return (await this.call<{ ready: boolean }>('ModelReady', { name, version }, { model: name })).ready;
  }

  /** ServerMetadata: name, version and protocol extensions. */
  async serverMetadata(): Promise<ServerMetadata> {
    const r = await this.call<ServerMetadata>('ServerMetadata', {});
    return { name: r.name, version: r.version, extensions: [...(r.extensions ?? [])] };
  }

  /** ModelMetadata: versions, platform, input and output tensors (-1: variable dimension). */
  async modelMetadata(name: string, version = ''): Promise<ModelMetadata> {
    const r = await this.call<{
      name: string;
      versions: string[];
      platform: string;
      inputs: Array<{ name: string; datatype: string; shape: number[] }>;
      outputs: Array<{ name: string; datatype: string; shape: number[] }>;
    }>('ModelMetadata', { name, version }, { model: name });
    const tensor = (t: { name: string; datatype: string; shape: number[] }): TensorMetadata => {
      if (!isDatatype(t.datatype)) {
        throw new InferenceError(
          'INTERNAL',
          `model '${name}' declares tensor '${t.name}' with unknown datatype '${t.datatype}'`,
        );
      }
      return { name: t.name, datatype: t.datatype, shape: (t.shape ?? []).map(Number) };
    };
    return {
      name: r.name,
      versions: [...(r.versions ?? [])],
      platform: r.platform,
      inputs: (r.inputs ?? []).map(tensor),
      outputs: (r.outputs ?? []).map(tensor),
    };
  }

  /** ModelConfig (Triton extension) normalized to the ModelConfig object of model-config.ts. */
  async modelConfig(name: string, version = ''): Promise<ModelConfig> {
    const r = await this.call<{ config: unknown }>('ModelConfig', { name, version }, { model: name });
    return normalizeModelConfig(r.config);
  }

  /** ModelStatistics (Triton extension): all models when `name` is absent. */
  async modelStatistics(name = '', version = ''): Promise<ModelStatistics[]> {
    const r = await this.call<{ modelStats: WireStats[] }>(
      'ModelStatistics',
      { name, version },
      name ? { model: name } : {},
    );
    return (r.modelStats ?? []).map(normalizeStats);
  }

  /** RepositoryIndex (Triton extension): every model with its state and the reason when not ready. */
  async repositoryIndex(): Promise<RepositoryModel[]> {
    const r = await this.call<{ models: RepositoryModel[] }>('RepositoryIndex', {
      repositoryName: '',
      ready: false,
    });
    return (r.models ?? []).map((m) => ({
      name: m.name,
      version: m.version,
      state: m.state,
      reason: m.reason,
    }));
  }

  /** The model's metadata, cached until an error concerning the model or the backend. */
  private metadataFor(name: string, version: string): Promise<ModelMetadata> {
    const key = `${name}\u0000${version}`;
    let p = this.metadataCache.get(key);
    if (!p) {
      p = this.modelMetadata(name, version);
      this.metadataCache.set(key, p);
      p.catch(() => this.metadataCache.delete(key));
    }
    return p;
  }

  /**
   * ModelInfer. Inputs are checked against the model's metadata (names, datatypes, ranks, fixed dims, byte
   * sizes) before sending; tensors travel as raw contents.
   * @throws InferenceError with code INVALID_INPUT, MODEL_NOT_FOUND, MODEL_NOT_READY, BACKEND_UNAVAILABLE ...
   */
  async infer(req: InferRequest, opts: { deadlineMs?: number } = {}): Promise<InferResponse> {
    const version = req.modelVersion ?? '';
    const metadata = await this.metadataFor(req.modelName, version);
    validateInferInputs(req, metadata);
    const raw: Buffer[] = [];
    const inputs = req.inputs.map((t) => {
      raw.push(encodeForSend(t));
      return { name: t.name, datatype: t.datatype, shape: t.shape, parameters: {} };
    });
    const wire = {
      modelName: req.modelName,
      modelVersion: version,
      id: req.id ?? '',
      parameters: toWireParameters(req.parameters),
      inputs,
      outputs: (req.outputs ?? []).map((name) => ({ name, parameters: {} })),
      rawInputContents: raw,
    };
    const res = await this.call<WireInferResponse>('ModelInfer', wire, {
      deadlineMs: opts.deadlineMs,
      model: req.modelName,
    });
    try {
      return decodeInferResponse(res);
    } catch (err: unknown) {
      if (err instanceof TensorCodecError) {
        throw new InferenceError(
          'INTERNAL',
          `malformed response from ${this.address}: ${err.message}`,
          undefined,
          err.message,
        );
      }
      throw err;
    }
  }

  /** Closes the channel; later calls fail with BACKEND_UNAVAILABLE. */
  close(): void {
    this.closed = true;
    this.client.close();
  }
}

function encodeForSend(t: Tensor): Buffer {
  try {
    return encodeTensorData(t.name, t.datatype, t.shape, t.data);
  } catch (err: unknown) {
    if (err instanceof TensorCodecError)
      throw new InferenceError('INVALID_INPUT', err.message, undefined, err.message);
    throw err;
  }
}

/**
 * Checks a request's inputs against model metadata: the same set of names, each input's datatype, rank and
 * fixed dimensions (-1 in the metadata matches any size), and element counts.
 * @throws InferenceError INVALID_INPUT saying what was expected and what arrived
 */
export function validateInferInputs(req: InferRequest, metadata: ModelMetadata): void {
  const fail = (msg: string): never => {
    throw new InferenceError('INVALID_INPUT', `model '${req.modelName}': ${msg}`);
  };
  const expected = new Map(metadata.inputs.map((m) => [m.name, m]));
  const seen = new Set<string>();
  for (const t of req.inputs) {
    const m = expected.get(t.name);
    if (!m)
      fail(
        `unexpected input '${t.name}'; the model's inputs are ${[...expected.keys()].map((n) => `'${n}'`).join(', ')}`,
      );
    if (seen.has(t.name)) fail(`input '${t.name}' given twice`);
    seen.add(t.name);
    const meta = m as TensorMetadata;
    if (t.datatype !== meta.datatype)
      fail(`input '${t.name}': expected datatype ${meta.datatype}, got ${t.datatype}`);
    if (
      t.shape.length !== meta.shape.length ||
      t.shape.some((d, i) => meta.shape[i] !== -1 && meta.shape[i] !== d)
    ) {
      fail(`input '${t.name}': expected shape [${meta.shape.join(',')}], got [${t.shape.join(',')}]`);
    }
    try {
      checkTensorData(t.name, t.datatype, t.shape, t.data);
    } catch (err: unknown) {
      if (err instanceof TensorCodecError) fail(err.message);
      throw err;
    }
  }
  const missing = [...expected.keys()].filter((n) => !seen.has(n));
  if (missing.length > 0) fail(`missing input(s) ${missing.map((n) => `'${n}'`).join(', ')}`);
}

/** InferRequest parameters -> wire InferParameter map. */
export function toWireParameters(
  params: Record<string, InferParameterValue> | undefined,
): Record<string, WireParameter> {
  const out: Record<string, WireParameter> = {};
  for (const [k, v] of Object.entries(params ?? {})) {
    if (typeof v === 'boolean') out[k] = { boolParam: v };
    else if (typeof v === 'string') out[k] = { stringParam: v };
    else if (typeof v === 'bigint') out[k] = { int64Param: Number(v) };
    else if (Number.isInteger(v)) out[k] = { int64Param: v };
    else out[k] = { doubleParam: v };
  }
  return out;
}

/** Wire InferParameter map -> plain values. */
export function fromWireParameters(
  params: Record<string, WireParameter> | undefined,
): Record<string, InferParameterValue> {
  const out: Record<string, InferParameterValue> = {};
  for (const [k, p] of Object.entries(params ?? {})) {
    switch (p.parameterChoice) {
      case 'boolParam':
        out[k] = Boolean(p.boolParam);
        break;
      case 'int64Param':
        out[k] = Number(p.int64Param);
        break;
      case 'stringParam':
        out[k] = String(p.stringParam);
        break;
      case 'doubleParam':
        out[k] = Number(p.doubleParam);
        break;
      case 'uint64Param':
        out[k] = Number(p.uint64Param);
        break;
      case undefined:
        break;
      default:
        throw new Error(`unexpected parameter kind ${String(p.parameterChoice satisfies never)}`);
    }
  }
  return out;
}

/** Decodes a ModelInferResponse (raw contents, or typed contents when the server used them). */
export function decodeInferResponse(res: WireInferResponse): InferResponse {
  const raw = res.rawOutputContents ?? [];
  const outputs: Tensor[] = (res.outputs ?? []).map((o, i) => {
    if (!isDatatype(o.datatype))
      throw new TensorCodecError(o.name, 'a KServe v2 datatype', `'${o.datatype}'`);
    const shape = (o.shape ?? []).map(Number);
    let data;
    if (raw.length > 0) {
      if (i >= raw.length)
        throw new TensorCodecError(o.name, `raw contents for output ${i}`, `${raw.length} raw entries`);
      data = decodeTensorData(o.name, o.datatype, shape, raw[i]);
    } else if (hasContents(o.contents)) {
      data = decodeTensorContents(o.name, o.datatype, shape, o.contents);
    } else {
      data = decodeTensorData(o.name, o.datatype, shape, new Uint8Array(0));
    }
    return { name: o.name, datatype: o.datatype, shape, data };
  });
  const parameters = fromWireParameters(res.parameters);
  return {
    modelName: res.modelName,
    modelVersion: res.modelVersion,
    id: res.id,
    outputs,
    ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
  };
}

interface WireDuration {
  count?: number;
  ns?: number;
}
interface WireStats {
  name: string;
  version: string;
  lastInference: number;
  inferenceCount: number;
  executionCount: number;
  inferenceStats?: Record<string, WireDuration | null> | null;
  batchStats?: Array<{ batchSize: number; computeInfer?: WireDuration | null }>;
}

function duration(d: WireDuration | null | undefined): { count: number; ns: number } {
  return { count: Number(d?.count ?? 0), ns: Number(d?.ns ?? 0) };
}

function normalizeStats(s: WireStats): ModelStatistics {
  const is = s.inferenceStats ?? {};
  return {
    name: s.name,
    version: s.version,
    lastInference: Number(s.lastInference ?? 0),
    inferenceCount: Number(s.inferenceCount ?? 0),
    executionCount: Number(s.executionCount ?? 0),
    inferenceStats: {
      success: duration(is.success),
      fail: duration(is.fail),
      queue: duration(is.queue),
      computeInput: duration(is.computeInput),
      computeInfer: duration(is.computeInfer),
      computeOutput: duration(is.computeOutput),
    },
    batchStats: (s.batchStats ?? []).map((b) => ({
      batchSize: Number(b.batchSize),
      computeInfer: duration(b.computeInfer),
    })),
  };
}
