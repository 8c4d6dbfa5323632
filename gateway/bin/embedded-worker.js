// Worker-thread entry of the embedded inference servers: registers tsx in this thread, then runs the
// TypeScript host. Plain JavaScript so that it loads the same way under `node --import tsx` and under the bin.
import { register } from 'tsx/esm/api';

register();
await import('../src/embedded/worker-host.ts');
