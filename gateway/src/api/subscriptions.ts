/**
 * GraphQL subscriptions: the graphql-ws (graphql-transport-ws protocol) WebSocket endpoint on the gateway's
 * HTTP server at /graphql, serving the topics of the in-process PubSub (pubsub.ts). Used by volume jobs
 * (`volumeProgress`) and reusable by any other job (e.g. benchmark progress).
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import {
  getOperationAST,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { GatewaySecurity, type Principal } from './auth.ts';
import type { ApiContext, ApiServices } from './context.ts';
import { errorFormatter, formatErrors } from './error-format.ts';
import { graphqlLimits } from './limits.ts';
import { createLoaders } from './request-loaders.ts';

/** The WebSocket side of the API; `close` ends every subscription and the socket server. */
export interface SubscriptionServer {
  close(): Promise<void>;
}

/** What the gateway keeps per WebSocket connection (graphql-ws `ctx.extra` plus these fields). */
interface Connection {
  requestId: string;
  principal: Principal;
  credential: string | undefined;
  remoteAddress: string | undefined;
  socket: WebSocket;
  /** Subscription ids this connection has running (they count against the caller's cap). */
  running: Set<string>;
}

/** A typed refusal sent as the `error` message of one operation. */
function refuse(code: string, message: string, extra: Record<string, unknown> = {}): GraphQLError[] {
  return [new GraphQLError(message, { extensions: { code, ...extra } })];
}

/** WebSocket close code for a credential that no longer holds (revoked key, expired token). */
export const WS_CLOSE_CREDENTIAL = 4401;
/** WebSocket close code for a caller over its connection cap. */
export const WS_CLOSE_TOO_MANY = 4429;

/**
 * Serves GraphQL subscriptions over WebSocket (graphql-ws protocol) on the HTTP server's /graphql path.
 * The socket carries subscriptions only: queries and mutations go over HTTP, where CSRF prevention, body
 * limits and status codes apply. Every operation goes through the same steps as over HTTP, with the same
 * functions: credential recheck, rate limit, parse under the token limit, validation with the limit rules,
 * the role table and its audit line (GatewaySecurity.authorizeOperation), and the error mask.
 */
