/**
 * The KServe v2 conformance suite against a real NVIDIA Triton server: `TRITON_URL=host:8001 npm run test:triton`.
 * Deliberately not named *.test.ts, so plain `npm test` (no Triton) does not run it.
 *
 * The server must serve the conformance repository, written by `writeConformanceRepository(dir)` from
 * test/helpers/test-models.ts; run this file with `--write-repository DIR` to produce it, e.g.
 *
 *   node --import tsx test/integration/triton-conformance.ts --write-repository /tmp/conformance-models
 *   docker run --rm -p8001:8001 -v /tmp/conformance-models:/models nvcr.io/nvidia/tritonserver:<tag>-py3 \
 *     tritonserver --model-repository=/models --exit-on-error=false
 *   TRITON_URL=127.0.0.1:8001 npm run test:triton
 *
 * `--exit-on-error=false` keeps Triton up although two models are broken on purpose; it then reports them
 * UNAVAILABLE and, with its default strict readiness, ServerReady false, which is what the suite expects.
 */
import { it } from 'node:test';
import { writeConformanceRepository } from '../helpers/test-models.ts';
import { defineConformanceSuite } from './conformance.ts';

const writeAt = process.argv.indexOf('--write-repository');
if (writeAt >= 0) {
  const dir = process.argv[writeAt + 1];
  if (!dir) throw new Error('--write-repository needs a folder');
  writeConformanceRepository(dir);
  console.log(`conformance repository written to ${dir}`);
} else if (!process.env.TRITON_URL) {
  it('needs TRITON_URL (host:port of a Triton gRPC endpoint serving the conformance repository)', () => {
    throw new Error(
      'TRITON_URL is not set: start Triton on the conformance repository and set TRITON_URL=host:8001',
    );
  });
} else {
  const address = process.env.TRITON_URL;
  defineConformanceSuite(`Triton at ${address}`, async () => ({ address, cleanup: async () => {} }));
}
