/**
 * The gateway's HTTP server: GraphQL at /graphql (Apollo Server 5 through its HTTP integration API),
 * /healthz (process up), /readyz (backend reachable and default model ready). Plain node:http, so request
 * size limits and ids are applied before Apollo sees a byte.
 */
import { ApolloServer, HeaderMap, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { ApiContext, ApiServices } from './context.ts';
import { errorFormatter, withRequestId } from './error-format.ts';
import { resolvers } from './resolvers.ts';
import { attachSubscriptions } from './subscriptions.ts';
import { GatewaySecurity, topLevelFields, writeRefusal } from './auth.ts';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { graphqlLimits } from './limits.ts';
import { createLoaders } from './request-loaders.ts';
import { serveWebFile, wantsGraphqlIde } from './web-assets.ts';

/** Path of the public schema file. */
export const SCHEMA_PATH = fileURLToPath(new URL('../../../schema/schema.graphql', import.meta.url));

/** The folder of the public schema: schema.graphql plus files that extend it (benchmark.graphql). */
export const SCHEMA_DIR = dirname(SCHEMA_PATH);

/** The full SDL: schema.graphql first, then every other .graphql file in its folder, by name. */
export function readSchemaSdl(): string {
  const others = readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.graphql') && f !== 'schema.graphql')
    .sort();
  return [SCHEMA_PATH, ...others.map((f) => join(SCHEMA_DIR, f))]
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
}

/** A running gateway HTTP server. */
export interface RunningHttpServer {
  /** Base URL, e.g. http://127.0.0.1:4000 */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Readiness probe: resolves to a reason string when not ready, undefined when ready. */
export type ReadinessCheck = () => Promise<string | undefined>;

/**
 * The metrics label of an operation: its top-level field when that is a field of the schema (`segment`),
 * `multiple` for several, `invalid` for a document that did not parse or names no known field. Never the
 * client's operation name: a label per name lets any caller grow /metrics without bound.
 */
export function operationLabel(
  document: DocumentNode | undefined,
  operationName: string | null | undefined,
  knownFields: ReadonlySet<string>,
): string {
  if (!document) return 'invalid';
  const fields = topLevelFields(document, operationName).filter((f) => knownFields.has(f));
  if (fields.length === 0) return 'invalid';
  return fields.length === 1 ? fields[0] : 'multiple';
}

/** Names of every Query, Mutation and Subscription field of the schema. */
function rootFieldNames(schema: GraphQLSchema): Set<string> {
  const out = new Set<string>(['__schema', '__type', '__typename']);
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()])
    for (const name of Object.keys(root?.getFields() ?? {})) out.add(name);
  return out;
}

/**
 * Counts and times every operation by top-level field and outcome, and writes one log line per operation
 * with the request id. Variables are never logged: they carry pixel data and, for DICOM, patient data.
 */
function observabilityPlugin(services: ApiServices, schema: GraphQLSchema): ApolloServerPlugin<ApiContext> {
  const known = rootFieldNames(schema);
  return {
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      return {
        async willSendResponse({ operationName, document, errors, response }) {
          const label = operationLabel(document, operationName, known);
          const seconds = (performance.now() - started) / 1000;
          const bodyErrors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          const first = errors?.[0]?.extensions?.code ?? bodyErrors?.[0]?.extensions?.code;
          // Outcomes are error codes the gateway or graphql-js set: a small fixed set.
          const outcome = typeof first === 'string' ? first.slice(0, 40) : 'ok';
          services.metrics.requests.inc({ operation: label, outcome });
          services.metrics.requestSeconds.observe({ operation: label }, seconds);
          services.log.info(
            {
              requestId: contextValue.requestId,
              // The client's name is kept in the log (bounded), where it helps find a caller's requests.
              operation: (operationName ?? 'anonymous').slice(0, 100),
              fields: label,
              outcome,
              durationMs: Math.round(seconds * 1000),
            },
            'graphql operation',
          );
        },
      };
    },
  };
}

/** Bytes of an over-limit body read and dropped (so the client can read its 413) before the socket is cut. */
const DRAIN_FACTOR = 4;

