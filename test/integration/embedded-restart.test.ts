/**
 * A client survives a server restart: calls fail fast with BACKEND_UNAVAILABLE while the server is down (no
 * hang until the deadline), and the same client succeeds again within a few seconds once a server listens
 * on the same port again.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { EmbeddedInferenceServer } from '../../gateway/src/embedded/grpc-server.ts';
import { InferenceError } from '../../gateway/src/inference/errors.ts';
import { KServeClient } from '../../gateway/src/inference/kserve-client.ts';
import type { InferRequest } from '../../gateway/src/inference/types.ts';
import { createTestRepository, identityModel } from '../helpers/test-models.ts';

let repo: ReturnType<typeof createTestRepository>;
before(() => {
  repo = createTestRepository();
});
after(() => repo.cleanup());

const request: InferRequest = {
  modelName: identityModel('FP32'),
  inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [2], data: Float32Array.from([1, 2]) }],
};

it('recovers by itself after the server restarts on the same port', async () => {
  let server = await EmbeddedInferenceServer.start({ repository: repo.dir, port: 0 });
  const port = server.port;
  const client = KServeClient.connect(server.address, { deadlineMs: 10_000 });
  try {
    assert.deepEqual([...((await client.infer(request)).outputs[0].data as Float32Array)], [1, 2]);
    await server.close();

    const t0 = Date.now();
    const err = await client.infer(request).then(
      () => assert.fail('expected a failure while the server is down'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof InferenceError);
    assert.equal(err.code, 'BACKEND_UNAVAILABLE', err.message);
    assert.ok(Date.now() - t0 < 5000, `failed after ${Date.now() - t0} ms, expected fast`);

    server = await EmbeddedInferenceServer.start({ repository: repo.dir, port });
    const deadline = Date.now() + 5000;
    let answer: Float32Array | undefined;
    while (!answer) {
      try {
        answer = (await client.infer(request)).outputs[0].data as Float32Array;
      } catch (e: unknown) {
        if (!(e instanceof InferenceError) || e.code !== 'BACKEND_UNAVAILABLE' || Date.now() > deadline)
          throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.deepEqual([...answer], [1, 2]);
  } finally {
    client.close();
    await server.close();
  }
});
