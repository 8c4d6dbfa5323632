/**
 * The embedded KServe v2 inference server: serves a Triton model repository over gRPC with ONNX Runtime on
 * CPU, wire-compatible with Triton (same service, messages and status codes), so the gateway's client code
 * path is the same with or without Triton. Unknown model: INVALID_ARGUMENT ("Request for unknown model");
 * model not ready: UNAVAILABLE; bad tensors: INVALID_ARGUMENT naming the tensor, what was expected and what
 * arrived. Tensors travel as raw_input_contents / raw_output_contents (typed contents are read too).
 * Spec: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/ and Triton's extensions
 */
import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { toWireModelConfig } from '../protocol/model-config-wire.ts';
import { DEFAULT_MAX_MESSAGE_BYTES, inferenceService, type WireInferRequest } from '../protocol/proto.ts';
import {
  TensorCodecError,
  decodeTensorContents,
  decodeTensorData,
  encodeTensorData,
  hasContents,
  isDatatype,
} from '../protocol/tensor-codec.ts';
import type { ModelStatistics, Tensor } from '../protocol/types.ts';
import { ModelRepository, type Resolution } from './model-repository.ts';
import { InvalidRequestError, type ServedModel } from './served-model.ts';

/** Options of {@link EmbeddedInferenceServer.start}. */
export interface EmbeddedServerOptions {
  /** The Triton model repository folder. */
  repository: string;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Receives one line per event (models loaded, failures); silent by default. */
  logger?: (line: string) => void;
  /** ONNX Runtime intra-op threads per model instance (default 1). */
  intraOpThreads?: number;
  /** Largest gRPC message either way, in bytes (256 MiB). */
  maxMessageBytes?: number;
  /**
   * ServerReady only when every model is ready, as Triton's default `--strict-readiness=true` (default true).
   */
  strictReadiness?: boolean;
  /**
   * A shared secret every call must carry as gRPC metadata `authorization: Bearer <token>`; calls without it
   * get UNAUTHENTICATED. The gateway makes one per process, so other local users cannot use its port.
   */
  token?: string;
  /**
   * Milliseconds between scans of the repository for new model folders (Triton's `--model-control-mode=poll`);
   * 0 turns polling off. Default: REPOSITORY_POLL_MS from the environment, else 2000.
   */
  repositoryPollMs?: number;
}

/** The repository poll interval when none is given: REPOSITORY_POLL_MS, else 2 s. */
export function defaultRepositoryPollMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.REPOSITORY_POLL_MS ?? 2000);
  return Number.isFinite(v) && v >= 0 ? v : 2000;
}

/** Name reported by ServerMetadata. */
export const EMBEDDED_SERVER_NAME = 'medseg-embedded';
/** Version reported by ServerMetadata. */
export const EMBEDDED_SERVER_VERSION = '0.1.0';

type Callback = grpc.sendUnaryData<unknown>;
type Call = grpc.ServerUnaryCall<Record<string, unknown>, unknown>;

function status(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  return { code, details };
}

/** A running embedded server. */
export class EmbeddedInferenceServer {
  private constructor(
    private readonly server: grpc.Server,
    /** The loaded repository (models, states, statistics). */
    readonly repository: ModelRepository,
    /** `host:port` to give a client. */
    readonly address: string,
    /** The bound TCP port. */
    readonly port: number,
    private readonly poller: NodeJS.Timeout | undefined,
  ) {}

  /** Loads the repository, binds the port and starts serving. */
  static async start(options: EmbeddedServerOptions): Promise<EmbeddedInferenceServer> {
    const host = options.host ?? '127.0.0.1';
    const log = options.logger ?? (() => {});
    const repository = await ModelRepository.load(options.repository, {
      intraOpThreads: options.intraOpThreads,
      logger: log,
    });
    const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const server = new grpc.Server({
      'grpc.max_receive_message_length': maxBytes,
      'grpc.max_send_message_length': maxBytes,
    });
    server.addService(
      inferenceService().service,
      handlers(repository, options.strictReadiness ?? true, options.token),
    );
    const bindHost = host.includes(':') ? `[${host}]` : host;
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(
          `${bindHost}:${options.port ?? 0}`,
          grpc.ServerCredentials.createInsecure(),
          (err, p) => (err ? reject(err) : resolve(p)),
        ),
      );
    } catch (err: unknown) {
      await repository.close();
      throw err;
    }
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    log(`embedded KServe v2 server listening on ${address}`);
    const pollMs = options.repositoryPollMs ?? defaultRepositoryPollMs();
    let scanning = false;
    const poller =
      pollMs > 0
        ? setInterval(() => {
            // One scan at a time: loading a large model may take longer than the interval.
            if (scanning) return;
            scanning = true;
            void repository.refresh().finally(() => (scanning = false));
          }, pollMs)
        : undefined;
    poller?.unref();
    return new EmbeddedInferenceServer(server, repository, address, port, poller);
  }

  /** Statistics of every ready model version, or of one model. */
  stats(name?: string): ModelStatistics[] {
    return this.repository
      .readyModels()
      .filter((m) => !name || m.name === name)
      .map((m) => m.stats.snapshot());
  }

  /** Stops accepting calls, ends open connections and releases the models. */
  async close(): Promise<void> {
    clearInterval(this.poller);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await this.repository.close();
  }
}

