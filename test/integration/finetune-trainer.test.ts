/**
 * The trainer process on a tiny synthetic split (two training images, one validation image): a few real
 * training steps on the served decoder's weights; the same seed gives bit-identical weights, another seed
 * other weights; kill -9 in the middle of an epoch then resume ends with the weights of an uninterrupted run;
 * cancel and bad inputs are typed errors.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTensorFile } from '../../gateway/src/finetune/tensor-file.ts';
import { TrainerProcess, type TrainerEvent } from '../../gateway/src/finetune/trainer-process.ts';
import { fixedValues, servedDecoderPath } from '../helpers/finetune.ts';

let dir: string;
let decoder: string;
const train: string[] = [];
let val: string;
let empty: string;

/** A 64 x 64 sample with a square object per entry of `squares` ([x0, y0, x1, y1], inclusive). */
function sample(file: string, seed: number, squares: Array<[number, number, number, number]>): string {
  const side = 64;
  const masks = new Uint8Array(squares.length * side * side);
  const coords: number[] = [];
  squares.forEach(([x0, y0, x1, y1], k) => {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) masks[k * side * side + y * side + x] = 1;
    // The model frame is 1024 / 64 = 16 times the image.
    coords.push(x0 * 16, y0 * 16, x1 * 16, y1 * 16);
  });
  writeTensorFile(file, {
    embedding: { dtype: 'F32', shape: [1, 256, 64, 64], data: fixedValues(256 * 64 * 64, seed, 0.3) },
    point_coords: { dtype: 'F32', shape: [squares.length, 2, 2], data: Float32Array.from(coords) },
    point_labels: {
      dtype: 'F32',
      shape: [squares.length, 2],
      data: new Float32Array(squares.length * 2).map((_, i) => 2 + (i % 2)),
    },
    masks: { dtype: 'U8', shape: [squares.length, side, side], data: masks },
    orig_size: { dtype: 'I32', shape: [2], data: Int32Array.from([side, side]) },
  });
  return file;
}