/**
 * Reads a request body of at most `limit` bytes. Over the limit (declared or, for chunked bodies, counted)
 * it rejects with status 413 at once, stops keeping bytes and drains the rest, so the client reads a 413
 * instead of a reset; a body that keeps coming past DRAIN_FACTOR x limit is cut off.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const tooLarge = (message: string) => Object.assign(new Error(message), { status: 413 });
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    if (declared > limit) {
      over = true;
      reject(tooLarge(`request body of ${declared} bytes exceeds the limit of ${limit}`));
    }
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        if (size > limit * DRAIN_FACTOR) req.destroy();
        return;
      }
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(tooLarge(`request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (!over) reject(err);
    });
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Starts Apollo Server and the HTTP listener. */
export async function startHttpServer(
  services: ApiServices,
  ready: ReadinessCheck,
): Promise<RunningHttpServer> {
  const schema = makeExecutableSchema({ typeDefs: readSchemaSdl(), resolvers });
  // Authentication, roles, rate and query limits (auth.ts, limits.ts).
  const security = GatewaySecurity.fromConfig(services.config);
  if (services.limiter) security.useLimiter(services.limiter);
  const apollo = new ApolloServer<ApiContext>({
    schema,
    formatError: errorFormatter(services.log, services.config.dataRoots),
    includeStacktraceInErrorResponses: false,
    // Apollo's landing page loads its IDE from a CDN, blank on an offline network; browsers get the bundled
    // IDE of web/dist instead (web-assets.ts).
    plugins: [
      observabilityPlugin(services, schema),
      security.plugin(),
      ApolloServerPluginLandingPageDisabled(),
    ],
    ...graphqlLimits(security.config),
    introspection: true,
    csrfPrevention: true,
    // The `start` command owns SIGTERM/SIGINT: it drains requests in flight first. Apollo's own handler
    // would stop the server under them and re-raise the signal, killing the process mid-request.
    stopOnTerminationSignals: false,
  });
  await apollo.start();

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const requestId =
      (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].slice(0, 64)) ||
      randomUUID();
    res.setHeader('x-request-id', requestId);
    const wrongHost = security.checkHost(req.headers);
    if (wrongHost) return writeRefusal(res, wrongHost);
    switch (url.pathname) {
      case '/healthz':
        sendJson(res, 200, { status: 'ok' });
        return;
      case '/readyz': {
        const reason = await ready().catch((err: unknown) =>
          err instanceof Error ? err.message : String(err),
        );
        sendJson(
          res,
          reason === undefined ? 200 : 503,
          reason === undefined ? { status: 'ready' } : { status: 'not ready', reason },
        );
        return;
      }
      case '/metrics': {
        const refused = await security.admitMetrics(req.headers, req.socket.remoteAddress);
        if (refused) return writeRefusal(res, refused);
        const text = await services.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': services.metrics.registry.contentType });
        res.end(text);
        return;
      }
      case '/graphql':
        // The IDE page is static and public; the queries it sends pass the same authentication and roles.
        if (wantsGraphqlIde(req, url) && (await serveWebFile(req, res, url))) return;
        break;
      default:
        if (await serveWebFile(req, res, url)) return;
        sendJson(res, 404, { error: `no route ${url.pathname}; GraphQL is at /graphql, the web app at /` });
        return;
    }
    const admitted = await security.admitHttp(req.headers, req.socket.remoteAddress);
    if ('refusal' in admitted) return writeRefusal(res, admitted.refusal);
    let body: string;
    try {
      body = req.method === 'POST' ? await readBody(req, services.config.maxBodyBytes) : '';
    } catch (err: unknown) {
      const status = (err as { status?: number }).status ?? 400;
      // The rest of an oversized body is not worth reading: the connection closes after this answer.
      if (status === 413) res.setHeader('connection', 'close');
      sendJson(res, status, {
        errors: [
          {
            message: (err as Error).message,
            extensions: { code: status === 413 ? 'IMAGE_TOO_LARGE' : 'BAD_REQUEST' },
          },
        ],
      });
      return;
    }
    const headers = new HeaderMap();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    let parsed: unknown = undefined;
    if (req.method === 'POST') {
      try {
        parsed = body.length > 0 ? JSON.parse(body) : undefined;
      } catch {
        sendJson(res, 400, {
          errors: [{ message: 'request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }],
        });
        return;
      }
    }
    // A client that disconnects before its answer is written aborts the work done for it.
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort(new Error('the client closed the connection'));
    });
    // Errors formatted while this request runs carry its id (error-format.ts).
    const result = await withRequestId(requestId, () =>
      apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body: parsed },
        context: async () => ({
          requestId,
          services,
          principal: admitted.principal,
          signal: gone.signal,
          loaders: createLoaders(services, admitted.principal),
        }),
      }),
    );
    for (const [k, v] of result.headers) res.setHeader(k, v);
    res.statusCode = result.status ?? 200;
    if (result.body.kind === 'complete') {
      res.end(result.body.string);
    } else {
      for await (const chunk of result.body.asyncIterator) res.write(chunk);
      res.end();
    }
  };

  const server: Server = createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      services.log.error({ err }, 'request handler failed');
      if (!res.headersSent)
        sendJson(res, 500, { errors: [{ message: 'internal error', extensions: { code: 'INTERNAL' } }] });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(services.config.port, services.config.host, () => resolve());
  });
  // GraphQL subscriptions (graphql-ws over WebSocket) share the listener and the /graphql path.
  const subscriptions = attachSubscriptions(server, schema, services, security);
  const { port } = server.address() as AddressInfo;
  const host = services.config.host.includes(':') ? `[${services.config.host}]` : services.config.host;
  return {
    url: `http://${host}:${port}`,
    port,
    async close() {
      await subscriptions.close();
      // Stop accepting, let requests in flight finish, and drop keep-alive sockets as soon as they go idle
      // (instead of after keepAliveTimeout), so a graceful stop takes as long as the slowest request.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      await closed;
      clearInterval(sweep);
      server.closeAllConnections?.();
      await apollo.stop();
    },
  };
}

export type { BaseContext };
