/**
 * `medseg infer`: calls a KServe v2 server (Triton or the embedded one) and prints the answer as JSON; the
 * way to query the inference layer before the GraphQL gateway is up.
 */
import { InferenceError } from '../../inference/errors.ts';
import { KServeClient } from '../../inference/kserve-client.ts';
import { parseCliArgs, CliError, EXIT, type CliCommand } from '../command.ts';

const usage = `usage: medseg infer --triton-url HOST:PORT [--timeout-ms N] <request>

--triton-url is the KServe v2 gRPC address (Triton, or medseg serve-models); --url is its old name.

requests:
  index            every model with its state and reason (RepositoryIndex)
  ready            server liveness, readiness and metadata
  metadata MODEL   inputs, outputs and versions of a model (ModelMetadata)
  config MODEL     the model's configuration (ModelConfig)
  stats [MODEL]    inference and execution counts (ModelStatistics)`;

/** The infer command. */
export const command: CliCommand = {
  name: 'infer',
  summary: 'query a KServe v2 inference server (index, ready, metadata, config, stats) as JSON',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCliArgs(
      args,
      {
        options: {
          'triton-url': { type: 'string' },
          url: { type: 'string' },
          'timeout-ms': { type: 'string' },
        },
        allowPositionals: true,
      },
      usage,
    );
    const address = values['triton-url'] ?? values.url;
    if (!address) throw new CliError(`--triton-url HOST:PORT is required\n${usage}`);
    const timeout = values['timeout-ms'];
    if (timeout !== undefined && !/^\d+$/.test(timeout))
      throw new CliError(`--timeout-ms must be a whole number, got '${timeout}'`);
    const [what, model, ...extra] = positionals;
    const needsModel = what === 'metadata' || what === 'config';
    if (!what) throw new CliError(`expected a request (index, ready, metadata, config, stats)\n${usage}`);
    if (!['index', 'ready', 'metadata', 'config', 'stats'].includes(what)) {
      throw new CliError(`unknown request '${what}'; expected index, ready, metadata, config or stats`);
    }
    if (needsModel && !model)
      throw new CliError(`'${what}' needs a model name: medseg infer --triton-url ${address} ${what} MODEL`);
    if ((!needsModel && what !== 'stats' && model) || extra.length > 0) {
      throw new CliError(
        `unexpected argument(s) after '${what}': ${[model, ...extra].filter(Boolean).join(' ')}`,
      );
    }
    let client: KServeClient;
    try {
      client = KServeClient.connect(address, { deadlineMs: timeout ? Number(timeout) : 10_000 });
    } catch (err: unknown) {
      throw new CliError(err instanceof Error ? err.message : String(err));
    }
    try {
      let result: unknown;
      switch (what) {
        case 'index':
          result = await client.repositoryIndex();
          break;
        case 'ready':
          result = {
            live: await client.serverLive(),
            ready: await client.serverReady(),
            server: await client.serverMetadata(),
          };
          break;
        case 'metadata':
          result = await client.modelMetadata(model);
          break;
        case 'config':
          result = await client.modelConfig(model);
          break;
        case 'stats':
          result = await client.modelStatistics(model ?? '');
          break;
      }
      io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      return EXIT.ok;
    } catch (err: unknown) {
      if (err instanceof InferenceError) {
        const hint =
          err.code === 'BACKEND_UNAVAILABLE' ? ` (is a server listening on ${client.address}?)` : '';
        throw new CliError(`${err.code}: ${err.message}${hint}`, EXIT.failure);
      }
      throw err;
    } finally {
      client.close();
    }
  },
};
