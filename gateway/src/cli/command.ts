/** The shape of one `medseg` sub-command, the typed error commands throw for bad usage or input, and flag parsing. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command writes; injected so tests can capture output. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** One `medseg <name>` command. Commands with sub-commands (`models generate`) dispatch on args[0]. */
export interface CliCommand {
  name: string;
  /** One line for `medseg --help`. */
  summary: string;
  /** Full usage text for `medseg <name> --help`. */
  usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/** Exit codes: 0 ok, 1 failure at run time, 2 bad usage or bad input. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A failure with a message for the user and an exit code; main prints it without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Thrown by {@link parseCliArgs} for `--help`/`-h`: main prints `usage` on stdout and exits 0. */
export class CliHelp extends Error {
  constructor(readonly usage: string) {
    super('help requested');
    this.name = 'CliHelp';
  }
}

/** True when `args` asks for help before any `--` terminator. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** Node's parseArgs messages, reworded: its hint for an unknown option ends with an unbalanced quote. */
function usageMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  // The option as typed: parseArgs quotes it, sometimes with a placeholder ('--out <value>').
  const quoted = /'([^' ]*)[^']*'/.exec(e.message ?? '')?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${quoted ?? '?'}' (a value that starts with '-' goes after '--')`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return (
        `option '${quoted ?? '?'}' needs a value` +
        (/argument missing/.test(e.message ?? '') ? '' : ` (${e.message})`)
      );
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted ?? '?'}'`;
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Parses flags strictly (unknown flags are errors); a parse failure becomes a usage error (exit 2) that
 * repeats the command's usage text, and `--help`/`-h` anywhere before `--` prints that text (exit 0).
 */
export function parseCliArgs<const C extends Omit<ParseArgsConfig, 'args' | 'strict'> & { args?: never }>(
  args: string[],
  config: C,
  usage: string,
) {
  if (wantsHelp(args)) throw new CliHelp(usage);
  try {
    return parseArgs({ ...config, args, strict: true as const });
  } catch (err: unknown) {
    throw new CliError(`${usageMessage(err)}\n${usage}`);
  }
}
