/**
 * The app's GraphQL client: POSTs to the gateway's own /graphql and subscribes over graphql-ws on the same
 * URL, both carrying the API key from sessionStorage. An UNAUTHENTICATED answer (HTTP 401, or a WebSocket
 * closed for the credential) clears the key and raises AuthRequired, which brings back the key prompt.
 */
import { createClient, type Client } from 'graphql-ws/client';

/** sessionStorage key of the API key (never localStorage: it dies with the tab). */
const KEY_STORAGE = 'medseg.apiKey';

/** Raised when the gateway wants a (new) credential. */
export class AuthRequired extends Error {
  override name = 'AuthRequired';
}

/** A GraphQL error answer: the first error's message and `extensions.code`. */
export class ApiFailure extends Error {
  override name = 'ApiFailure';
  constructor(
    message: string,
    /** `extensions.code` of the first error, e.g. BAD_IMAGE. */
    readonly code: string,
  ) {
    super(message);
  }
}

/** Listeners told when a credential is needed (the app shows the key prompt). */
const authListeners = new Set<() => void>();

/** Calls `fn` whenever the gateway refuses the current credential. */
export function onAuthRequired(fn: () => void): void {
  authListeners.add(fn);
}

function authFailed(message: string): AuthRequired {
  setApiKey(null);
  for (const fn of authListeners) fn();
  return new AuthRequired(message);
}

/** The API key in use, or null. */
export function apiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

/** Stores (or with null forgets) the API key for this tab, and restarts the WebSocket with it. */
export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  void wsClient?.dispose();
  wsClient = undefined;
}

function authHeaders(): Record<string, string> {
  const key = apiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

interface GqlBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** Runs one query or mutation; resolves to `data`, rejects with ApiFailure or AuthRequired. */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ query, variables }),
  });
  let body: GqlBody<T>;
  try {
    body = (await res.json()) as GqlBody<T>;
  } catch {
    throw new ApiFailure(`the gateway answered HTTP ${res.status} without a GraphQL body`, 'BAD_RESPONSE');
  }
  const first = body.errors?.[0];
  if (res.status === 401 || first?.extensions?.code === 'UNAUTHENTICATED')
    throw authFailed(first?.message ?? 'a credential is required');
  if (first) throw new ApiFailure(first.message, first.extensions?.code ?? 'UNKNOWN');
  if (!body.data)
    throw new ApiFailure(`the gateway answered HTTP ${res.status} without data`, 'BAD_RESPONSE');
  return body.data;
}

let wsClient: Client | undefined;

function ws(): Client {
  if (!wsClient) {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
    wsClient = createClient({
      url,
      lazy: true,
      retryAttempts: 3,
      // Read at every (re)connection, so a new key is used without reloading.
      connectionParams: () => authHeaders(),
      // 4401/4403: the gateway refused the credential at connection time.
      shouldRetry: (e) =>
        !(e && typeof e === 'object' && 'code' in e && (e.code === 4401 || e.code === 4403)),
    });
  }
  return wsClient;
}

/** Handlers of a subscription. */
export interface SubscriptionHandlers<T> {
  next(data: T): void;
  error(err: Error): void;
  complete?(): void;
}

/** Subscribes over graphql-ws; returns a function that stops the subscription. */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  handlers: SubscriptionHandlers<T>,
): () => void {
  return ws().subscribe<T>(
    { query, variables },
    {
      next: (r) => {
        const first = r.errors?.[0];
        if (first) {
          const code = String(first.extensions?.code ?? 'UNKNOWN');
          if (code === 'UNAUTHENTICATED') handlers.error(authFailed(first.message));
          else handlers.error(new ApiFailure(first.message, code));
        } else if (r.data) handlers.next(r.data as T);
      },
      error: (err: unknown) => {
        const code = (err as { code?: number }).code;
        if (code === 4401 || code === 4403) handlers.error(authFailed('the gateway refused the credential'));
        else if (Array.isArray(err)) {
          const e = err[0] as { message?: string; extensions?: { code?: string } };
          const c = e.extensions?.code ?? 'UNKNOWN';
          handlers.error(
            c === 'UNAUTHENTICATED' ? authFailed(e.message ?? c) : new ApiFailure(e.message ?? c, c),
          );
        } else handlers.error(err instanceof Error ? err : new ApiFailure('subscription closed', 'CLOSED'));
      },
      complete: () => handlers.complete?.(),
    },
  );
}

/** The caller as the `viewer` query reports it. */
export interface Viewer {
  kind: string;
  id: string;
  roles: string[];
  allowedFields: string[];
}

/** Asks who the current credential is; AuthRequired when the gateway wants one. */
export async function fetchViewer(): Promise<Viewer> {
  const d = await gql<{ viewer: Viewer }>('query Viewer { viewer { kind id roles allowedFields } }');
  return d.viewer;
}
