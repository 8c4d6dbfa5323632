/**
 * The Python trainer (trainer/medseg_trainer) as a child process of the gateway: JSON requests on its stdin,
 * JSON events on its stdout, one per line. One request runs at a time; `cancel` asks the running one to stop
 * at the next step; closing stdin (or the gateway dying) makes the trainer stop and exit.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The trainer package's folder (the repository's `trainer/`). */
export const TRAINER_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../trainer');

/**
 * The Python that runs the trainer: TRAINER_PYTHON, else Debian's /usr/bin/python3 (where apt installs
 * python3-torch) when present, else `python3` from PATH.
 */
export function trainerPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TRAINER_PYTHON) return env.TRAINER_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** One event of the trainer; `event` is `baseline`, `resumed`, `epoch`, `done` or `error`. */
export interface TrainerEvent {
  event: string;
  id?: number;
  code?: string;
  message?: string;
  [key: string]: unknown;
}

/** A typed trainer failure: the code the trainer reported, or TRAINER_UNAVAILABLE / TRAINER_CRASHED. */
export class TrainerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TrainerError';
  }
}

/** A running trainer process. */
export class TrainerProcess {
  private nextId = 1;
  private pending:
    | {
        id: number;
        onEvent: (e: TrainerEvent) => void;
        resolve: (e: TrainerEvent) => void;
        reject: (e: Error) => void;
      }
    | undefined;
  private stderrTail = '';
  private exited: { code: number | null; signal: string | null } | undefined;
  /** Resolves when the process has exited. */
  readonly exit: Promise<void>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stderr.on('data', (b: Buffer) => {
      this.stderrTail = (this.stderrTail + b.toString('utf8')).slice(-4000);
    });
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
    this.exit = new Promise((done) => {
      child.on('close', (code, signal) => {
        this.exited = { code, signal };
        const p = this.pending;
        this.pending = undefined;
        p?.reject(this.crashError());
        done();
      });
    });
    // A Python that cannot be started: 'error' may come without 'close'.
    child.on('error', (err: NodeJS.ErrnoException) => {
      this.stderrTail += `\n${err.code === 'ENOENT' ? `No such Python: ${child.spawnfile}` : err.message}`;
      if (!this.exited) {
        this.exited = { code: null, signal: null };
        const p = this.pending;
        this.pending = undefined;
        p?.reject(
          new TrainerError(
            'TRAINER_UNAVAILABLE',
            `cannot run the trainer's Python ${child.spawnfile}: ${err.message} (set TRAINER_PYTHON)`,
          ),
        );
      }
    });
  }

  /** Starts `python -m medseg_trainer` with the trainer package on PYTHONPATH; `threads` bounds its cores. */
  static start(options: { python?: string; threads?: number; env?: NodeJS.ProcessEnv } = {}): TrainerProcess {
    const threads = String(options.threads ?? 2);
    const env = options.env ?? process.env;
    const child = spawn(options.python ?? trainerPython(env), ['-m', 'medseg_trainer'], {
      cwd: TRAINER_DIR,
      env: {
        ...env,
        PYTHONPATH: TRAINER_DIR,
        PYTHONDONTWRITEBYTECODE: '1',
        // BLAS and OpenMP pools follow the requested thread count instead of taking every core.
        OMP_NUM_THREADS: threads,
        OPENBLAS_NUM_THREADS: threads,
        MKL_NUM_THREADS: threads,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new TrainerProcess(child);
  }

  /** The process id (for tests that kill it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private crashError(): TrainerError {
    const tail = this.stderrTail.trim();
    if (/No module named '?(torch|onnx|numpy)/.test(tail)) {
      const mod = /No module named '?(\w+)/.exec(tail)?.[1] ?? 'torch';
      return new TrainerError(
        'TRAINER_UNAVAILABLE',
        `the trainer's Python lacks the module '${mod}': apt-get install python3-torch python3-onnx (or set TRAINER_PYTHON)`,
      );
    }
    if (this.child.spawnfile && tail === '' && this.exited?.code === null && this.exited?.signal === null) {
      return new TrainerError('TRAINER_UNAVAILABLE', `cannot run ${this.child.spawnfile}`);
    }
    const how = this.exited?.signal ? `signal ${this.exited.signal}` : `exit code ${this.exited?.code}`;
    return new TrainerError(
      'TRAINER_CRASHED',
      `the trainer process ended (${how})${tail ? `: ${tail.split('\n').slice(-3).join(' ')}` : ''}`,
    );
  }

  private onLine(line: string): void {
    let e: TrainerEvent;
    try {
      e = JSON.parse(line) as TrainerEvent;
    } catch {
      return;
    }
    const p = this.pending;
    if (!p || (e.id !== undefined && e.id !== p.id)) return;
    if (e.event === 'done') {
      this.pending = undefined;
      p.resolve(e);
    } else if (e.event === 'error') {
      this.pending = undefined;
      p.reject(new TrainerError(e.code ?? 'INTERNAL', e.message ?? 'trainer error'));
    } else p.onEvent(e);
  }

  /** Sends one request; events go to `onEvent`; resolves with the `done` event, rejects with a TrainerError. */
  request(
    body: Record<string, unknown>,
    onEvent: (e: TrainerEvent) => void = () => {},
  ): Promise<TrainerEvent> {
    if (this.exited) return Promise.reject(this.crashError());
    if (this.pending)
      return Promise.reject(new TrainerError('BUSY', 'the trainer is already running a request'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending = { id, onEvent, resolve, reject };
      this.child.stdin.write(JSON.stringify({ ...body, id }) + '\n');
    });
  }

  /** Asks the running request to stop at its next step (it then fails with code CANCELLED). */
  cancel(): void {
    if (!this.exited) this.child.stdin.write(JSON.stringify({ cmd: 'cancel' }) + '\n');
  }

  /** Ends the process: closes stdin, and kills it if it has not exited after `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}

/** Path of a file inside the trainer package (for docs and checks). */
export const TRAINER_MAIN = join(TRAINER_DIR, 'medseg_trainer', '__main__.py');
