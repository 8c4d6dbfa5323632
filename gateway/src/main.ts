/**
 * The composition root: reads the configuration once, starts the inference backend (Triton at TRITON_URL,
 * or the embedded KServe v2 server on a loopback port over the model repository), and the GraphQL gateway.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { SessionStore } from './api/annotation-sessions.ts';
import { Semaphore } from './core/semaphore.ts';
import { SharedHandles } from './api/shared-handles.ts';
import { StoreRateLimiter } from './api/rate-limit.ts';
import { BenchmarkService } from './bench/benchmark-service.ts';
import { FineTuneService } from './finetune/finetune-service.ts';
import { volumeRunner } from './api/medical/resolvers.ts';
import type { ApiServices } from './api/context.ts';
import { startHttpServer } from './api/http-server.ts';
import { LowResStore } from './api/low-res-store.ts';
import { GatewayMetrics } from './api/metrics.ts';
import { createMedicalServices } from './api/medical/services.ts';
import { PubSub } from './api/pubsub.ts';
import type { GatewayConfig } from './config.ts';
import { EmbeddedServerWorker } from './embedded/worker-server.ts';
import { EmbeddingCache } from './sam/embedding-cache.ts';
import { KServeClient } from './inference/kserve-client.ts';
import { GuardedBackend } from './inference/backpressure.ts';
import { SamSession, type SessionObserver } from './sam/session.ts';
import { openStore, redact } from './store/open-store.ts';

/** A running gateway. */
export interface RunningGateway {
  /** Base URL of the HTTP API (GraphQL at `${url}/graphql`). */
  url: string;
  /** gRPC address of the inference backend in use. */
  inferenceAddress: string;
  /** True when the embedded server was started in-process. */
  embedded: boolean;
  services: ApiServices;
  client: KServeClient;
  /** Stops the HTTP server, the client and the embedded server (if any). */
  close(): Promise<void>;
}

/** Creates the structured logger (JSON lines on stderr; never pixel data or patient identifiers). */
export function createLogger(config: Pick<GatewayConfig, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'medseg-gateway' } }, pino.destination(2));
}

/** A connected inference backend: Triton at TRITON_URL, or the embedded server started here. */
export interface InferenceBackendHandle {
  client: KServeClient;
  /** gRPC address in use. */
  address: string;
  /** True when the embedded server was started in this process. */
  embedded: boolean;
  /** Closes the client and stops the embedded server (if any). */
  close(): Promise<void>;
}

/**
 * Connects to Triton at `config.tritonUrl`, or starts the embedded KServe v2 server on a loopback port over
 * `config.modelRepository`, in a worker thread of this process (ONNX Runtime blocks the thread it runs on);
 * either way the caller gets one KServe client, so one code path runs everywhere.
 */
export async function startInferenceBackend(
  config: Readonly<GatewayConfig>,
  log: Logger,
): Promise<InferenceBackendHandle> {
  let embedded: EmbeddedServerWorker | undefined;
  let address: string;
  // The embedded server listens on loopback and answers only calls with this process's random token, so
  // another local user or process cannot run models on it.
  const token = config.tritonUrl ? undefined : randomBytes(32).toString('base64url');
  if (config.tritonUrl) {
    address = config.tritonUrl;
    log.info({ address }, 'using Triton inference server');
  } else {
    embedded = await EmbeddedServerWorker.start({
      repository: config.modelRepository,
      intraOpThreads: config.embeddedThreads,
      host: '127.0.0.1',
      port: 0,
      token,
      logger: (line: string) => log.info({ component: 'embedded' }, line),
    });
    address = embedded.address;
    log.info({ address, repository: config.modelRepository }, 'embedded inference server started');
  }
  const client = KServeClient.connect(address, {
    deadlineMs: config.backendDeadlineMs,
    ...(token !== undefined ? { token } : {}),
  });
  return {
    client,
    address,
    embedded: embedded !== undefined,
    async close() {
      client.close();
      await embedded?.close();
    },
  };
}

