/**
 * The deployment listens beyond loopback, which the gateway allows only with credentials: the ConfigMap's
 * settings must start a gateway once the mounted key file exists, and must be refused without it.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ApiKeyStore } from '../../../gateway/src/security/api-keys.ts';
import { ConfigError, loadConfig } from '../../../gateway/src/config.ts';
import { yamlDocuments } from './deploy-facts.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

function configMapEnv(): Record<string, string> {
  const [cm] = yamlDocuments('deploy/k8s/configmap.yaml');
  return (cm as { data: Record<string, string> }).data;
}

test('the ConfigMap binds 0.0.0.0 and names a key file that the Deployment mounts from a Secret', () => {
  const env = configMapEnv();
  assert.equal(env.HOST, '0.0.0.0');
  assert.ok(env.API_KEYS_FILE, 'API_KEYS_FILE is set');
  const [deployment] = yamlDocuments('deploy/k8s/gateway-deployment.yaml') as Array<{
    spec: {
      template: {
        spec: {
          containers: Array<{ volumeMounts: Array<{ name: string; mountPath: string }> }>;
          volumes: Array<{ name: string; secret?: { secretName: string } }>;
        };
      };
    };
  }>;
  const pod = deployment.spec.template.spec;
  const mount = pod.containers[0].volumeMounts.find((m) => m.mountPath === dirname(env.API_KEYS_FILE));
  assert.ok(mount, `a volume is mounted at ${dirname(env.API_KEYS_FILE)}`);
  assert.ok(pod.volumes.find((v) => v.name === mount.name)?.secret?.secretName, 'it comes from a Secret');
});

test('those settings start with a key file and are refused without one', () => {
  const dir = tempDir('medseg-deploy-keys-');
  const env = { ...configMapEnv(), STATE_DIR: join(dir, 'state'), API_KEYS_FILE: join(dir, 'api-keys.json') };
  assert.throws(
    () => loadConfig(env),
    (e: unknown) => e instanceof ConfigError && /0\.0\.0\.0/.test(e.message),
  );
  new ApiKeyStore(env.API_KEYS_FILE).create('ops', ['admin']);
  const config = loadConfig(env);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.tritonUrl, 'triton:8001');
});
