/**
 * Authentication and authorization of the GraphQL API. Callers present an API key (`Authorization: Bearer
 * msk_...` or `x-api-key`) or a JWT (`Authorization: Bearer eyJ...`, HS256 secret or public keys/JWKS, roles
 * from a claim). The HTTP and WebSocket layers authenticate and rate-limit before GraphQL sees a byte; the
 * Apollo plugin below then checks every top-level field of the operation against the one ROLE_TABLE
 * (roles.ts). With no keys and no JWT configured the gateway only listens on loopback (config refuses any
 * other HOST) and treats loopback callers as admin, so a developer machine needs no setup.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, Kind, type DocumentNode, type FragmentDefinitionNode } from 'graphql';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { ApiKeyStore } from '../security/api-keys.ts';
import type { Logger } from 'pino';
import { RateLimiter, type CallerLimiter } from './rate-limit.ts';
import { isRole, requirementOf, satisfies, type Role } from '../security/roles.ts';
import {
  assertSafeBinding,
  hostOfHeader,
  isLoopbackHost,
  isLoopbackOrigin,
  loadSecurityConfig,
  type JwtConfig,
  type SecurityConfig,
} from '../security/security-config.ts';

/** Who is calling: an API key, a JWT subject, or (only without any configured credentials) a loopback peer. */
export interface Principal {
  kind: 'api-key' | 'jwt' | 'loopback';
  /** Key id, JWT `sub`, or `loopback`; used for rate limiting and logs (never a secret). */
  id: string;
  roles: Role[];
}

/**
 * What the role check reads of a request's context (a structural slice of ApiContext, so that this module
 * does not depend on the context that is built from it).
 */
export interface OperationContext {
  requestId: string;
  principal?: Principal;
  services: { log: Logger };
}

/** A refusal at the HTTP layer: status, headers and a GraphQL-shaped body. */
export interface HttpRefusal {
  status: number;
  headers: Record<string, string>;
  body: { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
}

/** Error thrown for a missing or invalid credential (HTTP 401). */
export function unauthenticated(message: string): GraphQLError {
  return new GraphQLError(message, {
    extensions: {
      code: 'UNAUTHENTICATED',
      http: { status: 401, headers: new Map([['www-authenticate', 'Bearer']]) },
    },
  });
}

/** Error thrown for a credential without the role a field needs (HTTP 403). */
export function forbidden(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'FORBIDDEN', http: { status: 403 } } });
}

function refusal(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
): HttpRefusal {
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  if (typeof extra.retryAfterSeconds === 'number') headers['retry-after'] = String(extra.retryAfterSeconds);
  return { status, headers, body: { errors: [{ message, extensions: { code, ...extra } }] } };
}

/** Writes a refusal as a JSON response. */
export function writeRefusal(res: ServerResponse, r: HttpRefusal): void {
  const text = JSON.stringify(r.body);
  res.writeHead(r.status, {
    ...r.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Reads a dotted claim path (`realm_access.roles`) and keeps the names that are roles. */
function rolesFromClaim(payload: JWTPayload, path: string): Role[] {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  }
  const names = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/[\s,]+/) : [];
  return [...new Set(names.filter(isRole))];
}

type JwtKey = Uint8Array | KeyObject | JWTVerifyGetKey;

function jwtKey(jwt: JwtConfig): { key: JwtKey; algorithms: string[] } {
  if (jwt.secret !== undefined) return { key: new TextEncoder().encode(jwt.secret), algorithms: ['HS256'] };
  const asymmetric = [
    'RS256',
    'RS384',
    'RS512',
    'PS256',
    'PS384',
    'PS512',
    'ES256',
    'ES384',
    'ES512',
    'EdDSA',
  ];
  if (jwt.publicKeyPem !== undefined)
    return { key: createPublicKey(jwt.publicKeyPem), algorithms: asymmetric };
  if (jwt.jwks !== undefined)
    return {
      key: createLocalJWKSet(jwt.jwks as Parameters<typeof createLocalJWKSet>[0]),
      algorithms: asymmetric,
    };
  if (jwt.jwksUrl !== undefined)
    return { key: createRemoteJWKSet(new URL(jwt.jwksUrl)), algorithms: asymmetric };
  throw new Error('JWT configuration names no key');
}

/** The top-level field names an operation selects (fragments and inline fragments at the root expanded). */
export function topLevelFields(document: DocumentNode, operationName?: string | null): string[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions)
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const ops = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const op = operationName
    ? ops.find((o) => o.name?.value === operationName)
    : ops.length === 1
      ? ops[0]
      : undefined;
  if (!op) return [];
  const out = new Set<string>();
  const seen = new Set<string>();
  const walk = (set: (typeof op)['selectionSet']): void => {
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) out.add(sel.name.value);
      else if (sel.kind === Kind.INLINE_FRAGMENT) walk(sel.selectionSet);
      else if (!seen.has(sel.name.value)) {
        seen.add(sel.name.value);
        const fragment = fragments.get(sel.name.value);
        if (fragment) walk(fragment.selectionSet);
      }
    }
  };
  walk(op.selectionSet);
  return [...out];
}

