import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';
import { CliError, type CliIo } from '../../../gateway/src/cli/command.ts';
import { createBenchCommand, parseShard, parseStrategies } from '../../../gateway/src/cli/commands/bench.ts';
import { main } from '../../../gateway/src/cli/main.ts';
import { createFakeSegmenter } from './fake-segmenter.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cardiac = resolve(repoRoot, '../shared/samples/mri-cardiac-cosmos');
const tmp = mkdtempSync(join(tmpdir(), 'medseg-cli-bench-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function capture(): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
  };
  return io;
}

const bench = createBenchCommand({
  createSegmenter: async () => ({ segmenter: createFakeSegmenter(), close: async () => {} }),
});

test('bench run on the cardiac MRI sample writes results; report renders html; datasets list shows it', async () => {
  const db = join(tmp, 'cli.sqlite');
  const out = join(tmp, 'results.json');
  const io = capture();
  const code = await bench.run(
    [
      'run',
      '--dataset',
      cardiac,
      '--model',
      'fake-sam',
      '--strategies',
      'S2,S5',
      '--modality',
      'MRI',
      '--classes',
      '85=left ventricle,170=myocardium,255=right ventricle',
      '--seed',
      '3',
      '--db',
      db,
      '--out',
      out,
      '--job',
      'cli-job',
    ],
    io,
  );
  assert.equal(code, 0, io.err);
  assert.match(io.err, /dataset mri-cardiac-cosmos: 5 images, 14 objects, 0 problem/);
  assert.match(io.out, /job cli-job completed: 28\/28 samples/);
  const json = JSON.parse(readFileSync(out, 'utf8')) as { job: { id: string }; rows: unknown[] };
  assert.equal(json.job.id, 'cli-job');
  assert.ok(json.rows.length > 0);

  const html = join(tmp, 'report.html');
  const io2 = capture();
  assert.equal(await bench.run(['report', 'cli-job', '--db', db, '--format', 'html', '--out', html], io2), 0);
  assert.match(readFileSync(html, 'utf8'), /<svg[^>]*>[\s\S]*Dice by modality and strategy/);
  const io3 = capture();
  assert.equal(await bench.run(['report', 'cli-job', '--db', db, '--format', 'csv'], io3), 0);
  assert.match(io3.out, /^job,model,strategy/);
  const io4 = capture();
  assert.equal(await bench.run(['datasets', 'list', '--db', db], io4), 0);
  assert.match(io4.out, /^mri-cardiac-cosmos\tcosmos\tMRI\t5 images\t14 objects/);

  // Resuming a completed job is a usage error.
  await assert.rejects(
    bench.run(['resume', 'cli-job', '--db', db], capture()),
    (e: unknown) => e instanceof CliError && e.exitCode === 2,
  );
  const store = new SqliteStore(db);
  assert.equal(await store.countSamples('cli-job'), 28);
  await store.close();
});

test('bench datasets add reports per-file problems', async () => {
  const io = capture();
  const db = join(tmp, 'ds.sqlite');
  const code = await bench.run(
    ['datasets', 'add', resolve(repoRoot, '../shared/samples/ct-multiorgan'), '--modality', 'CT', '--db', db],
    io,
  );
  assert.equal(code, 0);
  assert.match(io.out, /^ct-multiorgan: per-structure layout, CT, 4 images, 30 objects/);
});

test('bench usage errors exit 2 through medseg main: missing dir, bad strategy, bad shard, bad format', async () => {
  const db = join(tmp, 'err.sqlite');
  const cases: Array<[string[], RegExp]> = [
    [
      ['bench', 'run', '--dataset', join(tmp, 'nope'), '--model', 'm', '--db', db],
      /--dataset .*nope does not exist/,
    ],
    [
      ['bench', 'run', '--dataset', cardiac, '--model', 'm', '--strategies', 'S2,S9', '--db', db],
      /unknown strategy 'S9'/,
    ],
    [
      ['bench', 'run', '--dataset', cardiac, '--model', 'm', '--shard', '4/4', '--db', db],
      /--shard must be i\/N/,
    ],
    [['bench', 'run', '--dataset', cardiac, '--db', db], /--model is required/],
    [['bench', 'report', 'x', '--format', 'pdf', '--db', db], /--format must be one of md, csv, json, html/],
    [['bench', 'report', 'missing-job', '--db', db], /no job 'missing-job'/],
    [['bench', 'frobnicate'], /unknown sub-command 'frobnicate'/],
    [['bench', 'datasets', 'add', cardiac, '--db', db], /needs a class map/],
  ];
  for (const [argv, message] of cases) {
    const io = capture();
    assert.equal(await main(argv, io), 2, `${argv.join(' ')}: ${io.err}`);
    assert.match(io.err, message);
  }
});

test('parseShard and parseStrategies', () => {
  assert.deepEqual(parseShard('1/3'), { index: 1, count: 3 });
  assert.throws(() => parseShard('3/3'), CliError);
  assert.throws(() => parseShard('a/b'), CliError);
  assert.throws(() => parseShard('1/0'), CliError);
  assert.deepEqual(parseStrategies('s1, S5'), ['S1', 'S5']);
  assert.throws(() => parseStrategies('S1,X'), /unknown strategy 'X'/);
});
