/**
 * Before any training, the trainer's own PyTorch decoder (weights read from the served decoder's ONNX
 * initializers) must compute what the served ONNX decoder computes: all four candidates, a prompt batch,
 * padding points, a mask prior on and off, compared with ONNX Runtime at max abs diff <= 1e-4.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compareDecoder } from '../../gateway/src/finetune/onnx-check.ts';
import { readTensorFile, writeTensorFile } from '../../gateway/src/finetune/tensor-file.ts';
import { TrainerProcess } from '../../gateway/src/finetune/trainer-process.ts';
import { decoderInputs, realEmbedding, servedDecoderPath } from '../helpers/finetune.ts';

let dir: string;
let trainer: TrainerProcess;
let embedding: Float32Array;
before(async () => {
  embedding = await realEmbedding();
  dir = mkdtempSync(join(tmpdir(), 'medseg-parity-'));
  trainer = TrainerProcess.start();
});
after(async () => {
  await trainer.close();
  rmSync(dir, { recursive: true, force: true });
});

for (const hasMask of [false, true]) {
  test(`PyTorch decoder equals the served ONNX decoder (prompt batch of 3, mask prior ${hasMask ? 'on' : 'off'})`, async () => {
    const decoder = await servedDecoderPath();
    const inputs = decoderInputs(embedding, hasMask);
    const inFile = join(dir, `in-${hasMask}.safetensors`);
    const outFile = join(dir, `out-${hasMask}.safetensors`);
    writeTensorFile(inFile, inputs);
    await trainer.request({ cmd: 'forward', decoder, inputs: inFile, outputs: outFile });
    const torchOut = readTensorFile(outFile);
    assert.deepEqual(torchOut['output.low_res_masks'].shape, [3, 4, 256, 256]);
    assert.deepEqual(torchOut['output.iou_predictions'].shape, [3, 4]);
    assert.deepEqual(torchOut['output.masks'].shape, [3, 4, 320, 320]);
    const cmp = await compareDecoder(decoder, { ...inputs, ...torchOut });
    for (const [name, s] of Object.entries(cmp.shapes)) assert.deepEqual(s.onnx, s.expected, name);
    for (const [name, d] of Object.entries(cmp.maxAbsDiff)) {
      assert.ok(d <= 1e-4, `${name}: max abs diff ${d} > 1e-4`);
    }
  });
}

test('a decoder graph without the expected structure is refused with a typed error', async () => {
  const inFile = join(dir, 'in-bad.safetensors');
  writeTensorFile(inFile, decoderInputs(embedding, false));
  // The reference decoder has SAM's interface but a classical segmenter inside, none of SAM's weights.
  const notADecoder = (await servedDecoderPath()).replace('mobilesam_decoder', 'sam_reference_decoder');
  await assert.rejects(
    trainer.request({ cmd: 'forward', decoder: notADecoder, inputs: inFile, outputs: join(dir, 'x') }),
    (e: Error & { code?: string }) => e.code === 'BAD_MODEL' && /expected/.test(e.message),
  );
});
