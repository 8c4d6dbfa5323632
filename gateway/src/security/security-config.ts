/**
 * The hardening part of the gateway's configuration: who may call (API keys, JWT), how much one caller may
 * ask (query depth and cost, rate), how much the backend is asked at once, and how shutdown drains. Read
 * once by loadConfig (config.ts) into `config.security`; every field states its unit.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { ConfigError, intFromEnv as int } from '../config-env.ts';
import { ApiKeyError, ApiKeyStore } from './api-keys.ts';

/** How bearer JWTs are verified. */
export interface JwtConfig {
  /** HS256 shared secret (JWT_SECRET, at least 32 bytes). */
  secret?: string;
  /** PEM public key (SPKI) for RS256/ES256/EdDSA tokens (JWT_PUBLIC_KEY, or JWT_PUBLIC_KEY_FILE). */
  publicKeyPem?: string;
  /** A JSON Web Key Set read from a local file (JWT_JWKS_FILE). */
  jwks?: { keys: Record<string, unknown>[] };
  /** A JWKS URL of the hospital's identity provider (JWT_JWKS_URL), fetched and cached by jose. */
  jwksUrl?: string;
  /** Required `iss` (JWT_ISSUER), if set. */
  issuer?: string;
  /** Required `aud` (JWT_AUDIENCE), if set. */
  audience?: string;
  /** Dotted path of the claim holding the roles (JWT_ROLES_CLAIM, default `roles`; e.g. realm_access.roles). */
  rolesClaim: string;
  /** Accepted clock skew in seconds (JWT_CLOCK_TOLERANCE_S, default 30). */
  clockToleranceS: number;
  /**
   * Longest accepted token lifetime in seconds, `exp` minus `iat` (or minus now without `iat`)
   * (JWT_MAX_LIFETIME_S, default 86400). Tokens without `exp` are always refused.
   */
  maxLifetimeS: number;
}

/** Frozen hardening configuration. */
export interface SecurityConfig {
  /** JSON file of hashed API keys (API_KEYS_FILE, default STATE_DIR/api-keys.json). */
  apiKeysFile: string;
  /** JWT verification, or undefined when no JWT_* key material is set. */
  jwt: JwtConfig | undefined;
  /** Deepest selection nesting of a GraphQL operation (MAX_QUERY_DEPTH, default 15). */
  maxQueryDepth: number;
  /** Most field selections of one operation, fragments expanded (MAX_QUERY_COST, default 2000). */
  maxQueryCost: number;
  /** Most lexical tokens in one GraphQL document (MAX_QUERY_TOKENS, default 20000). */
  maxQueryTokens: number;
  /** Sustained GraphQL requests per second per API key or JWT subject (RATE_LIMIT_RPS, default 50; 0 = off). */
  rateLimitRps: number;
  /** Requests a caller may burst above the rate (RATE_LIMIT_BURST, default 100). */
  rateLimitBurst: number;
  /** Backend calls in flight at once per model (BACKEND_MAX_INFLIGHT, default 16). */
  backendMaxInflight: number;
  /** Backend calls waiting per model beyond those in flight (BACKEND_MAX_QUEUED, default 256). */
  backendMaxQueued: number;
  /** Retries of an idempotent backend call that found the backend unavailable (BACKEND_RETRIES, default 2). */
  backendRetries: number;
  /**
   * Browser origins (scheme://host[:port]) besides loopback ones that may open the WebSocket
   * (ALLOWED_ORIGINS, comma-separated; default none). Requests without an Origin header (non-browser
   * clients) are not affected.
   */
  allowedOrigins: readonly string[];
  /** Open WebSocket connections per caller (WS_MAX_CONNECTIONS_PER_CALLER, default 8). */
  wsMaxConnectionsPerCaller: number;
  /** Active subscriptions per caller over all its sockets (WS_MAX_SUBSCRIPTIONS_PER_CALLER, default 32). */
  wsMaxSubscriptionsPerCaller: number;
  /**
   * How often the credential of every open WebSocket is verified again, in milliseconds; a revoked key or an
   * expired token closes the socket (CREDENTIAL_RECHECK_MS, default 5000). Every operation is rechecked too.
   */
  credentialRecheckMs: number;
  /** How long SIGTERM waits for in-flight requests and jobs before exiting, in milliseconds (SHUTDOWN_GRACE_MS, default 10000). */
  shutdownGraceMs: number;
}

