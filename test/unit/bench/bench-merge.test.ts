import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CliError, type CliIo } from '../../../gateway/src/cli/command.ts';
import { createBenchCommand } from '../../../gateway/src/cli/commands/bench.ts';
import { writeSyntheticDataset } from '../../helpers/synthetic-dataset.ts';
import { createFakeSegmenter } from './fake-segmenter.ts';

const tmp = mkdtempSync(join(tmpdir(), 'medseg-merge-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function capture(): CliIo & { out: string } {
  const io = {
    out: '',
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: () => {},
  };
  return io;
}

const bench = createBenchCommand({
  createSegmenter: async () => ({ segmenter: createFakeSegmenter(), close: async () => {} }),
});

test('bench merge: two shard files become one store without duplicates, reported as one run', async () => {
  const synth = writeSyntheticDataset({ dir: join(tmp, 'data'), images: 3, seed: 12 });
  for (const i of [0, 1]) {
    const code = await bench.run(
      [
        'run',
        '--dataset',
        synth.dir,
        '--model',
        'm',
        '--strategies',
        'S2,S5',
        '--shard',
        `${i}/2`,
        '--db',
        join(tmp, `shard-${i}.sqlite`),
        '--job',
        `shard-${i}`,
      ],
      capture(),
    );
    assert.equal(code, 0);
  }
  const into = join(tmp, 'all.sqlite');
  const shards = [join(tmp, 'shard-0.sqlite'), join(tmp, 'shard-1.sqlite')];
  const merged = capture();
  assert.equal(await bench.run(['merge', '--keep-jobs', '--db', into, ...shards], merged), 0);
  const total = synth.objects.length * 2;
  const added = [...merged.out.matchAll(/(\d+) job\(s\), (\d+) sample\(s\) added/g)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
  assert.equal(added.length, 2);
  assert.equal(added[0][1] + added[1][1], total);
  const again = capture();
  await bench.run(['merge', '--keep-jobs', '--db', into, ...shards], again);
  assert.match(
    again.out,
    /0 job\(s\), 0 sample\(s\) added[\s\S]*0 job\(s\), 0 sample\(s\) added/,
    'merging twice adds nothing',
  );
  const report = capture();
  assert.equal(await bench.run(['report', 'shard-0,shard-1', '--db', into, '--format', 'json'], report), 0);
  const json = JSON.parse(report.out) as { stored: number; job: { config: { shard: unknown } } };
  assert.equal(json.stored, total, 'one report covers both shards');
  assert.equal(json.job.config.shard, null);
  // Shards of different runs, or one shard twice, are not one run.
  await assert.rejects(bench.run(['report', 'shard-0,nope', '--db', into], capture()), /no job 'nope'/);
});

test('bench merge: bad inputs are usage errors', async () => {
  const text = join(tmp, 'not-a-db.sqlite');
  writeFileSync(text, 'hello, this is not SQLite at all '.repeat(40));
  const into = join(tmp, 'into.sqlite');
  const usage = (e: unknown) => e instanceof CliError;
  await assert.rejects(bench.run(['merge', '--keep-jobs', '--db', into], capture()), usage);
  await assert.rejects(
    bench.run(['merge', '--keep-jobs', '--db', into, join(tmp, 'missing.sqlite')], capture()),
    /does not exist/,
  );
  await assert.rejects(
    bench.run(['merge', '--keep-jobs', '--db', into, text], capture()),
    /not a medseg SQLite store/,
  );
  await assert.rejects(
    bench.run(['merge', '--keep-jobs', '--db', 'postgres://u@h/db', text], capture()),
    /SQLite --db file/,
  );
});