export function attachSubscriptions(
  server: Server,
  schema: GraphQLSchema,
  services: ApiServices,
  security: GatewaySecurity,
): SubscriptionServer {
  const limits = graphqlLimits(security.config);
  const format = errorFormatter(services.log, services.config.dataRoots);
  const cfg = security.config;
  const connections = new Set<Connection>();
  /** Open connections and running subscriptions per caller id. */
  const perCaller = new Map<string, { connections: number; subscriptions: number }>();
  const usage = (id: string) => {
    let u = perCaller.get(id);
    if (!u) perCaller.set(id, (u = { connections: 0, subscriptions: 0 }));
    return u;
  };
  const release = (id: string, connectionsDelta: number, subscriptionsDelta: number) => {
    const u = usage(id);
    u.connections -= connectionsDelta;
    u.subscriptions -= subscriptionsDelta;
    if (u.connections <= 0 && u.subscriptions <= 0) perCaller.delete(id);
  };

  const wss = new WebSocketServer({
    server,
    path: '/graphql',
    maxPayload: 1024 * 1024,
    // Before the handshake: the Host guard (DNS rebinding) and the Origin guard (cross-site hijacking).
    verifyClient: (info, done) => {
      const hostRefusal = security.checkHost(info.req.headers);
      if (hostRefusal) return done(false, 403, 'host not allowed');
      if (!security.originAllowed(info.req.headers.origin)) {
        services.log.warn({ origin: info.req.headers.origin?.slice(0, 200) }, 'websocket origin refused');
        return done(false, 403, 'origin not allowed');
      }
      done(true);
    },
  });

  const connectionOf = (ctx: { extra: unknown }): Connection | undefined =>
    (ctx.extra as { connection?: Connection }).connection;

  const disposable = useServer<Record<string, unknown>, { connection?: Connection }>(
    {
      schema,
      // The same credentials as HTTP (connectionParams or upgrade headers); no credential closes the socket.
      onConnect: async (ctx) => {
        const request = ctx.extra.request;
        const credential = GatewaySecurity.webSocketCredential(ctx.connectionParams, request.headers);
        const principal = await security.recheck(credential, request.socket.remoteAddress);
        if (!principal) return false;
        // A socket that closed while its credential was checked is never counted (nothing would release it).
        if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false;
        const u = usage(principal.id);
        if (u.connections >= cfg.wsMaxConnectionsPerCaller) {
          services.log.warn({ principal: `${principal.kind}:${principal.id}` }, 'websocket connection cap');
          ctx.extra.socket.close(
            WS_CLOSE_TOO_MANY,
            `at most ${cfg.wsMaxConnectionsPerCaller} WebSocket connections per caller`,
          );
          return false;
        }
        u.connections += 1;
        const connection: Connection = {
          requestId: randomUUID(),
          principal,
          credential,
          remoteAddress: request.socket.remoteAddress,
          socket: ctx.extra.socket,
          running: new Set(),
        };
        (ctx.extra as { connection?: Connection }).connection = connection;
        connections.add(connection);
        return true;
      },
      onClose: (ctx) => {
        const c = connectionOf(ctx);
        if (!c || !connections.delete(c)) return;
        release(c.principal.id, 1, c.running.size);
        c.running.clear();
      },
      onSubscribe: async (ctx, id, payload) => {
        const c = connectionOf(ctx);
        if (!c) return refuse('UNAUTHENTICATED', 'the connection is not authenticated');
        // Revocation and expiry are checked on every operation, not only at connect time.
        const principal = await security.recheck(c.credential, c.remoteAddress);
        if (!principal) {
          c.socket.close(WS_CLOSE_CREDENTIAL, 'credential revoked or expired');
          return refuse('UNAUTHENTICATED', 'the credential of this connection was revoked or has expired');
        }
        c.principal = principal;
        const limited = await security.takeRate(principal);
        if (limited) {
          const e = limited.body.errors[0];
          return refuse('RESOURCE_EXHAUSTED', e.message, {
            retryAfterSeconds: e.extensions.retryAfterSeconds,
          });
        }
        // Parsed under the same token limit as HTTP; a parse failure is a refusal, never a skipped check.
        let document: DocumentNode;
        try {
          document = parse(payload.query, limits.parseOptions);
        } catch (err: unknown) {
          return refuse('GRAPHQL_PARSE_FAILED', (err as Error).message);
        }
        const invalid = validate(schema, document, [...specifiedRules, ...limits.validationRules]);
        if (invalid.length > 0)
          return invalid.map(
            (e) =>
              new GraphQLError(e.message, {
                nodes: e.nodes,
                extensions: { ...e.extensions, code: 'GRAPHQL_VALIDATION_FAILED' },
              }),
          );
        const operation = getOperationAST(document, payload.operationName);
        if (!operation)
          return refuse(
            'BAD_REQUEST',
            'the document must hold one operation, or operationName must name one',
          );
        if (operation.operation !== 'subscription')
          return refuse(
            'BAD_REQUEST',
            `the WebSocket carries subscriptions only; send ${operation.operation === 'query' ? 'queries' : 'mutations'} as HTTP POST to /graphql`,
          );
        const contextValue: ApiContext = {
          requestId: c.requestId,
          services,
          principal,
          loaders: createLoaders(services, principal),
        };
        try {
          security.authorizeOperation(document, payload.operationName, contextValue, 'websocket');
        } catch (err: unknown) {
          const e = err as GraphQLError;
          return refuse(String(e.extensions.code), e.message);
        }
        // The socket may have closed during the awaits above; its counts are already released then.
        if (!connections.has(c)) return refuse('UNAUTHENTICATED', 'the connection has closed');
        const u = usage(principal.id);
        if (u.subscriptions >= cfg.wsMaxSubscriptionsPerCaller)
          return refuse(
            'LIMIT_EXCEEDED',
            `at most ${cfg.wsMaxSubscriptionsPerCaller} subscriptions per caller; complete one first`,
          );
        u.subscriptions += 1;
        c.running.add(id);
        services.log.info(
          {
            requestId: c.requestId,
            operation: payload.operationName?.slice(0, 100) ?? 'anonymous',
            subscription: id,
          },
          'graphql subscription',
        );
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
        };
      },
      onComplete: (ctx, id) => {
        const c = connectionOf(ctx);
        if (c?.running.delete(id)) release(c.principal.id, 0, 1);
      },
      // The same error mask as HTTP, for refusals and for errors inside results.
      onError: (ctx, _id, _payload, errors) => formatErrors(errors, format, connectionOf(ctx)?.requestId),
      onNext: (ctx, _id, _payload, _args, result) =>
        result.errors
          ? { ...result, errors: formatErrors(result.errors, format, connectionOf(ctx)?.requestId) }
          : undefined,
    },
    wss,
  );

  // Revocation and expiry also end idle sockets: every open connection's credential is verified again on
  // this interval, and a connection whose credential no longer holds is closed.
  const recheck = setInterval(() => {
    for (const c of connections) {
      void security.recheck(c.credential, c.remoteAddress).then((p) => {
        if (!p) c.socket.close(WS_CLOSE_CREDENTIAL, 'credential revoked or expired');
      });
    }
  }, cfg.credentialRecheckMs);
  recheck.unref();

  return {
    async close() {
      clearInterval(recheck);
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
