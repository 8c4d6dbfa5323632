/**
 * `npm run bench [-- <suite> ...]`: runs benchmark suites and prints their figures. Benchmarks live apart
 * from tests: they print measurements and ratios measured side by side in one run and assert nothing.
 * Each suite is `test/bench/<name>.bench.ts` exporting `run(): Promise<void>`, and runs in a process of its
 * own: suites do not warm each other's caches, and one that loads ONNX Runtime in its main thread does not
 * stop another from hosting the embedded server in a worker thread (the binding loads once per process).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();

const [first, ...rest] = process.argv.slice(2);
if (first === '--run-one' && rest.length === 1) {
  // Child mode: run one suite in this process.
  const mod = (await import(pathToFileURL(join(here, `${rest[0]}.bench.ts`)).href)) as {
    run: () => Promise<void>;
  };
  await mod.run();
} else {
  const wanted = [first, ...rest].filter((w): w is string => w !== undefined);
  const unknown = wanted.filter((w) => !available.includes(w));
  if (unknown.length > 0) {
    console.error(`unknown benchmark suite(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
    process.exit(2);
  }
  let failed = 0;
  for (const name of wanted.length > 0 ? wanted : available) {
    console.log(`\n=== bench: ${name} ===`);
    const r = spawnSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), '--run-one', name],
      {
        stdio: 'inherit',
      },
    );
    if (r.status !== 0) {
      failed += 1;
      console.error(`bench ${name} exited with ${r.status ?? r.signal}`);
    }
  }
  process.exitCode = failed > 0 ? 1 : 0;
}