before(async () => {
  decoder = await servedDecoderPath();
  dir = mkdtempSync(join(tmpdir(), 'medseg-trainer-'));
  train.push(sample(join(dir, 'a.safetensors'), 1, [[10, 10, 30, 30]]));
  train.push(
    sample(join(dir, 'b.safetensors'), 2, [
      [20, 30, 50, 60],
      [2, 2, 12, 12],
    ]),
  );
  train.push(sample(join(dir, 'c.safetensors'), 3, [[30, 5, 60, 25]]));
  val = sample(join(dir, 'v.safetensors'), 4, [[15, 15, 45, 45]]);
  empty = sample(join(dir, 'e.safetensors'), 5, []);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Two epochs of two steps (one image per step, so that the seed's image order matters) keep CI short; the
 * validation image is evaluated only where asked (each evaluation is a decoder pass).
 */
async function runTraining(
  work: string,
  seed: number,
  epochs: number,
  onEvent: (e: TrainerEvent, t: TrainerProcess) => void = () => {},
  validate = false,
): Promise<TrainerEvent> {
  mkdirSync(work, { recursive: true });
  const t = TrainerProcess.start({ threads: 2 });
  try {
    return await t.request(
      {
        cmd: 'train',
        workDir: work,
        baseDecoder: decoder,
        train,
        val: validate ? [val] : [],
        epochs,
        seed,
        batchImages: 1,
      },
      (e) => onEvent(e, t),
    );
  } finally {
    await t.close();
  }
}

let uninterrupted: TrainerEvent;

test('a few training steps: the loss is finite, weights change, and the same seed gives identical weights', async () => {
  const events: TrainerEvent[] = [];
  uninterrupted = await runTraining(join(dir, 'run-a'), 7, 2, (e) => events.push(e), true);
  const again = await runTraining(join(dir, 'run-b'), 7, 2);
  assert.equal(again.finalWeightsSha256, uninterrupted.finalWeightsSha256);
  const epochs = events.filter((e) => e.event === 'epoch');
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2],
  );
  for (const e of epochs) assert.ok(Number.isFinite(e.loss) && (e.loss as number) > 0, JSON.stringify(e));
  const baseline = events.find((e) => e.event === 'baseline')!;
  assert.ok(Number.isFinite(baseline.valDice));
  // The exported decoder and its probe exist; the published model is checked against it by the service.
  assert.deepEqual(readdirSync(join(dir, 'run-a')).sort(), [
    'checkpoint-best.pt',
    'checkpoint-last.pt',
    'decoder.onnx',
    'probe.safetensors',
  ]);
  // Seed 1 orders the two images the other way round in both epochs (seed 7: [1, 0] twice).
  const other = await runTraining(join(dir, 'run-c'), 1, 2);
  assert.notEqual(
    other.finalWeightsSha256,
    uninterrupted.finalWeightsSha256,
    'another seed, another batch order',
  );
});

test('kill -9 in the middle of an epoch, then resume: the same weights as an uninterrupted run', async () => {
  const work = join(dir, 'run-killed');
  let killed = false;
  await assert.rejects(
    runTraining(work, 7, 2, (e, t) => {
      if (e.event === 'epoch' && e.epoch === 1 && !killed) {
        killed = true;
        // Epoch 2 starts at once: the process dies inside it.
        process.kill(t.pid!, 'SIGKILL');
      }
    }),
    (err: Error & { code?: string }) => err.code === 'TRAINER_CRASHED',
  );
  assert.ok(killed);
  const events: TrainerEvent[] = [];
  const resumed = await runTraining(work, 7, 2, (e) => events.push(e));
  assert.deepEqual(events[0], { id: 1, event: 'resumed', epoch: 1 });
  assert.deepEqual(
    events.filter((e) => e.event === 'epoch').map((e) => e.epoch),
    [2],
  );
  assert.equal(resumed.finalWeightsSha256, uninterrupted.finalWeightsSha256);
});

test('cancel stops a run with a typed error; bad inputs are typed errors', async () => {
  const work = join(dir, 'run-cancel');
  await assert.rejects(
    runTraining(
      work,
      1,
      100,
      (e, t) => {
        if (e.event === 'baseline') t.cancel();
      },
      true,
    ),
    (err: Error & { code?: string }) => err.code === 'CANCELLED',
  );
  const t = TrainerProcess.start();
  const bad = async (body: Record<string, unknown>, code: string) => {
    const w = mkdtempSync(join(dir, 'bad-'));
    await assert.rejects(
      t.request({ cmd: 'train', workDir: w, baseDecoder: decoder, val: [], epochs: 1, seed: 0, ...body }),
      (err: Error & { code?: string }) =>
        err.code === code || assert.fail(`${code} expected: ${err.message}`),
    );
  };
  try {
    await bad({ train: [] }, 'EMPTY_DATASET');
    await bad({ train: [empty] }, 'NO_OBJECTS');
    await bad({ train, baseDecoder: join(dir, 'missing.onnx') }, 'MODEL_NOT_FOUND');
    writeFileSync(join(dir, 'garbage.safetensors'), 'not a tensor file');
    await bad({ train: [join(dir, 'garbage.safetensors')] }, 'BAD_SAMPLE');
    await bad({ train, epochs: 0 }, 'BAD_REQUEST');
    const w = mkdtempSync(join(dir, 'bad-ckpt-'));
    writeFileSync(join(w, 'checkpoint-last.pt'), 'truncated');
    await assert.rejects(
      t.request({ cmd: 'train', workDir: w, baseDecoder: decoder, train, val: [], epochs: 1, seed: 0 }),
      (err: Error & { code?: string }) => err.code === 'BAD_CHECKPOINT',
    );
    await assert.rejects(
      t.request({ cmd: 'nonsense' }),
      (err: Error & { code?: string }) => err.code === 'BAD_REQUEST',
    );
  } finally {
    await t.close();
  }
});
