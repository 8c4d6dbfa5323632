/** `medseg start`: the main job. Starts the inference backend (embedded or Triton) and the GraphQL gateway. */
import { StoreError } from '../../store/state-store.ts';
import { ConfigError, loadConfig, type GatewayConfig } from '../../config.ts';
import { parseCliArgs, CliError, EXIT, type CliCommand } from '../command.ts';
import { checkpointBenchmarkJobs, withinGrace } from '../../api/graceful-shutdown.ts';
import { describeAuth } from '../../security/security-config.ts';

const USAGE = `usage: medseg start [--port N] [--host ADDR] [--triton-url HOST:PORT] [--repository DIR] [--model NAME]

Starts the GraphQL gateway (default http://127.0.0.1:4000/graphql). Without TRITON_URL (or --triton-url) it
starts the embedded KServe v2 inference server in-process over the model repository (default triton-models/).
Configuration comes from the environment (PORT, HOST, TRITON_URL, MODEL_REPOSITORY, DEFAULT_MODEL, DATA_ROOTS,
STATE_DIR, CACHE_BYTES, LOG_LEVEL, ...; see README); flags override it. Stops on SIGINT or SIGTERM.`;

/** Parses flags into configuration overrides. */
export function startOverrides(args: string[]): Partial<GatewayConfig> {
  const { values } = parseCliArgs(
    args,
    {
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'triton-url': { type: 'string' },
        repository: { type: 'string' },
        model: { type: 'string' },
      },
    },
    USAGE,
  );
  const env: NodeJS.ProcessEnv = {};
  if (values.port !== undefined) env.PORT = values.port;
  if (values.host !== undefined) env.HOST = values.host;
  if (values['triton-url'] !== undefined) env.TRITON_URL = values['triton-url'];
  if (values.repository !== undefined) env.MODEL_REPOSITORY = values.repository;
  if (values.model !== undefined) env.DEFAULT_MODEL = values.model;
  const parsed = loadConfig(env);
  const overrides: Partial<GatewayConfig> = {};
  if (env.PORT !== undefined) overrides.port = parsed.port;
  if (env.HOST !== undefined) overrides.host = parsed.host;
  if (env.TRITON_URL !== undefined) overrides.tritonUrl = parsed.tritonUrl;
  if (env.MODEL_REPOSITORY !== undefined) overrides.modelRepository = parsed.modelRepository;
  if (env.DEFAULT_MODEL !== undefined) overrides.defaultModel = parsed.defaultModel;
  return overrides;
}

/**
 * The example commands of the start banner, for a gateway at `url`; the README's "Try it" shows them
 * verbatim for the default address (a test holds the two together).
 */
export function tryLines(url: string): string[] {
  return [
    `curl -s ${url}/graphql -H 'content-type: application/json' -d '{"query":"{ models { name ready reason encoder decoder profile { name inputSize } } }"}'`,
    `npx medseg segment --url ${url} --image ../shared/samples/xray-lungs/images/1.jpg --box 58,43,239,388 --out out/mask.png --json`,
  ];
}

export const command: CliCommand = {
  name: 'start',
  summary: 'start the GraphQL gateway with the embedded inference server (or Triton at TRITON_URL)',
  usage: USAGE,
  async run(args, io) {
    let config;
    try {
      config = loadConfig(process.env, startOverrides(args));
    } catch (err: unknown) {
      if (err instanceof ConfigError) throw new CliError(err.message);
      throw err;
    }
    if (!config.tritonUrl) {
      const { ensureServedModels } = await import('../../models/ensure-models.ts');
      await ensureServedModels(config.modelRepository);
    }
    const { startGateway } = await import('../../main.ts');
    let gateway;
    try {
      gateway = await startGateway(config);
    } catch (err: unknown) {
      const code = (err as { code?: string }).code;
      // The database stayed unreachable for DATABASE_CONNECT_TIMEOUT_S (each attempt was logged).
      if (err instanceof StoreError) throw new CliError(`state store: ${err.message}`, EXIT.failure);
      if (code === 'EADDRINUSE')
        throw new CliError(
          `port ${config.port} on ${config.host} is in use; set PORT or --port`,
          EXIT.failure,
        );
      throw err;
    }
    io.stdout(
      [
        `medseg-gateway listening on ${gateway.url}/graphql`,
        `inference backend: ${gateway.embedded ? 'embedded KServe v2 server' : 'Triton'} at ${gateway.inferenceAddress}`,
        `health: ${gateway.url}/healthz  readiness: ${gateway.url}/readyz`,
        `authentication: ${describeAuth(config.security)}`,
        '',
        'try:',
        ...tryLines(gateway.url).map((l) => `  ${l}`),
        '',
      ].join('\n'),
    );
    // One listener for the whole life of the command: the first signal starts the graceful stop, a second
    // one exits at once.
    let signals = 0;
    let onSecondSignal = (): void => undefined;
    await new Promise<void>((resolve) => {
      const onSignal = () => {
        signals += 1;
        if (signals === 1) resolve();
        else onSecondSignal();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
    // Graceful stop: benchmark jobs stop at a sample boundary and are queued for the next start, then the
    // HTTP server stops accepting and waits for requests in flight, all within SHUTDOWN_GRACE_MS; a second
    // signal, or the grace running out, exits at once.
    const graceMs = config.security.shutdownGraceMs;
    io.stdout(`shutting down (grace ${graceMs} ms)\n`);
    onSecondSignal = () => process.exit(EXIT.failure);
    const outcome = await withinGrace(async () => {
      const queued = await checkpointBenchmarkJobs(gateway.services.benchmark);
      if (queued.length > 0)
        io.stdout(`benchmark jobs queued to resume on next start: ${queued.join(', ')}\n`);
      await gateway.close();
    }, graceMs);
    if (outcome === 'timeout')
      io.stderr(`grace period of ${graceMs} ms ran out; exiting with work in flight\n`);
    // Whatever still holds the event loop (a client's idle keep-alive socket) must not keep the process up.
    setTimeout(() => process.exit(outcome === 'timeout' ? EXIT.failure : EXIT.ok), 1000).unref();
    return outcome === 'timeout' ? EXIT.failure : EXIT.ok;
  },
};
