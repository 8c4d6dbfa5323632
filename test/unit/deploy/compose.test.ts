import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GATEWAY_PORT,
  TRITON,
  gatewayEnvNames,
  gatewayRoutes,
  readRepoFile,
  yamlDocuments,
} from './deploy-facts.ts';

type Obj = Record<string, unknown>;
const docs = yamlDocuments('deploy/compose.yaml');
const compose = docs[0] as { services: Record<string, Obj>; volumes: Obj };
const triton = compose.services.triton;
const gateway = compose.services.gateway;
const postgres = compose.services.postgres;
const lb = compose.services.lb;

describe('deploy/compose.yaml', () => {
  it('parses into one document with triton, postgres, the gateway replicas and their load balancer', () => {
    assert.equal(docs.length, 1);
    assert.deepEqual(Object.keys(compose.services).sort(), ['gateway', 'lb', 'postgres', 'triton']);
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
    assert.deepEqual(gateway.depends_on, {
      triton: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
    });
  });

  it("configures the gateway with variables config.ts reads, pointing at Triton's gRPC port", () => {
    const env = gateway.environment as Record<string, string>;
    const known = gatewayEnvNames();
    for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is not read by config.ts`);
    assert.equal(env.TRITON_URL, `triton:${TRITON.grpcPort}`);
    assert.equal(env.HOST, '0.0.0.0');
    assert.equal(env.PORT, String(GATEWAY_PORT));
    // Replicas publish no port of their own: the load balancer is the one address.
    assert.equal(gateway.ports, undefined);
    const build = gateway.build as Obj;
    assert.equal(build.dockerfile, 'deploy/gateway.Dockerfile');
    assert.equal(build.context, '..');
  });

  it('runs at least two replicas on one PostgreSQL, with no state of their own', () => {
    const env = gateway.environment as Record<string, string>;
    assert.ok((gateway.deploy as { replicas: number }).replicas >= 2);
    assert.ok(gatewayEnvNames().has('DATABASE_URL'));
    const url = new URL(env.DATABASE_URL.replace(/\$\{[^}]*\}/g, 'x'));
    assert.equal(url.protocol, 'postgres:');
    assert.equal(url.hostname, 'postgres');
    assert.equal(url.port, '5432');
    const pgEnv = postgres.environment as Record<string, string>;
    assert.equal(url.username, pgEnv.POSTGRES_USER);
    assert.equal(url.pathname, `/${pgEnv.POSTGRES_DB}`);
    // One password variable, required (no default password), in both places.
    assert.match(pgEnv.POSTGRES_PASSWORD, /^\$\{MEDSEG_DB_PASSWORD:\?/);
    assert.ok(env.DATABASE_URL.includes(pgEnv.POSTGRES_PASSWORD));
    // Nothing mounted at STATE_DIR: no SQLite file of a replica's own; keys are one shared file.
    const volumes = (gateway.volumes as Array<string | Obj>).map((v) =>
      typeof v === 'string' ? v.split(':')[1] : String(v.target),
    );
    assert.ok(!volumes.some((t) => env.STATE_DIR.startsWith(t)), volumes.join());
    assert.ok(volumes.includes(env.API_KEYS_FILE.slice(0, env.API_KEYS_FILE.lastIndexOf('/'))));
    assert.ok(!('medseg-state' in compose.volumes));
    assert.ok('medseg-db' in compose.volumes);
    assert.ok('trt-cache' in compose.volumes);
    // PostgreSQL: the image the Kubernetes StatefulSet runs, its data on a named volume, not published.
    const [, pgSet] = yamlDocuments('deploy/k8s/postgres.yaml') as Array<{
      spec: { template: { spec: { containers: Array<{ image: string }> } } };
    }>;
    assert.equal(postgres.image, pgSet.spec.template.spec.containers[0].image);
    assert.ok((postgres.volumes as string[]).includes('medseg-db:/var/lib/postgresql/data'));
    assert.equal(postgres.ports, undefined);
    assert.deepEqual((postgres.healthcheck as { test: string[] }).test.slice(0, 2), ['CMD', 'pg_isready']);
    // The gateway's health check reads a route it serves.
    const check = (gateway.healthcheck as { test: string[] }).test.join(' ');
    const route = check.match(/:\d+(\/[a-z]+)/)?.[1];
    assert.ok(route && gatewayRoutes().has(route), check);
  });

  it('a load balancer with a pinned Debian-based image spreads callers over every replica, health-checked', () => {
    assert.match(String(lb.image), /^haproxy:\d+\.\d+\.\d+-bookworm$/);
    assert.deepEqual(lb.ports, [`${GATEWAY_PORT}:${GATEWAY_PORT}`]);
    assert.deepEqual(lb.depends_on, { gateway: { condition: 'service_healthy' } });
    const mount = (lb.volumes as Obj[])[0];
    assert.equal(mount.read_only, true);
    assert.equal(mount.target, '/usr/local/etc/haproxy/haproxy.cfg');
    const cfg = readRepoFile(`deploy/${String(mount.source).replace(/^\.\//, '')}`);
    const lines = cfg.split('\n').map((l) => l.trim());
    assert.ok(lines.includes(`bind :${GATEWAY_PORT}`));
    // Every replica the DNS name resolves to, found again as replicas come and go.
    const server = lines.find((l) => l.startsWith('server-template '));
    assert.match(
      server ?? '',
      new RegExp(`^server-template gateway \\d+ gateway:${GATEWAY_PORT} check .*resolvers docker`),
    );
    const chk = lines
      .find((l) => l.startsWith('option httpchk '))
      ?.split(' ')
      .at(-1);
    assert.ok(chk && gatewayRoutes().has(chk), String(chk));
    // Affinity by caller (consistent hash), and subscriptions outlive the request timeouts.
    assert.ok(lines.includes('hash-type consistent'));
    assert.ok(lines.some((l) => /^balance hdr\(/.test(l)));
    assert.ok(lines.some((l) => /^timeout tunnel \d+h$/.test(l)));
  });
});