/**
 * Throws UNAUTHENTICATED without a principal and FORBIDDEN when any top-level field needs a role the principal
 * lacks (naming the fields and roles, never the credential).
 */
export function authorizeFields(fields: readonly string[], principal: Principal | undefined): void {
  if (!principal)
    throw unauthenticated('a credential is required: send Authorization: Bearer <API key or JWT>');
  const denied = fields.filter((f) => !satisfies(principal.roles, requirementOf(f)));
  if (denied.length > 0) {
    const needs = [...new Set(denied.map((f) => requirementOf(f)))].join(' or ');
    throw forbidden(`this credential lacks the role needed for ${denied.join(', ')} (needs ${needs})`);
  }
}

/** The gateway's authentication, authorization and rate limiting, built once by the composition root. */
export class GatewaySecurity {
  readonly keys: ApiKeyStore;
  private limiter: CallerLimiter;
  private readonly jwt: { key: JwtKey; algorithms: string[]; config: JwtConfig } | undefined;

  constructor(
    readonly config: Readonly<SecurityConfig>,
    /** The interface the HTTP server binds; refused when not loopback and nothing authenticates. */
    host: string,
  ) {
    this.keys = new ApiKeyStore(config.apiKeysFile);
    assertSafeBinding(host, config, this.keys.activeCount());
    this.jwt = config.jwt ? { ...jwtKey(config.jwt), config: config.jwt } : undefined;
    this.limiter = new RateLimiter({ ratePerSecond: config.rateLimitRps, burst: config.rateLimitBurst });
  }

  /** The security of a gateway configuration (defaults when a hand-built configuration has none). */
  static fromConfig(config: {
    security?: Readonly<SecurityConfig>;
    stateDir: string;
    host: string;
  }): GatewaySecurity {
    return new GatewaySecurity(config.security ?? loadSecurityConfig({}, config.stateDir), config.host);
  }

  /** Replaces the in-process rate limiter (replicas: the store-backed one, a bucket per caller for all). */
  useLimiter(limiter: CallerLimiter): void {
    this.limiter = limiter;
  }

  /** True when callers must present a credential (a JWT key is configured or an API key is active). */
  authRequired(): boolean {
    return this.jwt !== undefined || this.keys.activeCount() > 0;
  }

  /** The bearer token or API key a request carries, if any. */
  static credentialOf(headers: IncomingHttpHeaders | Record<string, unknown>): string | undefined {
    const auth = headers.authorization;
    if (typeof auth === 'string') {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      return m ? m[1] : auth.trim() || undefined;
    }
    const key = headers['x-api-key'];
    return typeof key === 'string' && key.trim() ? key.trim() : undefined;
  }

