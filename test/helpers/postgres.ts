/**
 * A private PostgreSQL for tests, from Debian's `postgresql` package: initdb in a fresh temp directory owned
 * by the `postgres` user (initdb refuses root), a server on a free loopback port with its socket in that
 * directory, stopped and removed by `stop()`. `.ci/run` installs the package.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './medseg-process.ts';

/** A running private PostgreSQL. */
export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** A URL of a fresh empty database (CREATE DATABASE), for tests that need their own. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown, as a crash would look to clients) without removing its data. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data. */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** The folder holding `initdb` and `postgres`, or undefined when the package is not installed. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : undefined;
}

/** Runs a command as the postgres user when we are root (initdb and postgres refuse root). */
function asPostgres(cmd: string, args: string[]): { file: string; args: string[] } {
  return userInfo().uid === 0
    ? { file: 'runuser', args: ['-u', 'postgres', '--', cmd, ...args] }
    : { file: cmd, args };
}

/**
 * Starts a private PostgreSQL; throws with a hint when the Debian package is missing. `fsync` (default off,
 * tests need no durability) is on for benchmarks that compare against SQLite's fsync per commit.
 */
export async function startPostgres(options: { fsync?: boolean } = {}): Promise<TestPostgres> {
  const bin = postgresBinDir();
  if (bin === undefined) {
    throw new Error('PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does this)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'medseg-pg-'));
  const data = join(dir, 'data');
  if (userInfo().uid === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const init = asPostgres(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  execFileSync(init.file, init.args, { stdio: 'pipe' });
  const port = await freePort();
  const pgCtl = (args: string[]): void => {
    const c = asPostgres(join(bin, 'pg_ctl'), ['-D', data, ...args]);
    execFileSync(c.file, c.args, { stdio: 'pipe', timeout: 120_000 });
  };
  let running = false;
  const launch = async (): Promise<void> => {
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=${options.fsync ? 'on' : 'off'} -c max_connections=200`;
    pgCtl(['-l', join(dir, 'server.log'), '-o', opts, '-w', '-t', '120', 'start']);
    running = true;
  };
  const halt = async (): Promise<void> => {
    if (!running) return;
    running = false;
    // Immediate mode: clients lose their connections at once, as when the database host dies.
    pgCtl(['-m', 'immediate', '-w', 'stop']);
  };
  try {
    await launch();
  } catch (err: unknown) {
    await halt();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]{0,40}$/.test(name)) throw new Error(`bad database name ${name}`);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    kill: halt,
    restart: launch,
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
