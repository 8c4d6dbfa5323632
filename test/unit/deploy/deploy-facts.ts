/**
 * Facts the deployment files must agree with, gathered from their sources: Triton's documented ports and
 * health endpoints, and the gateway's own configuration and routes read from its source files (so a
 * renamed variable or route makes the deploy tests fail instead of a broken deployment).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** Repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Reads a repository file as text. */
export function readRepoFile(rel: string): string {
  return readFileSync(path.join(repoRoot, rel), 'utf8');
}

/**
 * Triton's ports and KServe v2 health endpoints
 * (https://github.com/kserve/kserve/blob/master/docs/predict-api/v2/required_api.md, Triton's defaults
 * --http-port 8000, --grpc-port 8001, --metrics-port 8002).
 */
export const TRITON = {
  httpPort: 8000,
  grpcPort: 8001,
  metricsPort: 8002,
  ready: '/v2/health/ready',
  live: '/v2/health/live',
  image: /^nvcr\.io\/nvidia\/tritonserver:\d{2}\.\d{2}-py3$/,
} as const;

/** The gateway's default port (config.ts: PORT default 4000). */
export const GATEWAY_PORT = 4000;

/**
 * Environment variables the gateway's configuration reads (`env.NAME`, `int(env, 'NAME', ...)`) in
 * gateway/src/config.ts and the security settings it includes (gateway/src/security/security-config.ts).
 */
export function gatewayEnvNames(): Set<string> {
  const src = readRepoFile('gateway/src/config.ts') + readRepoFile('gateway/src/security/security-config.ts');
  const names = new Set<string>();
  for (const m of src.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1]);
  for (const m of src.matchAll(/\b(?:int|intFromEnv)\(env,\s*'([A-Z][A-Z0-9_]*)'/g)) names.add(m[1]);
  return names;
}

/** HTTP paths the gateway's server routes (`case '/x':` in gateway/src/api/http-server.ts). */
export function gatewayRoutes(): Set<string> {
  const src = readRepoFile('gateway/src/api/http-server.ts');
  return new Set([...src.matchAll(/case '(\/[a-z]+)':/g)].map((m) => m[1]));
}

/** Parses every YAML document of a repository file; throws on the first syntax error. */
export function yamlDocuments(rel: string): Array<Record<string, unknown>> {
  const docs = parseAllDocuments(readRepoFile(rel));
  return docs
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${rel}: ${d.errors[0].message}`);
      return d.toJS() as Record<string, unknown> | null;
    })
    .filter((d): d is Record<string, unknown> => d !== null);
}