  /**
   * Who presents `credential` from `remoteAddress`: a principal, undefined when none was sent (and one is
   * required), or an UNAUTHENTICATED error for a credential that does not verify.
   */
  async authenticate(
    credential: string | undefined,
    remoteAddress: string | undefined,
  ): Promise<Principal | undefined> {
    if (credential === undefined) {
      if (!this.authRequired() && remoteAddress !== undefined && isLoopbackHost(remoteAddress)) {
        return { kind: 'loopback', id: 'loopback', roles: ['admin'] };
      }
      return undefined;
    }
    if (ApiKeyStore.looksLikeKey(credential)) {
      const record = this.keys.verify(credential);
      if (!record) throw unauthenticated('the API key is unknown, malformed or revoked');
      return { kind: 'api-key', id: record.id, roles: [...record.roles] };
    }
    if (!this.jwt)
      throw unauthenticated('bearer tokens are not accepted here (no JWT key configured); use an API key');
    try {
      const { payload } = await jwtVerify(credential, this.jwt.key as Uint8Array, {
        algorithms: this.jwt.algorithms,
        ...(this.jwt.config.issuer ? { issuer: this.jwt.config.issuer } : {}),
        ...(this.jwt.config.audience ? { audience: this.jwt.config.audience } : {}),
        clockTolerance: this.jwt.config.clockToleranceS,
        // A token without exp would be a credential that never ends; one that lives longer than the
        // configured maximum is refused for the same reason.
        requiredClaims: ['exp'],
      });
      const issued = typeof payload.iat === 'number' ? payload.iat : Date.now() / 1000;
      if ((payload.exp as number) - issued > this.jwt.config.maxLifetimeS)
        throw unauthenticated(
          `the bearer token lives longer than the accepted ${this.jwt.config.maxLifetimeS} s (exp - iat)`,
        );
      return {
        kind: 'jwt',
        id: typeof payload.sub === 'string' ? `jwt:${payload.sub.slice(0, 128)}` : 'jwt',
        roles: rolesFromClaim(payload, this.jwt.config.rolesClaim),
      };
    } catch (err: unknown) {
      if (err instanceof GraphQLError) throw err;
      const code = (err as { code?: unknown }).code;
      const claim = (err as { claim?: unknown }).claim;
      const why =
        code === 'ERR_JWT_EXPIRED'
          ? 'expired'
          : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'exp'
            ? 'without an expiry (exp claim required)'
            : 'invalid (signature, issuer, audience or format)';
      throw unauthenticated(`the bearer token is ${why}`);
    }
  }

  /**
   * HTTP admission for /graphql: authenticates and rate-limits; returns the principal (undefined only when
   * none is needed to reach the plugin's own refusal) or a refusal to send as is.
   */
  async admitHttp(
    headers: IncomingHttpHeaders,
    remoteAddress: string | undefined,
  ): Promise<{ principal: Principal } | { refusal: HttpRefusal }> {
    let principal: Principal | undefined;
    try {
      principal = await this.authenticate(GatewaySecurity.credentialOf(headers), remoteAddress);
    } catch (err: unknown) {
      return { refusal: refusal(401, 'UNAUTHENTICATED', (err as Error).message) };
    }
    if (!principal) {
      return {
        refusal: refusal(
          401,
          'UNAUTHENTICATED',
          'a credential is required: send Authorization: Bearer <API key or JWT>',
        ),
      };
    }
    const limited = await this.takeRate(principal);
    if (limited) return { refusal: limited };
    return { principal };
  }

  /**
   * Takes one request from the caller's rate bucket (HTTP requests and WebSocket operations share it);
   * returns the 429 refusal when the bucket is empty.
   */
  async takeRate(principal: Principal): Promise<HttpRefusal | undefined> {
    // Limits apply per credential. The anonymous loopback principal exists only while no credential is
    // configured (a developer machine), where the only callers are local tools and benchmarks.
    if (principal.kind === 'loopback') return undefined;
    const decision = await this.limiter.take(principal.id);
    if (decision.allowed) return undefined;
    return refusal(
      429,
      'RESOURCE_EXHAUSTED',
      `rate limit of ${this.config.rateLimitRps} requests/s exceeded`,
      {
        retryAfterSeconds: decision.retryAfterSeconds,
      },
    );
  }

  /**
   * DNS rebinding guard: while no credential is configured, loopback callers are admin, so a page whose name
   * re-resolves to 127.0.0.1 must not be served. Requests (HTTP and WebSocket upgrades) then need a loopback
   * Host header; returns the refusal otherwise.
   */
  checkHost(headers: IncomingHttpHeaders): HttpRefusal | undefined {
    if (this.authRequired()) return undefined;
    const host = hostOfHeader(headers.host);
    if (host !== undefined && isLoopbackHost(host)) return undefined;
    return refusal(
      403,
      'FORBIDDEN',
      'without credentials configured this gateway answers only loopback host names (localhost, 127.0.0.1, [::1])',
    );
  }

  /**
   * Cross-site WebSocket hijacking guard: browsers always send Origin on a WebSocket upgrade and cannot be
   * stopped by CORS, so the upgrade is refused unless the origin is loopback or listed in ALLOWED_ORIGINS.
   * Clients that are not browsers send no Origin and pass.
   */
  originAllowed(origin: string | undefined): boolean {
    if (origin === undefined || origin === '') return true;
    if (isLoopbackOrigin(origin)) return true;
    return this.config.allowedOrigins.includes(origin.replace(/\/$/, '').toLowerCase());
  }

