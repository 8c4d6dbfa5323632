import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { GATEWAY_PORT, gatewayEnvNames, gatewayRoutes, readRepoFile, repoRoot } from './deploy-facts.ts';

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Splits a Dockerfile into instructions (continuation lines joined, comments dropped). */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const start = i;
    let line = lines[i];
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      i += 1;
      line = line.slice(0, -1) + ' ' + lines[i].trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `gateway.Dockerfile:${start + 1}: not an instruction: ${line}`);
    out.push({ op: m[1].toUpperCase(), args: m[2].trim(), line: start + 1 });
  }
  return out;
}

const text = readRepoFile('deploy/gateway.Dockerfile');
const all = instructions(text);
const froms = all.filter((x) => x.op === 'FROM');
const runtimeStart = all.indexOf(froms[froms.length - 1]);
const runtime = all.slice(runtimeStart);

describe('deploy/gateway.Dockerfile', () => {
  it('is multi-stage: dependencies installed with npm ci, copied into a separate runtime stage', () => {
    assert.equal(froms.length, 2, 'two stages');
    assert.match(froms[0].args, / AS deps$/);
    assert.match(froms[1].args, / AS runtime$/);
    const deps = all.slice(0, runtimeStart);
    assert.ok(
      deps.some((x) => x.op === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(x.args)),
      'npm ci --omit=dev',
    );
    assert.ok(
      deps.some((x) => x.op === 'COPY' && /package-lock\.json/.test(x.args)),
      'lockfile copied for npm ci',
    );
    assert.ok(runtime.some((x) => x.op === 'COPY' && /--from=deps .*node_modules/.test(x.args)));
    // The runtime stage carries no compiler.
    assert.ok(!runtime.some((x) => x.op === 'RUN' && /g\+\+|build-essential/.test(x.args)));
    // Node 20, as package.json's engines field requires.
    const arg = all.find((x) => x.op === 'ARG' && x.args.startsWith('NODE_IMAGE='));
    assert.match(arg?.args ?? '', /^NODE_IMAGE=node:20\.\d+-[a-z]+-slim$/);
  });

  it('skips the onnxruntime-node download in both stages', () => {
    for (const stage of [all.slice(0, runtimeStart), runtime]) {
      assert.ok(stage.some((x) => x.op === 'ENV' && /ONNXRUNTIME_NODE_INSTALL=skip/.test(x.args)));
    }
  });

  it('runs as a non-root user with a healthcheck on /healthz and exposes the gateway port', () => {
    const user = runtime.filter((x) => x.op === 'USER');
    assert.equal(user.length, 1);
    assert.notEqual(user[0].args, 'root');
    assert.notEqual(user[0].args, '0');
    const health = runtime.find((x) => x.op === 'HEALTHCHECK');
    assert.ok(health);
    assert.match(health.args, /\/healthz/);
    assert.ok(gatewayRoutes().has('/healthz'), 'the gateway serves /healthz');
    const expose = runtime.find((x) => x.op === 'EXPOSE');
    assert.equal(expose?.args, String(GATEWAY_PORT));
    const entry = runtime.find((x) => x.op === 'ENTRYPOINT');
    assert.equal(entry?.args, '["node", "gateway/bin/medseg.js"]');
    assert.equal(runtime.find((x) => x.op === 'CMD')?.args, '["start"]');
  });

  it('sets only environment variables the gateway reads, binding all interfaces on its port', () => {
    const known = gatewayEnvNames();
    const env = runtime
      .filter((x) => x.op === 'ENV')
      .flatMap((x) => [...x.args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1], m[2]] as const));
    const extra = new Set(['NODE_ENV', 'ONNXRUNTIME_NODE_INSTALL']);
    for (const [name] of env)
      assert.ok(known.has(name) || extra.has(name), `${name} is not read by config.ts`);
    const map = new Map(env);
    assert.equal(map.get('HOST'), '0.0.0.0');
    assert.equal(map.get('PORT'), String(GATEWAY_PORT));
  });

  it('copies files that exist and builds from the repository root', () => {
    for (const x of all.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
      const parts = x.args.split(/\s+/);
      for (const src of parts.slice(0, -1)) {
        assert.ok(
          existsSync(path.join(repoRoot, src)),
          `gateway.Dockerfile:${x.line}: ${src} does not exist`,
        );
      }
    }
    const ignore = readRepoFile('deploy/gateway.Dockerfile.dockerignore');
    assert.match(ignore, /^\*\*\/node_modules$/m, 'host node_modules never enter the build context');
    assert.match(ignore, /^triton-models\/sam_vit_\*\/\*\*\/\*\.onnx$/m, 'production weights stay out');
  });
});
