/**
 * A client survives a server restart: calls fail with BACKEND_UNAVAILABLE while the server is down (not a
 * hang until the deadline, which would be DEADLINE_EXCEEDED), and the same client succeeds again once a
 * server listens on the same port again.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { EmbeddedInferenceServer } from '../../gateway/src/embedded/grpc-server.ts';
import { InferenceError } from '../../gateway/src/inference/errors.ts';
import { KServeClient } from '../../gateway/src/inference/kserve-client.ts';
import type { InferRequest } from '../../gateway/src/protocol/types.ts';
import { createTestRepository, identityModel } from '../helpers/test-models.ts';
import { GENEROUS_MS } from '../helpers/wait.ts';

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
  const client = KServeClient.connect(server.address, { deadlineMs: 300_000 });
  try {
    assert.deepEqual([...((await client.infer(request)).outputs[0].data as Float32Array)], [1, 2]);
    await server.close();

    // With a deadline of minutes, BACKEND_UNAVAILABLE (not DEADLINE_EXCEEDED) shows the call failed at once.
    const err = await client.infer(request).then(
      () => assert.fail('expected a failure while the server is down'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof InferenceError);
    assert.equal(err.code, 'BACKEND_UNAVAILABLE', err.message);

    server = await EmbeddedInferenceServer.start({ repository: repo.dir, port });
    const deadline = Date.now() + GENEROUS_MS;
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