/** The gateway's inference stack: backend, KServe client, backend guard, embedding cache and SAM session. */
export interface InferenceStack {
  backend: InferenceBackendHandle;
  client: KServeClient;
  /** The bounded queue per model and retries every session call goes through. */
  guard: GuardedBackend;
  cache: EmbeddingCache;
  /** The SAM session (with its decode batcher) over the guard. */
  sam: SamSession;
  /** Closes the client and stops the embedded server (if any). */
  close(): Promise<void>;
}

/** Options of {@link createInferenceStack}. */
export interface InferenceStackOptions {
  /** Embedding lifetime in milliseconds (default EMBEDDING_TTL_S). */
  cacheTtlMs?: number;
  /** Keep embeddings as FP16 (default CACHE_FP16). */
  cacheFp16?: boolean;
  /** Receives the session's timings and backend failures (metrics). */
  observer?: SessionObserver;
}

/**
 * Builds the inference stack every front door uses, `medseg start` and the CLI commands alike: the backend
 * of {@link startInferenceBackend}, a bounded queue per model and retries of idempotent calls in front of it
 * (backpressure.ts, BACKEND_MAX_INFLIGHT, BACKEND_MAX_QUEUED, BACKEND_RETRIES), the embedding cache, and the
 * SAM session with its decode batcher.
 */
export async function createInferenceStack(
  config: Readonly<GatewayConfig>,
  log: Logger,
  options: InferenceStackOptions = {},
): Promise<InferenceStack> {
  const backend = await startInferenceBackend(config, log);
  const cache = new EmbeddingCache({
    capacityBytes: config.cacheBytes,
    fp16: options.cacheFp16 ?? config.cacheFp16,
    ttlMs: options.cacheTtlMs ?? config.embeddingTtlS * 1000,
  });
  const guard = new GuardedBackend(backend.client, {
    maxInflight: config.security.backendMaxInflight,
    maxQueued: config.security.backendMaxQueued,
    retries: config.security.backendRetries,
    deadlineMs: config.backendDeadlineMs,
    onEvent: (e) => log[e.type === 'retry' ? 'warn' : 'debug'](e, `backend call ${e.type}`),
  });
  const sam = new SamSession(guard, {
    cache,
    batchWindowMs: config.batchWindowMs,
    deadlineMs: config.backendDeadlineMs,
    ...(options.observer ? { observer: options.observer } : {}),
  });
  return { backend, client: backend.client, guard, cache, sam, close: () => backend.close() };
}

