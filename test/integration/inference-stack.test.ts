import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../gateway/src/config.ts';
import { createInferenceStack } from '../../gateway/src/main.ts';
import { SAMPLES } from '../helpers/gateway.ts';
import { freePort, spawnMedseg } from '../helpers/medseg-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const tmp = tempDir('medseg-stack-');
after(() => rmSync(tmp, { recursive: true, force: true }));

test('the inference stack puts the backend guard in front of the session: an unreachable backend is retried BACKEND_RETRIES times', async () => {
  // Nothing listens on a port that was free a moment ago: every call finds the backend unavailable.
  const config = loadConfig({ TRITON_URL: `127.0.0.1:${await freePort()}`, BACKEND_RETRIES: '2' });
  const events: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => events.push(line) });
  const stack = await createInferenceStack(config, log);
  try {
    await assert.rejects(stack.sam.resolve('sam_reference'), { code: 'BACKEND_UNAVAILABLE' });
    assert.equal(stack.guard.stats('sam_reference').retries, 2);
    assert.equal(events.filter((l) => /backend call retry/.test(l)).length, 2);
  } finally {
    await stack.close();
  }
});

test('medseg bench run builds the stack medseg start does: its backend calls are retried by the guard', async () => {
  const port = await freePort();
  const { child, output } = await spawnMedseg(
    [
      'bench',
      'run',
      '--dataset',
      join(SAMPLES, 'mri-cardiac-cosmos'),
      '--classes',
      '85=LV,170=MYO,255=RV',
      '--model',
      'sam_reference',
      '--strategies',
      'S5',
      '--limit',
      '1',
      '--triton-url',
      `127.0.0.1:${port}`,
      '--db',
      join(tmp, 'bench.sqlite'),
    ],
    { LOG_LEVEL: 'warn', BACKEND_RETRIES: '3' },
    /job \S+ failed: /,
  );
  const code = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (c) => resolve(c));
  });
  assert.equal(code, 1, output());
  assert.equal(output().match(/backend call retry/g)?.length, 3, output());
  assert.match(output(), /BACKEND_UNAVAILABLE|unavailable/i);
});
