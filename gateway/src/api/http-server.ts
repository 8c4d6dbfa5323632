/**
 * The gateway's HTTP server: GraphQL at /graphql (Apollo Server 5 through its HTTP integration API),
 * /healthz (process up), /readyz (backend reachable and default model ready). Plain node:http, so request
 * size limits and ids are applied before Apollo sees a byte.
 */
import { ApolloServer, HeaderMap, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLFormattedError } from 'graphql';
import type { ApiContext, ApiServices } from './context.ts';
import { ERROR_CODES } from './errors.ts';
import { resolvers } from './resolvers.ts';
import { attachSubscriptions } from './subscriptions.ts';
import { GatewaySecurity, writeRefusal } from './auth.ts';
import { graphqlLimits } from './limits.ts';

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
 * formatError: known codes pass through with their messages; anything else (including GraphQL validation
 * errors, which keep their own codes) is masked as INTERNAL with the request id, and logged.
 */
function formatter(services: ApiServices) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (
      typeof code === 'string' &&
      (code in ERROR_CODES ||
        code.startsWith('GRAPHQL_') ||
        code === 'BAD_USER_INPUT' ||
        code === 'PERSISTED_QUERY_NOT_FOUND' ||
        // Apollo's answer to an operationName that names no operation of the document (HTTP 400).
        code === 'OPERATION_RESOLUTION_FAILURE' ||
        code === 'BAD_REQUEST')
    ) {
      if (code !== 'INTERNAL')
        return { ...formatted, extensions: { ...formatted.extensions, stacktrace: undefined } };
    }
    services.log.error({ err: error, path: formatted.path }, 'internal error');
    return {
      message: 'internal error',
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: 'INTERNAL', requestId: formatted.extensions?.requestId },
    };
  };
}

/**
 * Counts and times every operation by name and outcome, and writes one log line per operation with the
 * request id. Variables are never logged: they carry pixel data and, for DICOM, patient data.
 */
function observabilityPlugin(services: ApiServices): ApolloServerPlugin<ApiContext> {
  return {
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      return {
        async willSendResponse({ operationName, errors, response }) {
          const operation = operationName ?? 'anonymous';
          const seconds = (performance.now() - started) / 1000;
          const bodyErrors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          const first = errors?.[0]?.extensions?.code ?? bodyErrors?.[0]?.extensions?.code;
          const outcome = typeof first === 'string' ? first : 'ok';
          services.metrics.requests.inc({ operation, outcome });
          services.metrics.requestSeconds.observe({ operation }, seconds);
          services.log.info(
            { requestId: contextValue.requestId, operation, outcome, durationMs: Math.round(seconds * 1000) },
            'graphql operation',
          );
        },
      };
    },
  };
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(
        Object.assign(new Error(`request body of ${declared} bytes exceeds the limit of ${limit}`), {
          status: 413,
        }),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(Object.assign(new Error(`request body exceeds the limit of ${limit} bytes`), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
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
    formatError: formatter(services),
    includeStacktraceInErrorResponses: false,
    plugins: [observabilityPlugin(services), security.plugin()],
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
        break;
      default:
        sendJson(res, 404, { error: `no route ${url.pathname}; GraphQL is at /graphql` });
        return;
    }
    const admitted = await security.admitHttp(req.headers, req.socket.remoteAddress);
    if ('refusal' in admitted) return writeRefusal(res, admitted.refusal);
    let body: string;
    try {
      body = req.method === 'POST' ? await readBody(req, services.config.maxBodyBytes) : '';
    } catch (err: unknown) {
      const status = (err as { status?: number }).status ?? 400;
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
    const result = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body: parsed },
      context: async () => ({ requestId, services, principal: admitted.principal }),
    });
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
