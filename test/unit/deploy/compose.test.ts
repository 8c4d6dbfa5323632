import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GATEWAY_PORT, TRITON, gatewayEnvNames, yamlDocuments } from './deploy-facts.ts';

type Obj = Record<string, unknown>;
const docs = yamlDocuments('deploy/compose.yaml');
const compose = docs[0] as { services: Record<string, Obj>; volumes: Obj };
const triton = compose.services.triton;
const gateway = compose.services.gateway;

describe('deploy/compose.yaml', () => {
  it('parses into one document with the triton and gateway services', () => {
    assert.equal(docs.length, 1);
    assert.deepEqual(Object.keys(compose.services).sort(), ['gateway', 'triton']);
  });

  it('runs a pinned Triton image on one reserved GPU with the model repository read-only', () => {
    assert.match(String(triton.image), TRITON.image);
    assert.deepEqual(triton.command, [
      'tritonserver',
      '--model-repository=/models',
      '--model-control-mode=none',
    ]);
    assert.deepEqual(triton.ports, [
      `${TRITON.httpPort}:${TRITON.httpPort}`,
      `${TRITON.grpcPort}:${TRITON.grpcPort}`,
      `${TRITON.metricsPort}:${TRITON.metricsPort}`,
    ]);
    const devices = (triton.deploy as { resources: { reservations: { devices: Obj[] } } }).resources
      .reservations.devices;
    assert.deepEqual(devices, [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    const models = (triton.volumes as Obj[]).find((v) => typeof v === 'object' && v.target === '/models');
    assert.equal(models?.read_only, true);
    assert.equal(models?.type, 'bind');
  });

  it("gates the gateway on Triton's readiness endpoint", () => {
    const test = (triton.healthcheck as { test: string[] }).test;
    assert.deepEqual(test.slice(0, 2), ['CMD', 'curl']);
    assert.equal(test.at(-1), `http://localhost:${TRITON.httpPort}${TRITON.ready}`);
    assert.deepEqual(gateway.depends_on, { triton: { condition: 'service_healthy' } });
  });

  it("configures the gateway with variables config.ts reads, pointing at Triton's gRPC port", () => {
    const env = gateway.environment as Record<string, string>;
    const known = gatewayEnvNames();
    for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is not read by config.ts`);
    assert.equal(env.TRITON_URL, `triton:${TRITON.grpcPort}`);
    assert.equal(env.HOST, '0.0.0.0');
    assert.equal(env.PORT, String(GATEWAY_PORT));
    assert.deepEqual(gateway.ports, [`${GATEWAY_PORT}:${GATEWAY_PORT}`]);
    const build = gateway.build as Obj;
    assert.equal(build.dockerfile, 'deploy/gateway.Dockerfile');
    assert.equal(build.context, '..');
  });

  it('keeps gateway state in a named volume at STATE_DIR', () => {
    const env = gateway.environment as Record<string, string>;
    const volumes = gateway.volumes as Array<string | Obj>;
    assert.ok(volumes.includes(`medseg-state:${env.STATE_DIR}`));
    assert.ok('medseg-state' in compose.volumes);
    assert.ok('trt-cache' in compose.volumes);
  });
});
