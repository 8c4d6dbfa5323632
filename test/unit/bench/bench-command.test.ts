import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';
import { registerDataset } from '../../../gateway/src/bench/datasets/registry.ts';
import { normalizeConfig } from '../../../gateway/src/bench/runner.ts';
import { CliError, type CliIo } from '../../../gateway/src/cli/command.ts';
import {
  createBenchCommand,
  formatRate,
  parseShard,
  parseStrategies,
} from '../../../gateway/src/cli/commands/bench.ts';
import { main } from '../../../gateway/src/cli/main.ts';
import { createFakeSegmenter } from './fake-segmenter.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { writeSyntheticDataset } from '../../helpers/synthetic-dataset.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cardiac = resolve(repoRoot, '../shared/samples/mri-cardiac-cosmos');
const tmp = tempDir('medseg-cli-bench-');
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

test('bench run without --model measures the default model (DEFAULT_MODEL, mobilesam)', async () => {
  const db = join(tmp, 'default-model.sqlite');
  const io = capture();
  const code = await bench.run(
    ['run', '--dataset', cardiac, '--strategies', 'S5', '--classes', '85=LV', '--db', db, '--job', 'dm'],
    io,
  );
  assert.equal(code, 0, io.err);
  const store = new SqliteStore(db);
  try {
    assert.deepEqual((await store.getJob('dm'))?.config.models, ['mobilesam']);
  } finally {
    await store.close();
  }
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
    [['bench', 'run', '--dataset', cardiac, '--model', ' , ', '--db', db], /--model names no model/],
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

test('sharded runs merge into one job whose report covers every object; bench jobs and report latest', async () => {
  const synth = writeSyntheticDataset({ dir: join(tmp, 'merge-data'), images: 4, seed: 9 });
  const shardDb = (i: number) => join(tmp, `shard-${i}.sqlite`);
  for (const i of [0, 1, 2]) {
    const io = capture();
    const argv = [
      'run',
      '--dataset',
      synth.dir,
      '--model',
      'fake-sam',
      '--strategies',
      'S2,S5',
      '--seed',
      '1',
    ];
    assert.equal(await bench.run([...argv, '--shard', `${i}/3`, '--db', shardDb(i)], io), 0, io.err);
  }
  const whole = join(tmp, 'unsharded.sqlite');
  const io0 = capture();
  const unshardedArgs = [
    'run',
    '--dataset',
    synth.dir,
    '--model',
    'fake-sam',
    '--strategies',
    'S2,S5',
    '--seed',
    '1',
  ];
  assert.equal(await bench.run([...unshardedArgs, '--db', whole, '--job', 'whole'], io0), 0, io0.err);

  // Two of three shards: merged, but not reported as complete.
  const partial = capture();
  assert.equal(
    await bench.run(
      ['merge', shardDb(0), shardDb(2), '--db', join(tmp, 'partial.sqlite'), '--job', 'p'],
      partial,
    ),
    1,
  );
  assert.match(partial.out, /job p failed: shards 0,2 of 3, .*shards missing: 1 of 3/);

  const merged = join(tmp, 'merged.sqlite');
  const out = join(tmp, 'nested', 'out', 'merged.json');
  const io = capture();
  const code = await bench.run(
    ['merge', shardDb(0), shardDb(1), shardDb(2), '--db', merged, '--job', 'm', '--out', out],
    io,
  );
  assert.equal(code, 0, io.err);
  assert.match(io.out, /job m completed: shards 0,1,2 of 3, 24 samples/);
  const store = new SqliteStore(merged);
  const reference = new SqliteStore(whole);
  try {
    assert.equal((await store.getJob('m'))!.total, (await reference.getJob('whole'))!.total);
    const key = (r: { model: string; strategy: string; objectId: string; oracle: unknown }) =>
      JSON.stringify([r.model, r.strategy, r.objectId, r.oracle]);
    // The merged samples are exactly the unsharded run's samples.
    assert.deepEqual(
      (await store.listSamples('m')).map(key).sort(),
      (await reference.listSamples('whole')).map(key).sort(),
    );
  } finally {
    await store.close();
    await reference.close();
  }
  const report = JSON.parse(readFileSync(out, 'utf8')) as { job: { id: string } };
  assert.equal(report.job.id, 'm');

  // The same shard twice, a shard of another benchmark, and a file that is not a store are refused.
  const refusals: Array<[string[], RegExp]> = [
    [[shardDb(0), shardDb(0)], /given twice/],
    [[shardDb(0), whole], /not sharded|sharded jobs/],
    [[join(tmp, 'nope.sqlite')], /no such file/],
  ];
  for (const [files, message] of refusals) {
    const e = capture();
    assert.equal(await main(['bench', 'merge', ...files, '--db', join(tmp, 'refused.sqlite')], e), 2, e.err);
    assert.match(e.err, message);
  }

  const jobs = capture();
  assert.equal(await bench.run(['jobs', '--db', merged], jobs), 0);
  assert.match(jobs.out, /^m\tcompleted\t24\/24 samples\t/m);
  const latest = capture();
  assert.equal(await bench.run(['report', 'latest', '--db', shardDb(1), '--format', 'csv'], latest), 0);
  assert.match(latest.err, /latest job: \S+ \(completed\)/);
  assert.match(latest.out, /^job,model,strategy/);
  const empty = capture();
  assert.equal(await main(['bench', 'report', 'latest', '--db', join(tmp, 'empty.sqlite')], empty), 2);
  assert.match(empty.err, /no job stored/);
});

test('progress shows seconds per sample for slow jobs, never 0.0/s', () => {
  assert.equal(formatRate(12.345), '12.3 samples/s');
  assert.equal(formatRate(0.04), '25 s/sample');
  assert.equal(formatRate(0.5), '2.0 s/sample');
  assert.equal(formatRate(0), 'rate ?');
  assert.doesNotMatch(formatRate(0.001), /0\.0/);
});

test('bench run and resume obey MAX_BENCHMARK_JOBS: exit 1 with the reason; resume of all leaves the excess queued', async () => {
  const db = join(tmp, 'limit.sqlite');
  const store = new SqliteStore(db);
  await registerDataset(store, cardiac, { id: 'heart', classes: { '85': 'LV' } });
  const config = normalizeConfig({ dataset: 'heart', models: ['m'], strategies: ['S5'] });
  // A job left running by a crashed run, and two queued ones.
  for (const id of ['crashed', 'queued-a', 'queued-b']) await store.createJob(id, config);
  await store.setJobStatus('crashed', 'running');
  await store.close();
  const saved = process.env.MAX_BENCHMARK_JOBS;
  process.env.MAX_BENCHMARK_JOBS = '1';
  try {
    const refused = capture();
    const run = ['run', '--dataset', cardiac, '--classes', '85=LV', '--model', 'm', '--strategies', 'S5'];
    assert.equal(await main(['bench', ...run, '--db', db, '--job', 'new'], refused), 1);
    assert.match(refused.err, /1 benchmark jobs are running \(limit 1, MAX_BENCHMARK_JOBS\)/);
    const resumeOne = capture();
    assert.equal(await main(['bench', 'resume', 'queued-a', '--db', db], resumeOne), 1);
    assert.match(resumeOne.err, /limit 1, MAX_BENCHMARK_JOBS/);
    // Resuming every interrupted job: the crashed one counts already and runs; the queued ones wait for it.
    const all = capture();
    assert.equal(await bench.run(['resume', '--db', db], all), 0, all.err);
    assert.match(all.err, /job queued-a stays queued: 1 benchmark jobs are running/);
    assert.match(all.err, /job queued-b stays queued/);
    // With the crashed job done, one queued job at a time may run again.
    const next = capture();
    assert.equal(await bench.run(['resume', 'queued-a', '--db', db], next), 0, next.err);
    const check = new SqliteStore(db);
    try {
      assert.equal(await check.getJob('new'), undefined, 'the refused run stored no job');
      assert.equal((await check.getJob('crashed'))?.status, 'completed');
      assert.equal((await check.getJob('queued-a'))?.status, 'completed');
      assert.equal((await check.getJob('queued-b'))?.status, 'queued');
    } finally {
      await check.close();
    }
  } finally {
    if (saved === undefined) delete process.env.MAX_BENCHMARK_JOBS;
    else process.env.MAX_BENCHMARK_JOBS = saved;
  }
});