function readText(name: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err: unknown) {
    throw new ConfigError(`${name} '${file}' could not be read: ${(err as Error).message}`);
  }
}

function jwtFrom(env: NodeJS.ProcessEnv): JwtConfig | undefined {
  const secret = env.JWT_SECRET || undefined;
  const pemFile = env.JWT_PUBLIC_KEY_FILE?.trim() || undefined;
  const publicKeyPem =
    env.JWT_PUBLIC_KEY?.trim() || (pemFile ? readText('JWT_PUBLIC_KEY_FILE', pemFile) : undefined);
  const jwksFile = env.JWT_JWKS_FILE?.trim() || undefined;
  const jwksUrl = env.JWT_JWKS_URL?.trim() || undefined;
  const sources = [secret, publicKeyPem, jwksFile, jwksUrl].filter((s) => s !== undefined);
  if (sources.length === 0) return undefined;
  if (sources.length > 1) {
    throw new ConfigError(
      'set exactly one of JWT_SECRET, JWT_PUBLIC_KEY(_FILE), JWT_JWKS_FILE, JWT_JWKS_URL',
    );
  }
  if (secret !== undefined && Buffer.byteLength(secret) < 32) {
    throw new ConfigError(`JWT_SECRET must be at least 32 bytes, got ${Buffer.byteLength(secret)}`);
  }
  if (publicKeyPem !== undefined && !publicKeyPem.includes('BEGIN PUBLIC KEY')) {
    throw new ConfigError('JWT_PUBLIC_KEY must be a PEM SPKI key (-----BEGIN PUBLIC KEY-----)');
  }
  let jwks: JwtConfig['jwks'];
  if (jwksFile) {
    try {
      jwks = JSON.parse(readText('JWT_JWKS_FILE', jwksFile)) as JwtConfig['jwks'];
    } catch (err: unknown) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`JWT_JWKS_FILE '${jwksFile}' is not JSON`);
    }
    if (!Array.isArray(jwks?.keys)) throw new ConfigError(`JWT_JWKS_FILE '${jwksFile}' has no "keys" array`);
  }
  if (jwksUrl !== undefined && !/^https?:\/\/\S+$/.test(jwksUrl)) {
    throw new ConfigError(`JWT_JWKS_URL must be an http(s) URL, got '${jwksUrl}'`);
  }
  const rolesClaim = env.JWT_ROLES_CLAIM?.trim() || 'roles';
  return Object.freeze({
    ...(secret !== undefined ? { secret } : {}),
    ...(publicKeyPem !== undefined ? { publicKeyPem } : {}),
    ...(jwks !== undefined ? { jwks } : {}),
    ...(jwksUrl !== undefined ? { jwksUrl } : {}),
    ...(env.JWT_ISSUER?.trim() ? { issuer: env.JWT_ISSUER.trim() } : {}),
    ...(env.JWT_AUDIENCE?.trim() ? { audience: env.JWT_AUDIENCE.trim() } : {}),
    rolesClaim,
    clockToleranceS: int(env, 'JWT_CLOCK_TOLERANCE_S', 30, 0, 3600),
    maxLifetimeS: int(env, 'JWT_MAX_LIFETIME_S', 86_400, 1, 365 * 86_400),
  });
}

