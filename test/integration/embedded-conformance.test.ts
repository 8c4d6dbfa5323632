/** The KServe v2 conformance suite against the embedded server over the test-model repository. */
import { EmbeddedInferenceServer } from '../../gateway/src/embedded/grpc-server.ts';
import { createTestRepository } from '../helpers/test-models.ts';
import { defineConformanceSuite } from './conformance.ts';

defineConformanceSuite('embedded server', async () => {
  const repo = createTestRepository();
  const server = await EmbeddedInferenceServer.start({ repository: repo.dir, port: 0 });
  return {
    address: server.address,
    async cleanup() {
      await server.close();
      repo.cleanup();
    },
  };
});