  /**
   * /metrics: served to loopback peers (a node-local Prometheus or sidecar) and to admin credentials; refused
   * otherwise, because operation names and model names describe the hospital's use.
   */
  async admitMetrics(
    headers: IncomingHttpHeaders,
    remoteAddress: string | undefined,
  ): Promise<HttpRefusal | undefined> {
    // A loopback peer is a node-local scraper only when it also names a loopback host: a browser page that
    // re-resolved its own name to 127.0.0.1 (DNS rebinding) connects from loopback too, with its own Host.
    const host = hostOfHeader(headers.host);
    if (
      remoteAddress !== undefined &&
      isLoopbackHost(remoteAddress) &&
      host !== undefined &&
      isLoopbackHost(host)
    )
      return undefined;
    try {
      const principal = await this.authenticate(GatewaySecurity.credentialOf(headers), remoteAddress);
      if (!principal)
        return refusal(401, 'UNAUTHENTICATED', '/metrics needs an admin credential off loopback');
      if (!principal.roles.includes('admin'))
        return refusal(403, 'FORBIDDEN', '/metrics needs the admin role');
      return undefined;
    } catch (err: unknown) {
      return refusal(401, 'UNAUTHENTICATED', (err as Error).message);
    }
  }

  /** The Apollo plugin: role checks on every operation, and Retry-After on overload errors. */
  plugin(): ApolloServerPlugin<OperationContext> {
    const authorize = this.authorizeOperation.bind(this);
    return {
      async requestDidStart() {
        return {
          async didResolveOperation({ document, operationName, contextValue, operation }) {
            authorize(document, operationName, contextValue, 'http');
            // Subscriptions are served over WebSocket only; over plain HTTP graphql would run them as
            // queries and fail in an unhelpful way.
            if (operation?.operation === 'subscription') {
              throw new GraphQLError('subscriptions are served over WebSocket (graphql-ws) at /graphql', {
                extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
              });
            }
          },
          async willSendResponse({ response }) {
            if (response.body.kind !== 'single') return;
            const retry = response.body.singleResult.errors
              ?.map((e) => e.extensions?.retryAfterSeconds)
              .find((v): v is number => typeof v === 'number');
            if (retry !== undefined)
              response.http.headers.set('retry-after', String(Math.max(1, Math.ceil(retry))));
          },
        };
      },
    };
  }

  /**
   * The role check and audit line of one operation, the same for both transports: every top-level field
   * against ROLE_TABLE (roles.ts), one log line saying who called which fields. Throws UNAUTHENTICATED or
   * FORBIDDEN; returns the fields.
   */
  authorizeOperation(
    document: DocumentNode,
    operationName: string | null | undefined,
    context: OperationContext,
    transport: 'http' | 'websocket',
  ): string[] {
    const fields = topLevelFields(document, operationName);
    const principal = context.principal;
    // Who (key id or JWT subject, never the secret) called which fields.
    const audit = {
      requestId: context.requestId,
      principal: principal ? `${principal.kind}:${principal.id}` : 'none',
      transport,
      fields,
    };
    try {
      authorizeFields(fields, principal);
    } catch (err: unknown) {
      context.services.log.warn(audit, 'operation refused');
      throw err;
    }
    context.services.log[principal?.kind === 'loopback' ? 'debug' : 'info'](audit, 'operation authorized');
    return fields;
  }

  /**
   * The credential a WebSocket presents: connectionParams (`authorization` or `apiKey`) first, else the
   * upgrade request's headers.
   */
  static webSocketCredential(
    connectionParams: Readonly<Record<string, unknown>> | undefined,
    headers: IncomingHttpHeaders,
  ): string | undefined {
    const fromParams =
      typeof connectionParams?.authorization === 'string'
        ? GatewaySecurity.credentialOf({ authorization: connectionParams.authorization })
        : typeof connectionParams?.apiKey === 'string'
          ? connectionParams.apiKey
          : undefined;
    return fromParams ?? GatewaySecurity.credentialOf(headers);
  }

  /** Authenticates a credential again (revocation, expiry): the principal, or undefined when it no longer holds. */
  async recheck(
    credential: string | undefined,
    remoteAddress: string | undefined,
  ): Promise<Principal | undefined> {
    try {
      return await this.authenticate(credential, remoteAddress);
    } catch {
      return undefined;
    }
  }
}

/**
 * The owner identity of the calling principal, for jobs and sessions: `kind:id` (a key id or JWT subject,
 * never a secret), and whether it may see everyone's (admin).
 */
export function callerOf(ctx: Pick<OperationContext, 'principal'>): { id: string; admin: boolean } {
  const p = ctx.principal;
  if (!p) return { id: 'none', admin: false };
  return { id: `${p.kind}:${p.id}`, admin: p.roles.includes('admin') };
}
