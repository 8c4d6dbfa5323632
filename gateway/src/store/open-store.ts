/**
 * Opens the configured state store: PostgreSQL when DATABASE_URL is a postgres:// URL (retrying with
 * exponential backoff while the database is unreachable, so replicas may start before it), else SQLite in
 * STATE_DIR.
 */
import { join } from 'node:path';
import { PgStore } from './postgres/pg-store.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import { StoreError, type StateStore } from './state-store.ts';

/** Where the store lives and how long to wait for it. */
export interface OpenStoreOptions {
  /** postgres://... (DATABASE_URL); undefined = SQLite. */
  databaseUrl: string | undefined;
  /** Folder of the SQLite file `bench.sqlite`. */
  stateDir: string;
  /** How long to keep retrying an unreachable database, in milliseconds (0 = one attempt). */
  connectTimeoutMs: number;
  /** Hears each failed attempt (with the delay before the next) and recovered problems. */
  onRetry?: (message: string, delayMs: number, attempt: number) => void;
  onWarning?: (message: string) => void;
}

/** True for the URLs {@link openStore} sends to PostgreSQL. */
export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/** Opens and migrates the store; StoreError UNAVAILABLE once `connectTimeoutMs` has passed without success. */
export async function openStore(options: OpenStoreOptions): Promise<StateStore> {
  if (!isPostgresUrl(options.databaseUrl)) return new SqliteStore(join(options.stateDir, 'bench.sqlite'));
  const deadline = Date.now() + options.connectTimeoutMs;
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await PgStore.open({
        url: options.databaseUrl,
        onWarning: options.onWarning,
        connectTimeoutMs: Math.max(1000, Math.min(5000, options.connectTimeoutMs)),
      });
    } catch (err: unknown) {
      if (!(err instanceof StoreError) || err.code !== 'UNAVAILABLE') throw err;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new StoreError(
          `PostgreSQL at ${redact(options.databaseUrl)} unreachable after ${attempt} attempts: ${err.message}`,
          'UNAVAILABLE',
        );
      }
      const wait = Math.min(delay, left);
      options.onRetry?.(err.message, wait, attempt);
      await new Promise((r) => setTimeout(r, wait));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
