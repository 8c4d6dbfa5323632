/**
 * GraphQL subscriptions: a small typed in-process pub/sub (topic -> async iterators) that resolvers publish
 * to, and the graphql-ws (graphql-transport-ws protocol) WebSocket endpoint on the gateway's HTTP server at
 * /graphql. Used by volume jobs (`volumeProgress`) and reusable by any other job (e.g. benchmark progress).
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { specifiedRules, validate, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { GatewaySecurity, Principal } from './auth.ts';
import type { ApiContext, ApiServices } from './context.ts';
import { graphqlLimits } from './limits.ts';

/** A topic name that carries payloads of type T (the type exists only for the compiler). */
export type Topic<T> = string & { readonly __payload?: T };

/** Names a topic whose payloads have type T, e.g. `topic<VolumeProgressEvent>(\`volume:${id}\`)`. */
export function topic<T>(name: string): Topic<T> {
  return name as Topic<T>;
}

interface Subscriber {
  push(payload: unknown): void;
}

/** Options of one subscription. */
export interface SubscribeOptions {
  /** Most undelivered payloads buffered; older ones are dropped first (default 1024). */
  maxBuffered?: number;
}

/**
 * In-process publish/subscribe. `subscribe` returns an async iterator that yields every payload published
 * on the topic after the call, in order; `return()` (a client unsubscribing) detaches it.
 */
export class PubSub {
  private readonly topics = new Map<string, Set<Subscriber>>();

  /** Delivers a payload to every current subscriber of the topic; returns how many there were. */
  publish<T>(name: Topic<T>, payload: T): number {
    const subs = this.topics.get(name);
    if (!subs) return 0;
    for (const s of subs) s.push(payload);
    return subs.size;
  }

  /** Number of live subscribers of a topic. */
  subscriberCount(name: string): number {
    return this.topics.get(name)?.size ?? 0;
  }

  /** An async iterator over the topic's future payloads. */
  subscribe<T>(name: Topic<T>, options: SubscribeOptions = {}): AsyncIterableIterator<T> {
    const max = options.maxBuffered ?? 1024;
    const buffer: T[] = [];
    let waiting: ((r: IteratorResult<T>) => void) | undefined;
    let closed = false;
    const sub: Subscriber = {
      push(payload: unknown) {
        if (waiting) {
          const w = waiting;
          waiting = undefined;
          w({ value: payload as T, done: false });
          return;
        }
        buffer.push(payload as T);
        if (buffer.length > max) buffer.shift();
      },
    };
    let subs = this.topics.get(name);
    if (!subs) {
      subs = new Set();
      this.topics.set(name, subs);
    }
    subs.add(sub);
    const detach = (): void => {
      closed = true;
      const set = this.topics.get(name);
      set?.delete(sub);
      if (set?.size === 0) this.topics.delete(name);
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w({ value: undefined, done: true });
      }
    };
    const iterator: AsyncIterableIterator<T> = {
      next(): Promise<IteratorResult<T>> {
        if (buffer.length > 0) return Promise.resolve({ value: buffer.shift()!, done: false });
        if (closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return(): Promise<IteratorResult<T>> {
        detach();
        buffer.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      throw(err?: unknown): Promise<IteratorResult<T>> {
        detach();
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}

/** The WebSocket side of the API; `close` ends every subscription and the socket server. */
export interface SubscriptionServer {
  close(): Promise<void>;
}

/**
 * Serves GraphQL subscriptions over WebSocket (graphql-ws protocol) on the HTTP server's /graphql path.
 * Each connection gets its own request id; operations are logged like HTTP ones, without variables.
 */
export function attachSubscriptions(
  server: Server,
  schema: GraphQLSchema,
  services: ApiServices,
  security: GatewaySecurity,
): SubscriptionServer {
  const limits = graphqlLimits(security.config);
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: 1024 * 1024 });
  const disposable = useServer<Record<string, unknown>, { requestId: string; principal?: Principal }>(
    {
      schema,
      // The same credentials as HTTP (connectionParams or upgrade headers); no credential closes the socket.
      onConnect: async (ctx) => {
        const principal = await security.admitWebSocket(
          ctx.connectionParams,
          ctx.extra.request.headers,
          ctx.extra.request.socket.remoteAddress,
        );
        if (principal === false) return false;
        (ctx.extra as { principal?: Principal }).principal = principal;
        return true;
      },
      validate: (s, document) => validate(s, document, [...specifiedRules, ...limits.validationRules]),
      context: (ctx): ApiContext => {
        const extra = ctx.extra as { requestId?: string; principal?: Principal };
        extra.requestId ??= randomUUID();
        return { requestId: extra.requestId, services, principal: extra.principal };
      },
      onSubscribe: (ctx, id, payload) => {
        services.log.info(
          {
            requestId: (ctx.extra as { requestId?: string }).requestId,
            operation: payload.operationName ?? 'anonymous',
            subscription: id,
          },
          'graphql subscription',
        );
        // Role check of every top-level field, with the same table as the Apollo plugin (roles.ts).
        return security.authorizeSubscribe(
          payload.query,
          payload.operationName,
          (ctx.extra as { principal?: Principal }).principal,
        );
      },
    },
    wss,
  );
  return {
    async close() {
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
