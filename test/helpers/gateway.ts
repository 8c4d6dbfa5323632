/** Test helpers: start a real gateway (embedded backend over triton-models/) and call it over HTTP. */

import { fileURLToPath } from 'node:url';
import { loadConfig, type GatewayConfig } from '../../gateway/src/config.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/main.ts';
import { createLogger } from '../../gateway/src/main.ts';
import { ensureServedModels } from '../../gateway/src/models/ensure-models.ts';
import { tempDir } from './temp-dir.ts';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The real samples beside the checkout. */
export const SAMPLES = fileURLToPath(new URL('../../../shared/samples', import.meta.url));

/**
 * Starts a gateway on a free port with the embedded backend; overrides adjust the configuration. The default
 * model is the fast reference model: tests of the real model name `mobilesam` (or override `defaultModel`).
 */
export async function startTestGateway(overrides: Partial<GatewayConfig> = {}): Promise<RunningGateway> {
  const config = loadConfig(
    {
      PORT: '0',
      DEFAULT_MODEL: 'sam_reference',
      LOG_LEVEL: 'silent',
      MODEL_REPOSITORY: `${REPO_ROOT}triton-models`,
      STATE_DIR: tempDir('medseg-state-'),
      // A backend call on a 2-core machine shared with other work can take a minute (everything mode decodes
      // hundreds of prompts); tests that need a short deadline pass backendDeadlineMs themselves.
      BACKEND_DEADLINE_MS: '600000',
    },
    overrides,
  );
  if (!config.tritonUrl) await ensureServedModels(config.modelRepository);
  return startGateway(config, createLogger(config));
}

/** A GraphQL response. */
export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string; [k: string]: unknown } }>;
}

/** POSTs a GraphQL operation. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GqlResponse<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as Omit<GqlResponse<T>, 'status'>;
  return { status: res.status, ...body };
}

/** The first error code of a response (or undefined). */
export function errorCode(r: GqlResponse<unknown>): string | undefined {
  return r.errors?.[0]?.extensions?.code;
}
