/**
 * The gateway's configuration, read once from the environment by the composition root (main.ts / the CLI)
 * and passed down frozen. Explicit options (CLI flags) override the environment. Every field states its unit.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, intFromEnv as int } from './config-env.ts';
import { assertSafeBinding, loadSecurityConfig, type SecurityConfig } from './security/security-config.ts';

export { ConfigError };

/** The model repository shipped with the package (the reference models), whatever the working directory. */
export const DEFAULT_MODEL_REPOSITORY = fileURLToPath(new URL('../../triton-models', import.meta.url));

/** Frozen gateway configuration. */
export interface GatewayConfig {
  /** HTTP port of the GraphQL API, /healthz, /readyz and /metrics (PORT, default 4000; 0 = any free port). */
  port: number;
  /** Interface to bind (HOST, default 127.0.0.1). */
  host: string;
  /** Triton's gRPC address host:port (TRITON_URL); undefined = start the embedded inference server. */
  tritonUrl: string | undefined;
  /** Model repository the embedded server loads (MODEL_REPOSITORY, default the package's triton-models/). */
  modelRepository: string;
  /**
   * ONNX Runtime intra-op threads per model instance of the embedded server (EMBEDDED_THREADS, default: the
   * machine's parallelism, at most 4).
   */
  embeddedThreads: number;
  /** Model used when a request names none (DEFAULT_MODEL, default mobilesam: the real MobileSAM-class model). */
  defaultModel: string;
  /** Folders that `{ path }` image inputs may read from (DATA_ROOTS, comma-separated; default: none). */
  dataRoots: string[];
  /** Folder for SQLite files and other state (STATE_DIR, default ./.medseg). */
  stateDir: string;
  /**
   * The shared state store of every replica: a postgres:// URL (DATABASE_URL); undefined = SQLite in
   * STATE_DIR, for one process.
   */
  databaseUrl: string | undefined;
  /** How long start-up keeps retrying an unreachable database, in seconds (DATABASE_CONNECT_TIMEOUT_S, default 60). */
  databaseConnectTimeoutS: number;
  /**
   * Lease of a running benchmark job in milliseconds (JOB_LEASE_MS, default 30000): renewed every third of
   * it; a replica that dies leaves its job to another one after at most this long.
   */
  jobLeaseMs: number;
  /** Embedding cache budget in bytes (CACHE_BYTES, default 1 GiB). */
  cacheBytes: number;
  /** Budget in bytes of low-res mask handles kept for refinement (LOW_RES_CACHE_BYTES, default 256 MiB). */
  lowResCacheBytes: number;
  /** Store cached embeddings as fp16 (CACHE_FP16=1; halves memory, ~1e-3 relative error). */
  cacheFp16: boolean;
  /** Embedding id lifetime in seconds after last use (EMBEDDING_TTL_S, default 3600). */
  embeddingTtlS: number;
  /** Deadline of one backend call in milliseconds (BACKEND_DEADLINE_MS, default 60000). */
  backendDeadlineMs: number;
  /**
   * How long a decoder request waits for company while the backend has a free slot, in milliseconds
   * (BATCH_WINDOW_MS, default 0: the next event-loop turn). Requests that find the backend busy always queue
   * and leave together when a call completes.
   */
  batchWindowMs: number;
  /** Largest HTTP request body in bytes (MAX_BODY_BYTES, default 64 MiB). */
  maxBodyBytes: number;
  /** Largest decoded image in pixels (MAX_PIXELS, default 50 million). */
  maxPixels: number;
  /**
   * Image inputs read, decoded and encoded at once, each holding its bytes and pixels (MAX_DECODES, a count,
   * default 8); volumes count one each.
   */
  maxDecodes: number;
  /** Image inputs that may wait for a decode slot; more get RESOURCE_EXHAUSTED (DECODE_QUEUE, default 256). */
  decodeQueue: number;
  /** Most prompt sets in one segment call (MAX_PROMPT_SETS, default 64). */
  maxPromptSets: number;
  /** Most points in one prompt set (MAX_POINTS_PER_SET, default 64). */
  maxPointsPerSet: number;
  /** Most open annotation sessions (MAX_SESSIONS, default 256). */
  maxSessions: number;
  /** Most open annotation sessions of one caller (MAX_SESSIONS_PER_CALLER, default 32). */
  maxSessionsPerCaller: number;
  /** Most running jobs (volume and benchmark, each kind counted apart) of one caller (MAX_JOBS_PER_CALLER, default 4). */
  maxJobsPerCaller: number;
  /** Most benchmark jobs running at once (MAX_BENCHMARK_JOBS, default 2). */
  maxBenchmarkJobs: number;
  /** Idle lifetime of an annotation session in seconds (SESSION_TTL_S, default 1800). */
  sessionTtlS: number;
  /** Log level (LOG_LEVEL: debug, info, warn, error, silent; default info). */
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /**
   * DICOMweb PACS endpoints by name (PACS_ENDPOINTS: JSON `{"name": {"baseUrl": "http://host/dicom-web",
   * "authHeader": "Bearer ..."}}`, or PACS_ENDPOINTS_FILE: a file holding that JSON; default: none).
   * Requests name an endpoint; they never carry a URL.
   */
  pacsEndpoints: Readonly<Record<string, PacsEndpointConfig>>;
  /** Time limit of one PACS request in milliseconds (PACS_TIMEOUT_MS, default 30000). */
  pacsTimeoutMs: number;
  /** Largest PACS answer in bytes, counted while it streams (PACS_MAX_RESPONSE_BYTES, default 1 GiB). */
  pacsMaxResponseBytes: number;
  /** Most slices one 3-D propagation may segment (MAX_VOLUME_SLICES, default 512). */
  maxVolumeSlices: number;
  /** Most volume jobs kept (running and finished; the oldest finished go first) (MAX_VOLUME_JOBS, default 64). */
  maxVolumeJobs: number;
  /** Most grid points one segmentEverything call may prompt, pointsPerSide squared (EVERYTHING_MAX_POINTS, default 1024: S1's 32x32). */
  everythingMaxPoints: number;
  /** Most grid points in one decoder call of segmentEverything (EVERYTHING_MAX_POINTS_PER_BATCH, default 64). */
  everythingMaxPointsPerBatch: number;
  /**
   * Most image pixels x mask candidates one segmentEverything call may produce (points x 3 masks x pixels;
   * each candidate is a full-size mask) (EVERYTHING_MAX_PIXEL_CANDIDATES, default 2^30).
   */
  everythingMaxPixelCandidates: number;
  /** Wall-clock limit of one segmentEverything call in milliseconds (EVERYTHING_DEADLINE_MS, default 120000). */
  everythingDeadlineMs: number;
  /** segmentEverything calls running at once; more get RESOURCE_EXHAUSTED (EVERYTHING_MAX_RUNNING, default 2). */
  everythingMaxRunning: number;
  /** Authentication, query limits, rate limits, backend queue and shutdown grace (see security/security-config.ts). */
  security: Readonly<SecurityConfig>;
}

