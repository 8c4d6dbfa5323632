/**
 * Fine-tuning through GraphQL over HTTP on real cardiac slices, as a user would run it: bad inputs are typed
 * errors that store nothing; a job trains one epoch on a tiny split by volume, streams its progress over the
 * WebSocket, publishes a new model that the embedded server loads without a restart and `models` lists with
 * its provenance, and that segments; a cancelled job leaves nothing in the model repository.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { cardiacDataset, mobileSamRepository } from '../helpers/finetune.ts';
import { errorCode, gql, startTestGateway } from '../helpers/gateway.ts';

let gw: RunningGateway;
let repo: { dir: string; cleanup: () => void };
let data: { dir: string; cleanup: () => void };

const JOB_FIELDS = `id status modelName split epochs history { epoch loss valDice } baseValDice errorCode error
  result { model baseModel dataset split trainGroups valGroups testGroups epochs bestEpoch valDice baseValDice date jobId }`;

before(async () => {
  repo = await mobileSamRepository();
  // Volumes 3 and 2 train, volume 5 validates: one slice each keeps the encoder calls to three.
  data = cardiacDataset(['22_Heart_3_2', '22_Heart_2_4', '22_Heart_5_2']);
  // A folder whose labels hold no class value: images but no objects.
  mkdirSync(join(data.dir, 'blank', 'images'), { recursive: true });
  mkdirSync(join(data.dir, 'blank', 'labels'), { recursive: true });
  const { encodePng } = await import('../../gateway/src/imaging/encode-png.ts');
  const grey = { width: 32, height: 32, channels: 1, data: new Uint8Array(32 * 32).fill(90) };
  writeFileSync(join(data.dir, 'blank', 'images', 'b_1_1.png'), encodePng(grey as never));
  writeFileSync(
    join(data.dir, 'blank', 'labels', 'b_1_1.png'),
    encodePng({ ...grey, data: new Uint8Array(32 * 32) } as never),
  );
  gw = await startTestGateway({ modelRepository: repo.dir, dataRoots: [data.dir] });
  for (const [path, id] of [
    ['heart', 'heart'],
    ['blank', 'blank'],
  ]) {
    const r = await gql(
      gw.url,
      `mutation ($p: String!, $id: ID!) { registerDataset(input: { path: $p, id: $id, modality: "MRI",
        classes: [{ value: 85, name: "LV" }, { value: 170, name: "MYO" }, { value: 255, name: "RV" }] }) { id images objects } }`,
      { p: join(data.dir, path), id },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  }
});
after(async () => {
  await gw?.close();
  repo?.cleanup();
  data?.cleanup();
});

const START = `mutation ($in: StartFineTuneInput!) { startFineTune(input: $in) { ${JOB_FIELDS} } }`;

function repositoryFolders(): string[] {
  return readdirSync(repo.dir).sort();
}

test('bad inputs are typed errors and store nothing', async () => {
  const before = repositoryFolders();
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ dataset: 'nope', epochs: 1 }, 'NOT_FOUND'],
    [{ dataset: 'heart', baseModel: 'no_such_model', epochs: 1 }, 'MODEL_NOT_FOUND'],
    [{ dataset: 'heart', epochs: 0 }, 'BAD_REQUEST'],
    [{ dataset: 'heart', epochs: 1, split: 'train=9' }, 'BAD_SPLIT'],
    [{ dataset: 'heart', epochs: 1, split: 'val=2;test=3' }, 'EMPTY_DATASET'],
    [{ dataset: 'blank', epochs: 1 }, 'NO_OBJECTS'],
    [{ dataset: 'heart', epochs: 1, modelName: 'Bad Name!' }, 'BAD_REQUEST'],
    // The base model's own folder exists: publishing under its name is refused.
    [{ dataset: 'heart', epochs: 1, modelName: 'mobilesam' }, 'ALREADY_EXISTS'],
  ];
  for (const [input, code] of cases) {
    const r = await gql(gw.url, START, { in: input });
    assert.equal(errorCode(r), code, `${JSON.stringify(input)}: ${JSON.stringify(r.errors)}`);
  }
  const jobs = await gql<{ fineTuneJobs: unknown[] }>(gw.url, '{ fineTuneJobs { id } }');
  assert.deepEqual(jobs.data?.fineTuneJobs, []);
  assert.deepEqual(repositoryFolders(), before);
});

test('a job trains, reports progress, publishes a model served without a restart, listed with provenance', async () => {
  const started = await gql<{ startFineTune: { id: string; modelName: string } }>(gw.url, START, {
    in: { dataset: 'heart', epochs: 1, seed: 3, split: 'train=3,2;val=5' },
  });
  assert.equal(started.errors, undefined, JSON.stringify(started.errors));
  const { id, modelName } = started.data!.startFineTune;
  assert.equal(modelName, 'mobilesam_ft_heart');
  const client = createClient({
    url: `${gw.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
  });
  const events: Array<{
    type: string;
    epoch?: { epoch: number; loss: number; valDice: number };
    status?: string;
  }> = [];
  try {
    const it = client.iterate<{ fineTuneProgress: (typeof events)[number] }>({
      query: `subscription ($id: ID!) { fineTuneProgress(id: $id) { type status errorCode error epoch { epoch loss valDice } } }`,
      variables: { id },
    });
    for await (const e of it) {
      assert.equal(e.errors, undefined, JSON.stringify(e.errors));
      events.push(e.data!.fineTuneProgress);
    }
  } finally {
    await client.dispose();
  }
  const last = events[events.length - 1];
  assert.equal(last.status, 'completed', JSON.stringify(events));
  const epoch = events.find((e) => e.type === 'epoch')!.epoch!;
  assert.equal(epoch.epoch, 1);
  assert.ok(epoch.loss > 0 && epoch.loss < 3, `loss ${epoch.loss}`);
  assert.ok(epoch.valDice > 0.3 && epoch.valDice <= 1, `val Dice ${epoch.valDice}`);

  const job = await gql<{ fineTuneJob: { status: string; result: Record<string, unknown> } }>(
    gw.url,
    `query ($id: ID!) { fineTuneJob(id: $id) { ${JOB_FIELDS} } }`,
    { id },
  );
  const result = job.data!.fineTuneJob.result;
  assert.deepEqual(
    {
      ...result,
      date: typeof result.date,
      valDice: typeof result.valDice,
      baseValDice: typeof result.baseValDice,
    },
    {
      model: 'mobilesam_ft_heart',
      baseModel: 'mobilesam',
      dataset: 'heart',
      split: 'train=3,2;val=5',
      trainGroups: ['22_Heart_3', '22_Heart_2'],
      valGroups: ['22_Heart_5'],
      testGroups: [],
      epochs: 1,
      bestEpoch: result.bestEpoch,
      valDice: 'number',
      baseValDice: 'number',
      date: 'string',
      jobId: id,
    },
  );
  assert.ok(result.bestEpoch === 0 || result.bestEpoch === 1);
  // The served model: listed ready with provenance, and it segments.
  const models = await gql<{
    models: Array<{ name: string; ready: boolean; decoder: string; fineTune: unknown }>;
  }>(gw.url, '{ models { name ready decoder fineTune { baseModel dataset epochs valDice jobId } } }');
  const ft = models.data!.models.find((m) => m.name === 'mobilesam_ft_heart');
  assert.ok(ft?.ready, JSON.stringify(models));
  assert.equal(ft.decoder, 'mobilesam_ft_heart_decoder');
  assert.deepEqual(ft.fineTune, {
    baseModel: 'mobilesam',
    dataset: 'heart',
    epochs: 1,
    valDice: result.valDice,
    jobId: id,
  });
  assert.equal(models.data!.models.find((m) => m.name === 'mobilesam')?.fineTune, null);
  const { readFileSync } = await import('node:fs');
  const png = readFileSync(join(data.dir, 'heart', 'images', '22_Heart_5_2.png')).toString('base64');
  const seg = await gql<{
    segment: { results: Array<{ masks: Array<{ area: number; provenance: { model: string } }> }> };
  }>(
    gw.url,
    `query ($b: String!) { segment(input: { model: "mobilesam_ft_heart", image: { encoded: { base64: $b } },
      prompts: [{ box: { x0: 60, y0: 60, x1: 140, y1: 140 } }] }) { results { masks { area provenance { model } } } } }`,
    { b: png },
  );
  assert.equal(seg.errors, undefined, JSON.stringify(seg.errors));
  const mask = seg.data!.segment.results[0].masks[0];
  assert.equal(mask.provenance.model, 'mobilesam_ft_heart');
  assert.ok(mask.area > 0);
  // The same name again is taken.
  const again = await gql(gw.url, START, { in: { dataset: 'heart', epochs: 1, split: 'train=3,2;val=5' } });
  assert.equal(errorCode(again), 'ALREADY_EXISTS');
});

test('a cancelled job ends cancelled and leaves nothing in the model repository', async () => {
  const before = repositoryFolders();
  const started = await gql<{ startFineTune: { id: string } }>(gw.url, START, {
    in: { dataset: 'heart', epochs: 500, seed: 1, split: 'train=3,2;val=5', modelName: 'heart_cancelled' },
  });
  assert.equal(started.errors, undefined, JSON.stringify(started.errors));
  const { id } = started.data!.startFineTune;
  // One job at a time: a second start is refused while this one runs.
  const second = await gql(gw.url, START, {
    in: { dataset: 'heart', epochs: 1, split: 'train=3,2;val=5', modelName: 'heart_second' },
  });
  assert.equal(errorCode(second), 'RESOURCE_EXHAUSTED');
  const cancel = await gql<{ cancelFineTune: { status: string } }>(
    gw.url,
    'mutation ($id: ID!) { cancelFineTune(id: $id) { status } }',
    { id },
  );
  assert.equal(cancel.errors, undefined, JSON.stringify(cancel.errors));
  const job = await gw.services.finetune.settled(id);
  assert.equal(job?.status, 'cancelled');
  assert.equal(job?.errorCode, 'CANCELLED');
  assert.deepEqual(repositoryFolders(), before);
  assert.ok(!existsSync(join(repo.dir, 'heart_cancelled')));
  const again = await gql(gw.url, 'mutation ($id: ID!) { cancelFineTune(id: $id) { status } }', { id });
  assert.equal(errorCode(again), 'BAD_REQUEST');
});
