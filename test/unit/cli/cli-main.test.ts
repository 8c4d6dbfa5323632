/** `medseg` entry point: --help on every command and sub-command, --version, and usage errors that read well. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { CliIo } from '../../../gateway/src/cli/command.ts';
import { main } from '../../../gateway/src/cli/main.ts';

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

const HELP_CASES = [
  ['bench'],
  ['bench', 'run'],
  ['bench', 'report'],
  ['bench', 'resume'],
  ['bench', 'jobs'],
  ['bench', 'merge'],
  ['bench', 'datasets'],
  ['bench', 'datasets', 'add'],
  ['bench', 'datasets', 'list'],
  ['keys'],
  ['keys', 'create'],
  ['keys', 'list'],
  ['keys', 'revoke'],
  ['rle'],
  ['rle', 'encode'],
  ['rle', 'decode'],
  ['models'],
  ['models', 'generate'],
  ['models', 'check'],
  ['segment'],
  ['metrics'],
  ['prompts'],
  ['infer'],
  ['start'],
  ['serve-models'],
];

test('--help and -h print the usage and exit 0 on every command and sub-command, wherever they stand', async () => {
  for (const argv of HELP_CASES) {
    for (const flag of ['--help', '-h']) {
      const io = capture();
      assert.equal(await main([...argv, flag], io), 0, `${argv.join(' ')} ${flag}: ${io.err}`);
      assert.match(io.out, /^usage: medseg /, argv.join(' '));
      assert.equal(io.err, '', argv.join(' '));
    }
  }
  // After other flags too.
  const io = capture();
  assert.equal(await main(['bench', 'run', '--model', 'm', '--help'], io), 0);
  assert.match(io.out, /usage: medseg bench/);
});

test('--version prints the package version', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  for (const flag of ['--version', '-V']) {
    const io = capture();
    assert.equal(await main([flag], io), 0);
    assert.equal(io.out, `medseg ${version}\n`);
  }
});

test('usage errors exit 2 with balanced quotes and the usage text', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['bench', 'run', '--bogus'], /unknown option '--bogus'/],
    [['keys', 'create', '--nope'], /unknown option '--nope'/],
    [['segment', '--image'], /option '--image' needs a value/],
    [['metrics', 'stray'], /unexpected argument 'stray'/],
  ];
  for (const [argv, message] of cases) {
    const io = capture();
    assert.equal(await main(argv, io), 2, argv.join(' '));
    assert.match(io.err, message);
    const firstLine = io.err.split('\n')[0];
    assert.equal((firstLine.match(/'/g) ?? []).length % 2, 0, `unbalanced quotes: ${firstLine}`);
    assert.match(io.err, /usage: medseg /);
  }
});