function resolveOrFail(
  repo: ModelRepository,
  name: string,
  version: string,
  cb: Callback,
): ServedModel | undefined {
  const r: Resolution = repo.resolve(name, version);
  switch (r.kind) {
    case 'ready':
      return r.model;
    case 'unknown':
      cb(status(grpc.status.INVALID_ARGUMENT, r.message));
      return undefined;
    case 'not-ready':
      cb(status(grpc.status.UNAVAILABLE, r.message));
      return undefined;
    default:
      return r satisfies never;
  }
}

/** Decodes the request's tensors (raw contents, or typed contents when no raw contents came). */
function decodeInputs(model: string, req: WireInferRequest): Tensor[] {
  const raw = req.rawInputContents ?? [];
  if (raw.length > 0 && raw.length !== req.inputs.length) {
    throw new InvalidRequestError(
      `model '${model}': expected ${req.inputs.length} raw_input_contents (one per input), got ${raw.length}`,
    );
  }
  return req.inputs.map((t, i) => {
    if (!isDatatype(t.datatype)) {
      throw new InvalidRequestError(
        `inference input '${t.name}' for model '${model}': expected a KServe datatype (FP32, INT64, BYTES ...), got '${t.datatype}'`,
      );
    }
    const shape = (t.shape ?? []).map(Number);
    try {
      const data =
        raw.length > 0
          ? decodeTensorData(t.name, t.datatype, shape, raw[i])
          : hasContents(t.contents)
            ? decodeTensorContents(t.name, t.datatype, shape, t.contents)
            : decodeTensorData(t.name, t.datatype, shape, new Uint8Array(0));
      return { name: t.name, datatype: t.datatype, shape, data };
    } catch (err: unknown) {
      if (err instanceof TensorCodecError) throw new InvalidRequestError(`model '${model}': ${err.message}`);
      throw err;
    }
  });
}

/** True when the call carries `authorization: Bearer <token>` (compared in constant time). */
function authorized(call: Call, token: string): boolean {
  const value = call.metadata.get('authorization')[0];
  const given = Buffer.from(typeof value === 'string' ? value : '');
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

function handlers(
  repo: ModelRepository,
  strictReadiness: boolean,
  token: string | undefined,
): grpc.UntypedServiceImplementation {
  const guard =
    (fn: (call: Call, cb: Callback) => void | Promise<void>) =>
    (call: Call, cb: Callback): void => {
      if (token !== undefined && !authorized(call, token)) {
        cb(status(grpc.status.UNAUTHENTICATED, 'this inference server needs its per-process token'));
        return;
      }
      Promise.resolve()
        .then(() => fn(call, cb))
        .catch((err: unknown) => {
          if (err instanceof InvalidRequestError) cb(status(grpc.status.INVALID_ARGUMENT, err.message));
          else cb(status(grpc.status.INTERNAL, err instanceof Error ? err.message : String(err)));
        });
    };
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    ServerLive: guard((_call, cb) => cb(null, { live: true })),
    ServerReady: guard((_call, cb) => cb(null, { ready: strictReadiness ? repo.allReady() : true })),
    ModelReady: guard((call, cb) => {
      cb(null, { ready: repo.resolve(str(call.request.name), str(call.request.version)).kind === 'ready' });
    }),
    ServerMetadata: guard((_call, cb) =>
      cb(null, {
        name: EMBEDDED_SERVER_NAME,
        version: EMBEDDED_SERVER_VERSION,
        extensions: ['model_configuration', 'model_repository', 'statistics', 'binary_tensor_data'],
      }),
    ),
    ModelMetadata: guard((call, cb) => {
      const model = resolveOrFail(repo, str(call.request.name), str(call.request.version), cb);
      if (model) cb(null, model.metadata);
    }),
    ModelConfig: guard((call, cb) => {
      const model = resolveOrFail(repo, str(call.request.name), str(call.request.version), cb);
      if (model) cb(null, { config: toWireModelConfig(model.config) });
    }),
    ModelStatistics: guard((call, cb) => {
      const name = str(call.request.name);
      const version = str(call.request.version);
      let models: ServedModel[];
      if (name) {
        const model = resolveOrFail(repo, name, version, cb);
        if (!model) return;
        models = version ? [model] : repo.readyModels().filter((m) => m.name === name);
      } else models = repo.readyModels();
      cb(null, { modelStats: models.map((m) => m.stats.snapshot()) });
    }),
    RepositoryIndex: guard((call, cb) => {
      const onlyReady = call.request.ready === true;
      cb(null, { models: repo.index().filter((r) => !onlyReady || r.state === 'READY') });
    }),
    ModelInfer: guard(async (call, cb) => {
      const req = call.request as unknown as WireInferRequest;
      const model = resolveOrFail(repo, req.modelName, req.modelVersion, cb);
      if (!model) return;
      const inputs = decodeInputs(req.modelName, req);
      const wanted = (req.outputs ?? []).map((o) => o.name);
      const outputs = await model.execute(inputs, wanted);
      const raw: Buffer[] = [];
      const wireOutputs = outputs.map((t) => {
        raw.push(encodeTensorData(t.name, t.datatype, t.shape, t.data));
        return { name: t.name, datatype: t.datatype, shape: t.shape, parameters: {} };
      });
      cb(null, {
        modelName: model.name,
        modelVersion: model.version,
        id: req.id,
        parameters: {},
        outputs: wireOutputs,
        rawOutputContents: raw,
      });
    }),
  };
}
