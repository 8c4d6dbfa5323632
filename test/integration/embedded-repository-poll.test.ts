/**
 * Repository polling of the embedded server: a model folder renamed into the repository while the server
 * runs is served without a restart (as Triton's --model-control-mode=poll), hidden folders are never read,
 * and an ensemble whose step arrives later starts serving once the step is there.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EmbeddedInferenceServer } from '../../gateway/src/embedded/grpc-server.ts';
import { KServeClient } from '../../gateway/src/inference/kserve-client.ts';
import { batchAffineConfig, batchAffineOnnx, createTestRepository } from '../helpers/test-models.ts';

let repo: { dir: string; cleanup: () => void };
let server: EmbeddedInferenceServer;
let client: KServeClient;

before(async () => {
  repo = createTestRepository();
  server = await EmbeddedInferenceServer.start({ repository: repo.dir, repositoryPollMs: 100 });
  client = KServeClient.connect(server.address);
});
after(async () => {
  client.close();
  await server.close();
  repo.cleanup();
});

async function until(what: string, check: () => Promise<boolean>, deadlineMs = 60_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function stage(name: string): string {
  const dir = join(repo.dir, `.staging-${name}`);
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'config.pbtxt'), batchAffineConfig(name, false));
  writeFileSync(join(dir, '1', 'model.onnx'), batchAffineOnnx());
  return dir;
}

test('a model folder renamed into the repository serves without a restart; a hidden folder is never loaded', async () => {
  const staged = stage('late_affine');
  // Staged under a hidden name: several polls pass and it stays unknown.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(
    (await client.repositoryIndex()).some((m) => m.name.includes('late_affine')),
    false,
  );
  renameSync(staged, join(repo.dir, 'late_affine'));
  await until('late_affine to be ready', () => client.modelReady('late_affine'));
  const out = await client.infer({
    modelName: 'late_affine',
    inputs: [
      { name: 'X', datatype: 'FP32', shape: [1, 4], data: Float32Array.from([1, 2, 3, 4]) },
      { name: 'SCALE', datatype: 'FP32', shape: [1, 1], data: Float32Array.from([2]) },
    ],
  });
  assert.deepEqual([...(out.outputs[0].data as Float32Array)], [12, 14, 16, 18]);
});

test('an ensemble that arrives before its step model serves once the step arrives', async () => {
  const ens = join(repo.dir, '.staging-late_ensemble');
  mkdirSync(join(ens, '1'), { recursive: true });
  writeFileSync(
    join(ens, 'config.pbtxt'),
    `name: "late_ensemble"
platform: "ensemble"
max_batch_size: 8
input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] }, { name: "SCALE" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
ensemble_scheduling { step [ { model_name: "later_affine" model_version: -1
  input_map { key: "X" value: "X" } input_map { key: "SCALE" value: "SCALE" } output_map { key: "Y" value: "Y" } } ] }
`,
  );
  renameSync(ens, join(repo.dir, 'late_ensemble'));
  await until('late_ensemble to be listed', async () =>
    (await client.repositoryIndex()).some((m) => m.name === 'late_ensemble'),
  );
  assert.equal(await client.modelReady('late_ensemble'), false);
  renameSync(stage('later_affine'), join(repo.dir, 'later_affine'));
  await until('late_ensemble to be ready', () => client.modelReady('late_ensemble'));
});