/** One configured DICOMweb endpoint. */
export interface PacsEndpointConfig {
  /** DICOMweb service root (http or https), e.g. http://orthanc:8042/dicom-web. */
  baseUrl: string;
  /** Value of the Authorization header sent with every request, if any (never logged). */
  authHeader?: string;
}

/** Parses PACS_ENDPOINTS (JSON) or PACS_ENDPOINTS_FILE (a JSON file); both set is an error. */
function pacsEndpointsFrom(env: NodeJS.ProcessEnv): Record<string, PacsEndpointConfig> {
  const inline = env.PACS_ENDPOINTS?.trim();
  const file = env.PACS_ENDPOINTS_FILE?.trim();
  if (inline && file) throw new ConfigError('set PACS_ENDPOINTS or PACS_ENDPOINTS_FILE, not both');
  const source = inline ? 'PACS_ENDPOINTS' : 'PACS_ENDPOINTS_FILE';
  let text: string;
  if (inline) text = inline;
  else if (file) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err: unknown) {
      throw new ConfigError(`PACS_ENDPOINTS_FILE '${file}' could not be read: ${(err as Error).message}`);
    }
  } else return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`${source} must be JSON like {"name": {"baseUrl": "http://host/dicom-web"}}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`${source} must be a JSON object of named endpoints, got ${typeof parsed}`);
  }
  const out: Record<string, PacsEndpointConfig> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    const v = value as { baseUrl?: unknown; authHeader?: unknown } | null;
    if (!/^[\w.-]{1,64}$/.test(name))
      throw new ConfigError(`${source}: endpoint name '${name}' must be 1-64 of [A-Za-z0-9_.-]`);
    if (typeof v?.baseUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(v.baseUrl)) {
      throw new ConfigError(
        `${source}: endpoint '${name}' needs an http(s) baseUrl, got ${JSON.stringify(v?.baseUrl)}`,
      );
    }
    if (v.authHeader !== undefined && typeof v.authHeader !== 'string')
      throw new ConfigError(`${source}: endpoint '${name}' authHeader must be a string`);
    out[name] = Object.freeze({
      baseUrl: v.baseUrl,
      ...(typeof v.authHeader === 'string' ? { authHeader: v.authHeader } : {}),
    });
  }
  return Object.freeze(out);
}

/** DATABASE_URL: unset or empty for SQLite, else a postgres:// URL; anything else is a ConfigError. */
function databaseUrlFrom(env: NodeJS.ProcessEnv): string | undefined {
  const url = env.DATABASE_URL?.trim();
  if (!url) return undefined;
  if (!/^postgres(ql)?:\/\/\S+$/i.test(url)) {
    throw new ConfigError(
      `DATABASE_URL must be a postgres://user:password@host:port/database URL, got '${url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@').slice(0, 80)}'`,
    );
  }
  return url;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

