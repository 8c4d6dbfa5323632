/** `medseg serve-models`: runs the embedded KServe v2 server over a Triton model repository until stopped. */
import { EmbeddedInferenceServer } from '../../embedded/grpc-server.ts';
import { parseCliArgs, CliError, EXIT, type CliCommand } from '../command.ts';
import { DEFAULT_MODEL_REPOSITORY } from '../../config.ts';

const usage = `usage: medseg serve-models [--repository DIR] [--port N] [--host ADDR] [--threads N]

Serves the models of a Triton model repository over gRPC (KServe v2, Triton-compatible) with ONNX Runtime
on CPU, in the foreground until SIGINT or SIGTERM. Prints the address and one line per model version with
its state (and the reason when it is not ready).

  --repository DIR  model repository (default: triton-models)
  --port N          gRPC port, 0 for a free one (default: 8001)
  --host ADDR       interface to bind (default: 127.0.0.1)
  --threads N       ONNX Runtime intra-op threads per model instance (default: 1)`;

function intOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new CliError(`--${name} must be an integer in ${min}..${max}, got '${value}'`);
  }
  return n;
}

/** The serve-models command. */
export const command: CliCommand = {
  name: 'serve-models',
  summary: 'serve a Triton model repository over KServe v2 gRPC (embedded CPU server)',
  usage,
  async run(args, io) {
    const { values } = parseCliArgs(
      args,
      {
        options: {
          repository: { type: 'string' },
          port: { type: 'string' },
          host: { type: 'string' },
          threads: { type: 'string' },
        },
        allowPositionals: false,
      },
      usage,
    );
    const port = intOption('port', values.port, 8001, 0, 65535);
    const threads = intOption('threads', values.threads, 1, 1, 64);
    const repository =
      values.repository ?? (process.env.MODEL_REPOSITORY?.trim() || DEFAULT_MODEL_REPOSITORY);
    let server: EmbeddedInferenceServer;
    try {
      server = await EmbeddedInferenceServer.start({
        repository,
        host: values.host ?? '127.0.0.1',
        port,
        intraOpThreads: threads,
        logger: (line) => io.stdout(`${line}\n`),
      });
    } catch (err: unknown) {
      throw new CliError(
        `cannot serve ${repository}: ${err instanceof Error ? err.message : String(err)}`,
        EXIT.failure,
      );
    }
    const signal = await new Promise<string>((resolve) => {
      const stop = (sig: string) => {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        resolve(sig);
      };
      const onInt = () => stop('SIGINT');
      const onTerm = () => stop('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
    });
    io.stdout(`${signal}: stopping\n`);
    await server.close();
    return EXIT.ok;
  },
};
