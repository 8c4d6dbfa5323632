/**
 * A small typed in-process publish/subscribe (topic -> async iterators) that resolvers and job stores publish
 * to. It has no transport: the graphql-ws endpoint in subscriptions.ts serves it, so a job store that
 * publishes never loads the WebSocket stack.
 */
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