/** Starts everything the configuration asks for. */
export async function startGateway(
  config: Readonly<GatewayConfig>,
  log: Logger = createLogger(config),
): Promise<RunningGateway> {
  mkdirSync(config.stateDir, { recursive: true });
  // The store first: a replica that cannot reach its database fails before it holds any other resource.
  const store = await openStore({
    databaseUrl: config.databaseUrl,
    stateDir: config.stateDir,
    connectTimeoutMs: config.databaseConnectTimeoutS * 1000,
    onRetry: (message, delayMs, attempt) =>
      log.warn({ attempt, retryInMs: delayMs }, `state store unreachable, retrying: ${message}`),
    onWarning: (message) => log.warn({ component: 'store' }, message),
  });
  log.info(
    { store: store.kind, ...(config.databaseUrl ? { url: redact(config.databaseUrl) } : {}) },
    'state store ready',
  );
  let stack: InferenceStack;
  try {
    stack = await createInferenceStack(config, log, {
      // Read when the first call ends, by which time the metrics below exist.
      observer: {
        encoder: (model, s) => metrics.encoderSeconds.observe({ model }, s),
        decoder: (model, s, n) => {
          metrics.decoderSeconds.observe({ model }, s);
          metrics.decoderBatchSize.observe({ model }, n);
        },
        backendError: (code) => metrics.backendErrors.inc({ code }),
      },
    });
  } catch (err: unknown) {
    await store.close();
    throw err;
  }
  const { backend, client, cache, sam } = stack;
  const { address } = backend;
  // Read at scrape time, when the benchmark service below exists.
  const metrics = new GatewayMetrics(cache, {
    jobs: () => benchmark.jobs(),
    progress: (id) => benchmark.progress(id),
  });
  const pubsub = new PubSub();
  const benchmark = new BenchmarkService(store, sam, {
    leaseMs: config.jobLeaseMs,
    maxRunningJobs: config.maxBenchmarkJobs,
    onEvent: (e) =>
      e.type === 'resumed'
        ? log.info({ job: e.jobId }, 'picked up benchmark job')
        : log.warn({ err: e.error }, 'benchmark sweeper error'),
  });
  // Fine-tuning jobs live in the shared store, leased like benchmark jobs (the same replica id and lease).
  const finetune = new FineTuneService({
    jobStore: benchmark.store,
    replicaId: benchmark.replicaId,
    leaseMs: config.jobLeaseMs,
    maxJobsPerCaller: config.maxJobsPerCaller,
    session: sam,
    cache,
    repository: config.modelRepository,
    stateDir: config.stateDir,
    log: (line) => log.info(line),
  });
  const lowRes = new LowResStore({ maxBytes: config.lowResCacheBytes, ttlMs: config.embeddingTtlS * 1000 });
  const sessions = new SessionStore({
    maxSessions: config.maxSessions,
    maxPerCaller: config.maxSessionsPerCaller,
    ttlMs: config.sessionTtlS * 1000,
  });
  const medical = createMedicalServices(config, pubsub);
  const services: ApiServices = {
    config,
    sam,
    cache,
    benchmark,
    finetune,
    lowRes,
    sessions,
    log,
    metrics,
    pubsub,
    medical,
    decodes: new Semaphore(config.maxDecodes, config.decodeQueue),
    // Replicas share handles through PostgreSQL; one SQLite process has nothing to share them with.
    ...(store.kind === 'postgres'
      ? {
          limiter: new StoreRateLimiter(store, {
            ratePerSecond: config.security.rateLimitRps,
            burst: config.security.rateLimitBurst,
          }),
          handles: new SharedHandles({
            store,
            sam,
            lowRes,
            sessions,
            spacings: medical.spacings,
            embeddingTtlMs: config.embeddingTtlS * 1000,
            sessionTtlMs: config.sessionTtlS * 1000,
            maxSessions: config.maxSessions,
            maxSessionsPerCaller: config.maxSessionsPerCaller,
            log,
          }),
        }
      : {}),
  };
  const ready = async (): Promise<string | undefined> => {
    // ServerLive rather than ServerReady: Triton's strict readiness reports the whole server not ready when
    // any model failed to load, while the gateway only needs its default model.
    // Readiness waits for the shared store too: a replica that cannot reach it would answer "no such job".
    try {
      await store.ping();
    } catch (err: unknown) {
      return `state store unreachable: ${(err as Error).message}`;
    }
    if (!(await client.serverLive())) return `inference server at ${address} is not live`;
    if (!(await client.modelReady(config.defaultModel)))
      return `default model '${config.defaultModel}' is not ready`;
    return undefined;
  };
  if (store.kind === 'postgres') {
    // Volume jobs are leased too: a replica that dies leaves its jobs to another, which runs them again.
    await medical.volumeJobs.attach(
      {
        store,
        ttlMs: config.embeddingTtlS * 1000,
        leaseMs: config.jobLeaseMs,
        replicaId: benchmark.replicaId,
        onError: (err) => log.warn({ err }, 'could not mirror a volume job to the store'),
        onTakeover: (id) => log.info({ job: id }, 'took over a volume job'),
      },
      volumeRunner(services),
    );
  }
  const http = await startHttpServer(services, ready);
  // Jobs a crash or a stop left running continue where they stopped; stored samples are never repeated.
  for (const h of await benchmark.resumeInterrupted())
    log.info({ job: h.jobId }, 'resuming interrupted benchmark job');
  for (const id of await finetune.resumeInterrupted())
    log.info({ job: id }, 'resuming interrupted fine-tuning job');
  // Jobs of replicas that die later (and queued ones) are picked up once their lease runs out.
  await benchmark.startSweeper();
  await finetune.startSweeper((err) => log.warn({ err }, 'fine-tuning sweeper error'));
  log.info({ url: http.url }, 'gateway listening');
  return {
    url: http.url,
    inferenceAddress: address,
    embedded: backend.embedded,
    services,
    client,
    async close() {
      await services.medical.volumeJobs.cancelAll();
      await Promise.all([benchmark.drain(true), finetune.drain(true)]);
      await benchmark.store.close();
      await http.close();
      await backend.close();
    },
  };
}
