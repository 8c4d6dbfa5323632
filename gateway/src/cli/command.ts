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

/**
 * Parses flags strictly (unknown flags are errors); a parse failure becomes a usage error (exit 2) that
 * repeats the command's usage text.
 */
export function parseCliArgs<const C extends Omit<ParseArgsConfig, 'args' | 'strict'> & { args?: never }>(
  args: string[],
  config: C,
  usage: string,
) {
  try {
    return parseArgs({ ...config, args, strict: true as const });
  } catch (err: unknown) {
    throw new CliError(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
  }
}
