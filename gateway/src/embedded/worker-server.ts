/**
 * The embedded KServe v2 server hosted in a worker thread of the gateway's process. Same protocol, same
 * repository, same code as {@link EmbeddedInferenceServer}; the gateway talks to it over loopback gRPC as it
 * would to Triton. The thread matters because ONNX Runtime for Node runs inference synchronously on the thread
 * that calls it: in the main thread every model run would stall HTTP, health checks and gRPC I/O.
 *
 * ONNX Runtime's native binding loads once per process, in one thread. So one worker thread per process
 * hosts every embedded server, and where this process already loaded the binding in its main thread (a tool
 * that runs models directly), the server starts in the main thread instead, with a log line saying so.
 */
import { Worker } from 'node:worker_threads';
import type { EmbeddedServerOptions } from './grpc-server.ts';
import type { WorkerHostMessage, WorkerHostRequest } from './worker-host.ts';

const ENTRY = new URL('../../bin/embedded-worker.js', import.meta.url);

interface Pending {
  resolve(v: { address: string; port: number }): void;
  reject(err: Error): void;
  logger?: (line: string) => void;
  closed?: () => void;
}

let host: { worker: Worker; pending: Map<number, Pending>; running: number } | undefined;
let nextId = 1;

function hostWorker(): NonNullable<typeof host> {
  if (host) return host;
  const worker = new Worker(ENTRY);
  const pending = new Map<number, Pending>();
  const h = { worker, pending, running: 0 };
  worker.on('message', (m: WorkerHostMessage) => {
    const p = pending.get(m.id);
    if (!p) return;
    switch (m.type) {
      case 'log':
        p.logger?.(m.line);
        break;
      case 'ready':
        p.resolve({ address: m.address, port: m.port });
        break;
      case 'failed':
        pending.delete(m.id);
        p.reject(Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
        break;
      case 'closed':
        pending.delete(m.id);
        p.closed?.();
        break;
      default: {
        const never: never = m;
        throw new Error(`unknown worker message ${JSON.stringify(never)}`);
      }
    }
  });
  worker.on('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    host = undefined;
  });
  // An idle host must not keep the process alive; a running server refs it (see start/close).
  worker.unref();
  host = h;
  return h;
}

function request(h: NonNullable<typeof host>, req: WorkerHostRequest): void {
  h.worker.postMessage(req);
}

/** A running embedded server: in the shared worker thread, or in the main thread as a fallback. */
export class EmbeddedServerWorker {
  private constructor(
    /** `host:port` to give a client. */
    readonly address: string,
    readonly port: number,
    private readonly stop: () => Promise<void>,
    /** Where it runs. */
    readonly thread: 'worker' | 'main',
  ) {}

  /** Starts a server and resolves once it listens (rejects with the server's own error). */
  static async start(options: EmbeddedServerOptions): Promise<EmbeddedServerWorker> {
    const { logger, ...data } = options;
    const h = hostWorker();
    const id = nextId++;
    h.running += 1;
    h.worker.ref();
    try {
      const { address, port } = await new Promise<{ address: string; port: number }>((resolve, reject) => {
        h.pending.set(id, { resolve, reject, logger });
        request(h, { type: 'start', id, options: data });
      });
      const stop = () =>
        new Promise<void>((resolve) => {
          const p = h.pending.get(id);
          if (p) p.closed = resolve;
          request(h, { type: 'close', id });
        }).finally(() => release(h));
      return new EmbeddedServerWorker(address, port, stop, 'worker');
    } catch (err: unknown) {
      release(h);
      if (/did not self-register/.test((err as Error).message)) {
        logger?.('onnxruntime-node is already loaded in the main thread: the embedded server runs there');
        const { EmbeddedInferenceServer } = await import('./grpc-server.ts');
        const server = await EmbeddedInferenceServer.start(options);
        return new EmbeddedServerWorker(server.address, server.port, () => server.close(), 'main');
      }
      throw err;
    }
  }

  /** Stops the server (the shared thread stays for the next one, idle and unreferenced). */
  close(): Promise<void> {
    return this.stop();
  }
}

function release(h: NonNullable<typeof host>): void {
  h.running -= 1;
  if (h.running === 0) h.worker.unref();
}
