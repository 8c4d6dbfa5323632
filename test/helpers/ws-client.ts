/**
 * Test helper: a raw graphql-transport-ws client over `ws`, so tests see exactly what the gateway answers
 * (handshake refusals, close codes, per-operation errors) without a client library's retries in between.
 */
import WebSocket from 'ws';

/** A message of the graphql-transport-ws protocol. */
export interface WsMessage {
  type: string;
  id?: string;
  payload?: unknown;
}

/** One open, acknowledged connection. */
export interface WsConnection {
  socket: WebSocket;
  /** Sends a subscribe message; resolves to the first answer for that id (next, error or complete). */
  subscribe(id: string, query: string, variables?: Record<string, unknown>): Promise<WsMessage>;
  /** Resolves with the close code once the server closes the socket (or `timeoutMs` passes: undefined). */
  closed(timeoutMs: number): Promise<number | undefined>;
  close(): void;
}

/** Outcome of an attempt to open a connection. */
export type WsOpen =
  | { kind: 'open'; connection: WsConnection }
  | { kind: 'refused'; status: number }
  | { kind: 'closed'; code: number };

/** Opens a WebSocket to `${url}/graphql`, sends connection_init and waits for the ack (or a refusal). */
export function openWs(
  url: string,
  options: { credential?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<WsOpen> {
  const socket = new WebSocket(url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws', {
    headers: options.headers ?? {},
  });
  const inbox: WsMessage[] = [];
  const waiters: Array<() => void> = [];
  let closeCode: number | undefined;
  socket.on('message', (data) => {
    inbox.push(JSON.parse(String(data)) as WsMessage);
    for (const w of waiters.splice(0)) w();
  });
  socket.on('close', (code) => {
    closeCode = code;
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => undefined);
  const next = (match: (m: WsMessage) => boolean, timeoutMs: number): Promise<WsMessage | undefined> =>
    new Promise((resolve) => {
      const deadline = setTimeout(() => resolve(undefined), timeoutMs);
      const look = () => {
        const i = inbox.findIndex(match);
        if (i >= 0) {
          clearTimeout(deadline);
          resolve(inbox.splice(i, 1)[0]);
        } else if (closeCode !== undefined) {
          clearTimeout(deadline);
          resolve(undefined);
        } else waiters.push(look);
      };
      look();
    });
  const connection: WsConnection = {
    socket,
    async subscribe(id, query, variables = {}) {
      socket.send(JSON.stringify({ type: 'subscribe', id, payload: { query, variables } }));
      const m = await next((x) => x.id === id, options.timeoutMs ?? 30_000);
      return m ?? { type: closeCode !== undefined ? `closed:${closeCode}` : 'timeout' };
    },
    closed(timeoutMs) {
      return new Promise((resolve) => {
        if (closeCode !== undefined) return resolve(closeCode);
        const deadline = setTimeout(() => resolve(undefined), timeoutMs);
        socket.once('close', (code) => {
          clearTimeout(deadline);
          resolve(code);
        });
      });
    },
    close: () => socket.close(),
  };
  return new Promise((resolve) => {
    socket.once('unexpected-response', (_req, res) => {
      resolve({ kind: 'refused', status: res.statusCode ?? 0 });
      socket.terminate();
    });
    socket.once('open', () => {
      socket.send(
        JSON.stringify({
          type: 'connection_init',
          payload: options.credential ? { authorization: `Bearer ${options.credential}` } : {},
        }),
      );
      void next((m) => m.type === 'connection_ack', options.timeoutMs ?? 30_000).then((ack) => {
        if (ack) resolve({ kind: 'open', connection });
        else void connection.closed(30_000).then((code) => resolve({ kind: 'closed', code: code ?? -1 }));
      });
    });
  });
}

/** The first error code of an `error` or `next` message. */
export function wsErrorCode(m: WsMessage): string | undefined {
  const payload = m.payload as
    | Array<{ extensions?: { code?: string } }>
    | { errors?: Array<{ extensions?: { code?: string } }> }
    | undefined;
  if (Array.isArray(payload)) return payload[0]?.extensions?.code;
  return payload?.errors?.[0]?.extensions?.code;
}
