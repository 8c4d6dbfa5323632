/**
 * Runs inside the one worker thread started by {@link EmbeddedServerWorker}: hosts any number of embedded
 * KServe v2 servers, each started and closed on request by id, and forwards their log lines. ONNX Runtime for
 * Node runs each inference synchronously on its calling thread; hosting the servers here keeps the gateway's
 * own event loop free while models run. Its native binding loads once per process, so this thread lives as
 * long as the process and every embedded server of the process runs in it.
 */
import { parentPort } from 'node:worker_threads';
import { EmbeddedInferenceServer, type EmbeddedServerOptions } from './grpc-server.ts';

/** Requests the parent sends. */
export type WorkerHostRequest =
  | { type: 'start'; id: number; options: Omit<EmbeddedServerOptions, 'logger'> }
  | { type: 'close'; id: number };

/** Messages the host sends to its parent. */
export type WorkerHostMessage =
  | { type: 'ready'; id: number; address: string; port: number }
  | { type: 'failed'; id: number; message: string; code?: string }
  | { type: 'log'; id: number; line: string }
  | { type: 'closed'; id: number };

const port = parentPort;
if (!port) throw new Error('worker-host.ts must run in a worker thread');
const send = (m: WorkerHostMessage) => port.postMessage(m);
const servers = new Map<number, EmbeddedInferenceServer>();

port.on('message', (req: WorkerHostRequest) => {
  switch (req.type) {
    case 'start':
      EmbeddedInferenceServer.start({
        ...req.options,
        logger: (line) => send({ type: 'log', id: req.id, line }),
      }).then(
        (server) => {
          servers.set(req.id, server);
          send({ type: 'ready', id: req.id, address: server.address, port: server.port });
        },
        (err: unknown) => {
          const e = err as { message?: string; code?: string };
          send({ type: 'failed', id: req.id, message: e.message ?? String(err), code: e.code });
        },
      );
      break;
    case 'close': {
      const server = servers.get(req.id);
      servers.delete(req.id);
      void (server ? server.close() : Promise.resolve()).then(() => send({ type: 'closed', id: req.id }));
      break;
    }
    default: {
      const never: never = req;
      throw new Error(`unknown request ${JSON.stringify(never)}`);
    }
  }
});
