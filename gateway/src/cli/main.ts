/** `medseg`: the command-line entry point. Each command lives in its own module, loaded on demand. */
import { readFileSync } from 'node:fs';
import { CliError, CliHelp, EXIT, wantsHelp, type CliCommand, type CliIo } from './command.ts';

type Loader = () => Promise<{ command: CliCommand }>;

/** Every command, by name; modules load lazily so `medseg --help` stays fast. */
const COMMANDS: Record<string, Loader> = {
  start: () => import('./commands/start.ts'),
  'serve-models': () => import('./commands/serve-models.ts'),
  infer: () => import('./commands/infer.ts'),
  models: () => import('./commands/models.ts'),
  rle: () => import('./commands/rle.ts'),
  metrics: () => import('./commands/metrics.ts'),
  prompts: () => import('./commands/prompts.ts'),
  segment: () => import('./commands/segment.ts'),
  bench: () => import('./commands/bench.ts'),
  finetune: () => import('./commands/finetune.ts'),
  keys: () => import('./commands/keys.ts'),
};

const defaultIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

async function help(io: CliIo): Promise<void> {
  const lines = ['usage: medseg <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const { command } = await load();
    lines.push(`  ${name.padEnd(14)} ${command.summary}`);
  }
  lines.push(
    '',
    "Run 'medseg <command> --help' for a command's options; 'medseg --version' prints the version.",
  );
  io.stdout(lines.join('\n') + '\n');
}

/** The version in the package's package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Runs `medseg` with the given arguments and resolves to the exit code. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await help(io);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(`medseg ${version()}\n`);
    return EXIT.ok;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr(`medseg: unknown command '${name}'. Run 'medseg --help' for the list.\n`);
    return EXIT.usage;
  }
  try {
    const { command } = await load();
    // `medseg bench --help`; `medseg bench run --help` reaches the sub-command, whose parser prints its usage.
    if (rest[0] === '--help' || rest[0] === '-h') throw new CliHelp(command.usage);
    const code = await command.run(rest, io);
    return code;
  } catch (err: unknown) {
    if (err instanceof CliHelp) {
      io.stdout(err.usage.endsWith('\n') ? err.usage : err.usage + '\n');
      return EXIT.ok;
    }
    // A sub-command that refused its arguments before parsing them still answers --help with its usage.
    if (err instanceof CliError && err.exitCode === EXIT.usage && wantsHelp(rest)) {
      const { command } = await load();
      io.stdout(command.usage.endsWith('\n') ? command.usage : command.usage + '\n');
      return EXIT.ok;
    }
    if (err instanceof CliError) {
      io.stderr(`medseg ${name}: ${err.message}\n`);
      return err.exitCode;
    }
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    io.stderr(`medseg ${name}: unexpected failure: ${message}\n`);
    return EXIT.failure;
  }
}