/** Reads the hardening settings from the environment; `stateDir` is the resolved STATE_DIR. */
export function loadSecurityConfig(env: NodeJS.ProcessEnv, stateDir: string): Readonly<SecurityConfig> {
  const rateLimitRps = int(env, 'RATE_LIMIT_RPS', 50, 0, 1_000_000);
  return Object.freeze({
    apiKeysFile: resolve(env.API_KEYS_FILE?.trim() || join(stateDir, 'api-keys.json')),
    jwt: jwtFrom(env),
    maxQueryDepth: int(env, 'MAX_QUERY_DEPTH', 15, 2, 1000),
    maxQueryCost: int(env, 'MAX_QUERY_COST', 2000, 10, 1_000_000),
    maxQueryTokens: int(env, 'MAX_QUERY_TOKENS', 20_000, 100, 10_000_000),
    rateLimitRps,
    rateLimitBurst: int(env, 'RATE_LIMIT_BURST', Math.max(1, rateLimitRps * 2), 1, 10_000_000),
    backendMaxInflight: int(env, 'BACKEND_MAX_INFLIGHT', 16, 1, 100_000),
    backendMaxQueued: int(env, 'BACKEND_MAX_QUEUED', 256, 0, 10_000_000),
    backendRetries: int(env, 'BACKEND_RETRIES', 2, 0, 10),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    allowedOrigins: originsFrom(env.ALLOWED_ORIGINS),
    wsMaxConnectionsPerCaller: int(env, 'WS_MAX_CONNECTIONS_PER_CALLER', 8, 1, 100_000),
    wsMaxSubscriptionsPerCaller: int(env, 'WS_MAX_SUBSCRIPTIONS_PER_CALLER', 32, 1, 1_000_000),
    credentialRecheckMs: int(env, 'CREDENTIAL_RECHECK_MS', 5000, 100, 3_600_000),
  });
}

/** Parses ALLOWED_ORIGINS: each entry must be an http(s) origin, stored in URL's normal form. */
function originsFrom(text: string | undefined): readonly string[] {
  const out: string[] = [];
  for (const entry of (text ?? '').split(',').map((s) => s.trim())) {
    if (!entry) continue;
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new ConfigError(`ALLOWED_ORIGINS: '${entry}' is not an origin like https://viewer.example.org`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== entry.replace(/\/$/, ''))
      throw new ConfigError(`ALLOWED_ORIGINS: '${entry}' must be scheme://host[:port], nothing more`);
    out.push(url.origin);
  }
  return Object.freeze(out);
}

/**
 * The host name of an HTTP Host header (`name:port`, `[v6]:port`), lower-cased, or undefined when the header
 * is missing or malformed.
 */
export function hostOfHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/i.exec(header.trim());
  return m ? m[1].toLowerCase() : undefined;
}

/** True for a browser Origin whose host is loopback (http://localhost:5173, http://127.0.0.1, http://[::1]). */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname);
  } catch {
    return false;
  }
}

/** True for a loopback interface address (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (h.startsWith('::ffff:')) return isLoopbackHost(h.slice(7));
  return isIP(h) === 4 && h.startsWith('127.');
}

/** Active API keys in the key file; a key file that cannot be used is a ConfigError. */
export function countActiveKeys(file: string): number {
  try {
    return new ApiKeyStore(file).activeCount();
  } catch (err: unknown) {
    if (err instanceof ApiKeyError) throw new ConfigError(err.message);
    throw err;
  }
}

/**
 * Refuses to listen beyond loopback with no way to authenticate callers: a gateway next to patient data must
 * not serve strangers. `keysActive` defaults to the number of active keys in the key file.
 */
export function assertSafeBinding(
  host: string,
  security: Readonly<SecurityConfig>,
  // Read even on loopback, so that a key file with a bad mode or bad JSON is a ConfigError at start.
  keysActive = countActiveKeys(security.apiKeysFile),
): void {
  if (isLoopbackHost(host) || security.jwt !== undefined || keysActive > 0) return;
  throw new ConfigError(
    `HOST=${host} would expose the API beyond this machine without authentication; create an API key ` +
      `('medseg keys create --name NAME --roles segment', stored in ${security.apiKeysFile}) or set ` +
      'JWT_SECRET / JWT_PUBLIC_KEY / JWT_JWKS_FILE / JWT_JWKS_URL, or bind HOST=127.0.0.1',
  );
}

/** One line for the start banner saying how callers are authenticated. */
export function describeAuth(security: Readonly<SecurityConfig>): string {
  const keys = countActiveKeys(security.apiKeysFile);
  const parts: string[] = [];
  if (keys > 0) parts.push(`${keys} API key(s) in ${security.apiKeysFile}`);
  if (security.jwt) parts.push(`JWT (roles from claim '${security.jwt.rolesClaim}')`);
  return parts.length > 0
    ? `required: ${parts.join(' and ')}`
    : 'OFF: no API keys or JWT configured, so the gateway listens on loopback only and loopback callers are admin ' +
        "(create a key with 'medseg keys create' to require credentials)";
}
