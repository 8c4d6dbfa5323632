/** The README's "Try it" shows exactly the example lines `medseg start` prints for the default address. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { tryLines } from '../../../gateway/src/cli/commands/start.ts';

test('every example line of the start banner appears verbatim in the README', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8').split('\n');
  for (const line of tryLines('http://127.0.0.1:4000'))
    assert.ok(readme.includes(line), `README lacks: ${line}`);
});

test('the README examples write their outputs under out/, which git ignores', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const outs = [...readme.matchAll(/--out (\S+)/g)].map((m) => m[1]);
  assert.ok(outs.length >= 4, outs.join(' '));
  for (const out of outs) assert.match(out, /^out\//, `an example writes ${out} into the clone`);
  const ignored = readFileSync(new URL('../../../.gitignore', import.meta.url), 'utf8').split('\n');
  assert.ok(ignored.includes('out/'));
});
