import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseModelConfig } from '../../../gateway/src/embedded/pbtxt-parser.ts';
import {
  GATEWAY_PORT,
  TRITON,
  gatewayEnvNames,
  gatewayRoutes,
  readRepoFile,
  repoRoot,
  yamlDocuments,
} from './deploy-facts.ts';

// Loose views of the manifests: the tests assert on the fields they read.
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const dir = 'deploy/k8s';
const files = readdirSync(path.join(repoRoot, dir))
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const byFile = new Map(files.map((f) => [f, yamlDocuments(`${dir}/${f}`) as Obj[]]));
const resources = [...byFile.entries()]
  .filter(([f]) => f !== 'kustomization.yaml')
  .flatMap(([, docs]) => docs);

function find(kind: string, name: string): Obj {
  const r = resources.find((x) => x.kind === kind && x.metadata?.name === name);
  assert.ok(r, `${kind}/${name} not found in ${dir}`);
  return r;
}

function container(workload: Obj): Obj {
  const containers = workload.spec.template.spec.containers as Obj[];
  assert.equal(containers.length, 1);
  return containers[0];
}

const compose = yamlDocuments('deploy/compose.yaml')[0] as Obj;
const triton = find('Deployment', 'triton');
const tritonService = find('Service', 'triton');
const gateway = find('Deployment', 'medseg-gateway');
const gatewayService = find('Service', 'medseg-gateway');
const configMap = find('ConfigMap', 'medseg-gateway');
const job = find('Job', 'medseg-bench');
const finetuneJob = find('Job', 'medseg-finetune');