/** Reads the configuration from environment variables (and overrides), validates it and freezes it. */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<GatewayConfig> = {},
): Readonly<GatewayConfig> {
  const logLevel = (env.LOG_LEVEL ?? 'info') as GatewayConfig['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got '${env.LOG_LEVEL}'`);
  }
  const tritonUrl = env.TRITON_URL?.trim() || undefined;
  if (tritonUrl !== undefined && !/^[\w.-]+:\d+$|^\[[0-9a-f:]+\]:\d+$/i.test(tritonUrl)) {
    throw new ConfigError(`TRITON_URL must be host:port (e.g. triton:8001), got '${tritonUrl}'`);
  }
  const config: GatewayConfig = {
    port: int(env, 'PORT', 4000, 0, 65535),
    host: env.HOST?.trim() || '127.0.0.1',
    tritonUrl,
    modelRepository: resolve(env.MODEL_REPOSITORY?.trim() || DEFAULT_MODEL_REPOSITORY),
    embeddedThreads: int(env, 'EMBEDDED_THREADS', Math.min(4, availableParallelism()), 1, 256),
    defaultModel: env.DEFAULT_MODEL?.trim() || 'mobilesam',
    dataRoots: (env.DATA_ROOTS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map((s) => resolve(s)),
    stateDir: resolve(env.STATE_DIR?.trim() || '.medseg'),
    databaseUrl: databaseUrlFrom(env),
    databaseConnectTimeoutS: int(env, 'DATABASE_CONNECT_TIMEOUT_S', 60, 0, 3600),
    jobLeaseMs: int(env, 'JOB_LEASE_MS', 30_000, 300, 3_600_000),
    cacheBytes: int(env, 'CACHE_BYTES', 1024 ** 3, 0, Number.MAX_SAFE_INTEGER),
    lowResCacheBytes: int(env, 'LOW_RES_CACHE_BYTES', 256 * 1024 ** 2, 0, Number.MAX_SAFE_INTEGER),
    cacheFp16: env.CACHE_FP16 === '1' || env.CACHE_FP16 === 'true',
    embeddingTtlS: int(env, 'EMBEDDING_TTL_S', 3600, 1, 7 * 24 * 3600),
    backendDeadlineMs: int(env, 'BACKEND_DEADLINE_MS', 60_000, 1, 3_600_000),
    batchWindowMs: int(env, 'BATCH_WINDOW_MS', 0, 0, 1000),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 64 * 1024 ** 2, 1024, 2 ** 31),
    maxPixels: int(env, 'MAX_PIXELS', 50_000_000, 1, 2 ** 31),
    maxDecodes: int(env, 'MAX_DECODES', 8, 1, 4096),
    decodeQueue: int(env, 'DECODE_QUEUE', 256, 0, 1_000_000),
    maxPromptSets: int(env, 'MAX_PROMPT_SETS', 64, 1, 4096),
    maxPointsPerSet: int(env, 'MAX_POINTS_PER_SET', 64, 1, 4096),
    maxSessions: int(env, 'MAX_SESSIONS', 256, 1, 1_000_000),
    sessionTtlS: int(env, 'SESSION_TTL_S', 1800, 1, 7 * 24 * 3600),
    maxSessionsPerCaller: int(env, 'MAX_SESSIONS_PER_CALLER', 32, 1, 1_000_000),
    maxJobsPerCaller: int(env, 'MAX_JOBS_PER_CALLER', 4, 1, 100_000),
    maxBenchmarkJobs: int(env, 'MAX_BENCHMARK_JOBS', 2, 1, 64),
    logLevel,
    pacsEndpoints: pacsEndpointsFrom(env),
    pacsTimeoutMs: int(env, 'PACS_TIMEOUT_MS', 30_000, 1, 3_600_000),
    pacsMaxResponseBytes: int(env, 'PACS_MAX_RESPONSE_BYTES', 1 << 30, 1024, 2 ** 40),
    maxVolumeSlices: int(env, 'MAX_VOLUME_SLICES', 512, 1, 100_000),
    maxVolumeJobs: int(env, 'MAX_VOLUME_JOBS', 64, 1, 100_000),
    everythingMaxPoints: int(env, 'EVERYTHING_MAX_POINTS', 1024, 1, 1_000_000),
    everythingMaxPointsPerBatch: int(env, 'EVERYTHING_MAX_POINTS_PER_BATCH', 64, 1, 4096),
    everythingMaxPixelCandidates: int(env, 'EVERYTHING_MAX_PIXEL_CANDIDATES', 2 ** 30, 1, 2 ** 50),
    everythingDeadlineMs: int(env, 'EVERYTHING_DEADLINE_MS', 120_000, 1, 3_600_000),
    everythingMaxRunning: int(env, 'EVERYTHING_MAX_RUNNING', 2, 1, 1024),
    security: loadSecurityConfig(env, resolve(env.STATE_DIR?.trim() || '.medseg')),
    ...overrides,
  };
  // Beyond loopback only with a way to authenticate callers (API keys or JWT): refuse, never guess.
  assertSafeBinding(config.host, config.security);
  return Object.freeze(config);
}