describe('deploy/k8s manifests', () => {
  it('replicas share one PostgreSQL: a StatefulSet on a persistent volume, its Service, the URL from a Secret', () => {
    const pgSet = find('StatefulSet', 'medseg-postgres');
    const pgService = find('Service', 'medseg-postgres');
    assert.deepEqual(pgService.spec.selector, pgSet.spec.template.metadata.labels);
    assert.equal(pgService.spec.ports[0].port, 5432);
    assert.equal(pgSet.spec.serviceName, pgService.metadata.name);
    const pgc = container(pgSet);
    assert.match(pgc.image, /^postgres:\d+\.\d+-bookworm$/, 'a pinned PostgreSQL image');
    assert.equal(pgSet.spec.volumeClaimTemplates[0].metadata.name, pgc.volumeMounts[0].name);
    assert.ok(pgc.readinessProbe.exec.command.includes('pg_isready'));
    // The gateway reads DATABASE_URL (config.ts) from the Secret the StatefulSet's comments describe.
    assert.ok(gatewayEnvNames().has('DATABASE_URL'));
    const env = container(gateway).env as Obj[];
    assert.deepEqual(env.find((e) => e.name === 'DATABASE_URL')?.valueFrom, {
      secretKeyRef: { name: 'medseg-database', key: 'url' },
    });
    assert.equal(configMap.data.DATABASE_URL, undefined, 'credentials never sit in the ConfigMap');
    // Readiness is the route that pings the store.
    assert.equal(container(gateway).readinessProbe.httpGet.path, '/readyz');
    assert.match(readRepoFile('gateway/src/main.ts'), /store\.ping\(\)/);
  });

  it('a PodDisruptionBudget keeps a gateway replica up through voluntary disruptions', () => {
    const pdb = find('PodDisruptionBudget', 'medseg-gateway');
    assert.equal(pdb.apiVersion, 'policy/v1');
    assert.deepEqual(pdb.spec.selector.matchLabels, gateway.spec.template.metadata.labels);
    assert.ok(pdb.spec.minAvailable >= 1);
    assert.ok(find('HorizontalPodAutoscaler', 'medseg-gateway').spec.minReplicas > pdb.spec.minAvailable);
  });

  it('every file parses and every document names its apiVersion, kind and metadata.name', () => {
    assert.ok(files.length >= 9, files.join());
    for (const doc of resources) {
      assert.equal(typeof doc.apiVersion, 'string');
      assert.equal(typeof doc.kind, 'string');
      assert.equal(typeof doc.metadata?.name, 'string', JSON.stringify(doc).slice(0, 80));
    }
  });

  it('the kustomization lists every manifest but the benchmark and fine-tuning Jobs', () => {
    const kustomization = byFile.get('kustomization.yaml')?.[0];
    assert.ok(kustomization);
    const jobs = ['bench-job.yaml', 'finetune-job.yaml'];
    const expected = files.filter((f) => f !== 'kustomization.yaml' && !jobs.includes(f));
    assert.deepEqual([...kustomization.resources].sort(), expected);
  });

  it('Triton: pinned image as in compose, one GPU, KServe v2 probes on 8000, repository from a PVC', () => {
    const c = container(triton);
    assert.match(c.image, TRITON.image);
    assert.equal(c.image, compose.services.triton.image);
    assert.deepEqual([c.command[0], ...c.args], compose.services.triton.command);
    assert.equal(c.resources.limits['nvidia.com/gpu'], 1);
    assert.deepEqual(
      c.ports.map((p: Obj) => p.containerPort),
      [TRITON.httpPort, TRITON.grpcPort, TRITON.metricsPort],
    );
    assert.deepEqual(c.readinessProbe.httpGet, { path: TRITON.ready, port: TRITON.httpPort });
    assert.deepEqual(c.livenessProbe.httpGet, { path: TRITON.live, port: TRITON.httpPort });
    assert.deepEqual(c.startupProbe.httpGet, { path: TRITON.ready, port: TRITON.httpPort });
    const mount = c.volumeMounts.find((m: Obj) => m.mountPath === '/models');
    assert.equal(mount.readOnly, true);
    const volume = triton.spec.template.spec.volumes.find((v: Obj) => v.name === mount.name);
    assert.equal(volume.persistentVolumeClaim.claimName, 'medseg-models');
  });

  it('Triton mounts a writable /trt-cache where the encoder configs cache TensorRT engines', () => {
    const config = parseModelConfig(readRepoFile('triton-models/sam_vit_b_encoder/config.pbtxt'));
    const trt = config.optimization?.executionAccelerators?.gpuExecutionAccelerator?.[0];
    assert.equal(trt?.name, 'tensorrt');
    const cachePath = trt?.parameters.trt_engine_cache_path;
    assert.ok(cachePath);
    const mount = container(triton).volumeMounts.find((m: Obj) => m.mountPath === cachePath);
    assert.ok(mount && !mount.readOnly, `no writable mount at ${cachePath}`);
    assert.ok(compose.services.triton.volumes.includes(`trt-cache:${cachePath}`));
  });

  it('Triton Service exposes 8000, 8001 and 8002 and selects the Triton pods', () => {
    assert.deepEqual(
      tritonService.spec.ports.map((p: Obj) => [p.port, p.targetPort]),
      [
        [TRITON.httpPort, TRITON.httpPort],
        [TRITON.grpcPort, TRITON.grpcPort],
        [TRITON.metricsPort, TRITON.metricsPort],
      ],
    );
    assert.deepEqual(tritonService.spec.selector, triton.spec.template.metadata.labels);
  });

  it('gateway: image as in compose, probes on routes the gateway serves, env from the ConfigMap', () => {
    const c = container(gateway);
    assert.equal(c.image, compose.services.gateway.image);
    const routes = gatewayRoutes();
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: GATEWAY_PORT });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: GATEWAY_PORT });
    assert.ok(routes.has('/readyz') && routes.has('/healthz'), [...routes].join());
    // Prometheus scrapes the gateway's own /metrics route on the same port.
    const annotations = gateway.spec.template.metadata.annotations;
    assert.ok(routes.has(annotations['prometheus.io/path']), annotations['prometheus.io/path']);
    assert.equal(annotations['prometheus.io/port'], String(GATEWAY_PORT));
    assert.deepEqual(c.envFrom, [{ configMapRef: { name: configMap.metadata.name } }]);
    assert.deepEqual(
      c.ports.map((p: Obj) => p.containerPort),
      [GATEWAY_PORT],
    );
    assert.equal(gateway.spec.template.spec.securityContext.runAsNonRoot, true);
    assert.deepEqual(gateway.spec.selector.matchLabels, gateway.spec.template.metadata.labels);
  });

  it("the ConfigMap sets only variables config.ts reads, with Triton's gRPC Service address", () => {
    const known = gatewayEnvNames();
    for (const key of Object.keys(configMap.data))
      assert.ok(known.has(key), `${key} is not read by config.ts`);
    assert.equal(configMap.data.TRITON_URL, `${tritonService.metadata.name}:${TRITON.grpcPort}`);
    assert.equal(configMap.data.PORT, String(GATEWAY_PORT));
    assert.equal(configMap.data.HOST, '0.0.0.0');
    for (const value of Object.values(configMap.data)) assert.equal(typeof value, 'string');
    // DATA_ROOTS and STATE_DIR point at mounted volumes.
    const mounts = container(gateway).volumeMounts.map((m: Obj) => m.mountPath);
    assert.ok(mounts.includes(configMap.data.DATA_ROOTS));
    assert.ok(mounts.includes(configMap.data.STATE_DIR));
  });

  it('gateway Service and HorizontalPodAutoscaler (autoscaling/v2, CPU) target the gateway', () => {
    assert.deepEqual(gatewayService.spec.ports, [
      { name: 'http', port: GATEWAY_PORT, targetPort: GATEWAY_PORT },
    ]);
    assert.deepEqual(gatewayService.spec.selector, gateway.spec.template.metadata.labels);
    const hpa = find('HorizontalPodAutoscaler', 'medseg-gateway');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'medseg-gateway',
    });
    assert.equal(hpa.spec.metrics[0].resource.name, 'cpu');
    assert.ok(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
    // Utilization targets are relative to the CPU request, which must therefore be set.
    assert.ok(container(gateway).resources.requests.cpu);
  });

  it('the Ingress routes to the gateway Service with caller affinity for the embedding cache, and says why', () => {
    const ingress = find('Ingress', 'medseg-gateway');
    assert.equal(ingress.apiVersion, 'networking.k8s.io/v1');
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    assert.deepEqual(backend, { name: gatewayService.metadata.name, port: { number: GATEWAY_PORT } });
    const a = ingress.metadata.annotations;
    assert.equal(a['nginx.ingress.kubernetes.io/upstream-hash-by'], '$http_authorization');
    assert.ok(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 600, 'subscriptions stay open');
    assert.match(readRepoFile('deploy/k8s/gateway-ingress.yaml'), /embedding cache/);
    // Affinity lives at the ingress: behind it, ClientIP affinity on the Service would pin everything to one pod.
    assert.equal(gatewayService.spec.sessionAffinity, 'None');
  });

  it('every persistentVolumeClaim a pod uses is declared', () => {
    const claims = new Set(
      resources.filter((r) => r.kind === 'PersistentVolumeClaim').map((r) => r.metadata.name as string),
    );
    assert.ok(claims.has('medseg-results'));
    for (const w of [triton, gateway, job]) {
      for (const v of w.spec.template.spec.volumes ?? []) {
        if (v.persistentVolumeClaim) assert.ok(claims.has(v.persistentVolumeClaim.claimName), v.name);
      }
    }
  });

  it('the benchmark is an Indexed Job whose shards match its completions and write to the shared PVC', () => {
    assert.equal(job.apiVersion, 'batch/v1');
    assert.equal(job.spec.completionMode, 'Indexed');
    const n = job.spec.completions as number;
    assert.ok(n >= 2 && job.spec.parallelism <= n);
    const c = container(job);
    assert.deepEqual(c.args.slice(0, 2), ['bench', 'run']);
    const shard = c.args[c.args.indexOf('--shard') + 1];
    assert.equal(shard, `$(JOB_COMPLETION_INDEX)/${n}`);
    assert.equal(c.image, compose.services.gateway.image);
    assert.equal(job.spec.template.spec.restartPolicy, 'Never');
    // Every flag is one `medseg bench run` documents, and its store lives on the shared volume per shard.
    const usage = readRepoFile('gateway/src/cli/commands/bench.ts');
    const runUsage = usage.slice(usage.indexOf('  run --dataset'), usage.indexOf('  resume ['));
    for (const flag of c.args.filter((a: string) => a.startsWith('--'))) {
      assert.ok(runUsage.includes(flag), `${flag} is not a 'medseg bench run' option`);
    }
    // Every shard writes to the shared PostgreSQL under a job id of its own, so a replaced pod resumes it.
    assert.equal(c.args[c.args.indexOf('--db') + 1], '$(DATABASE_URL)');
    assert.equal(c.args[c.args.indexOf('--job') + 1], 'medseg-bench-shard-$(JOB_COMPLETION_INDEX)');
    const jobEnv = c.env as Obj[];
    assert.deepEqual(jobEnv[0], {
      name: 'DATABASE_URL',
      valueFrom: { secretKeyRef: { name: 'medseg-database', key: 'url' } },
    });
    assert.equal(c.args[c.args.indexOf('--triton-url') + 1], '$(TRITON_URL)');
    assert.ok('TRITON_URL' in configMap.data);
    const results = job.spec.template.spec.volumes.find(
      (v: Obj) => v.persistentVolumeClaim?.claimName === 'medseg-results',
    );
    const mount = c.volumeMounts.find((m: Obj) => m.name === results.name);
    const env = c.env as Obj[];
    const stateDir = env.find((e) => e.name === 'STATE_DIR')?.value as string;
    assert.ok(stateDir.startsWith(mount.mountPath + '/'), stateDir);
    // A $(VAR) in an env value expands only from variables declared before it.
    const refs = [...stateDir.matchAll(/\$\(([A-Z_]+)\)/g)].map((m) => m[1]);
    const before = env
      .slice(
        0,
        env.findIndex((e) => e.name === 'STATE_DIR'),
      )
      .map((e) => e.name);
    for (const r of refs) assert.ok(before.includes(r), `${r} is not declared before STATE_DIR`);
    const known = gatewayEnvNames();
    for (const e of env) assert.ok(known.has(e.name) || e.name === 'SHARD_INDEX', e.name);
    assert.deepEqual(c.envFrom, [{ configMapRef: { name: configMap.metadata.name } }]);
  });
  it('fine-tuning Job: a GPU, the model repository writable, datasets read-only, state on the results volume', () => {
    const c = container(finetuneJob);
    assert.equal(c.resources.limits['nvidia.com/gpu'], 1);
    const volumes = finetuneJob.spec.template.spec.volumes as Obj[];
    const claim = (mountPath: string) => {
      const m = c.volumeMounts.find((x: Obj) => x.mountPath === mountPath);
      assert.ok(m, `no mount at ${mountPath}`);
      return {
        claim: volumes.find((v) => v.name === m.name)?.persistentVolumeClaim.claimName,
        readOnly: !!m.readOnly,
      };
    };
    const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value]));
    // The same volume Triton serves, mounted where MODEL_REPOSITORY points, and writable.
    assert.deepEqual(claim(env.MODEL_REPOSITORY), { claim: 'medseg-models', readOnly: false });
    assert.deepEqual(claim('/data'), { claim: 'medseg-datasets', readOnly: true });
    assert.ok(env.STATE_DIR.startsWith('/results/'));
    assert.equal(claim('/results').claim, 'medseg-results');
    assert.match(c.args.join(' '), /finetune resume .*\|\| node gateway\/bin\/medseg.js finetune --dataset/);
    assert.deepEqual(c.envFrom, [{ configMapRef: { name: configMap.metadata.name } }]);
  });
});
