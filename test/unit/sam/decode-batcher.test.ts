import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeBatcher, type DecoderItem } from '../../../gateway/src/sam/decode-batcher.ts';
import type { InferRequest, Tensor } from '../../../gateway/src/protocol/types.ts';

/** A fake decoder: masks are filled with the item's first label x 10 + its point count, iou with the batch index. */
function fakeDecoder(calls: InferRequest[]) {
  return async (req: InferRequest): Promise<{ outputs: Tensor[] }> => {
    calls.push(req);
    const coords = req.inputs.find((t) => t.name === 'point_coords')!;
    const labels = req.inputs.find((t) => t.name === 'point_labels')!.data as Float32Array;
    const orig = req.inputs.find((t) => t.name === 'orig_im_size')!.data as Float32Array;
    const [b, n] = coords.shape;
    const [h, w] = [orig[0], orig[1]];
    const c = 2;
    const masks = new Float32Array(b * c * h * w);
    const iou = new Float32Array(b * c);
    const low = new Float32Array(b * c * 4 * 4);
    for (let i = 0; i < b; i++) {
      let real = 0;
      for (let j = 0; j < n; j++) if (labels[i * n + j] !== -1) real++;
      masks.fill(labels[i * n] * 10 + real, i * c * h * w, (i + 1) * c * h * w);
      iou[i * c] = i;
    }
    const all: Tensor[] = [
      { name: 'masks', datatype: 'FP32', shape: [b, c, h, w], data: masks },
      { name: 'iou_predictions', datatype: 'FP32', shape: [b, c], data: iou },
      { name: 'low_res_masks', datatype: 'FP32', shape: [b, c, 4, 4], data: low },
    ];
    // Like a KServe server: only the requested outputs come back.
    return { outputs: all.filter((t) => !req.outputs || req.outputs.includes(t.name)) };
  };
}

function item(labels: number[], orig: [number, number] = [3, 2]): DecoderItem {
  return {
    embeddingKey: 'e',
    embeddings: [{ name: 'image_embeddings', shape: [2, 2, 2], data: new Float32Array(8) }],
    coords: new Float32Array(labels.length * 2),
    labels: Float32Array.from(labels),
    maskInput: undefined,
    maskInputSize: 4,
    origSize: orig,
  };
}

test('coalesces concurrent requests into one batched call, padding points with label -1', async () => {
  const calls: InferRequest[] = [];
  const batcher = new DecodeBatcher({
    model: 'dec',
    maxBatch: 8,
    windowMs: 5,
    infer: fakeDecoder(calls),
    fullSizeMasks: true,
  });
  const outs = await Promise.all([
    batcher.decode(item([1])),
    batcher.decode(item([1, 0, 1])),
    batcher.decode(item([0, 1])),
  ]);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].inputs.find((t) => t.name === 'point_coords')!.shape, [3, 3, 2]);
  assert.deepEqual(calls[0].inputs.find((t) => t.name === 'has_mask_input')!.shape, [3, 1]);
  // Each caller gets its own slice back.
  assert.equal(outs[0].masks![0], 11);
  assert.equal(outs[1].masks![0], 13);
  assert.equal(outs[2].masks![0], 2);
  assert.deepEqual(Array.from(outs[2].iou), [2, 0]);
  assert.equal(outs[1].masks!.length, 2 * 3 * 2);
  assert.deepEqual(batcher.stats, { requests: 3, calls: 1 });
});

test('never mixes original sizes in one batch, and splits at max_batch_size', async () => {
  const calls: InferRequest[] = [];
  const batcher = new DecodeBatcher({ model: 'dec', maxBatch: 2, windowMs: 5, infer: fakeDecoder(calls) });
  await Promise.all([
    batcher.decode(item([1], [3, 2])),
    batcher.decode(item([1], [3, 2])),
    batcher.decode(item([1], [3, 2])),
    batcher.decode(item([1], [5, 5])),
  ]);
  const sizes = calls.map(
    (c) =>
      `${c.inputs[0].shape[0]}@${Array.from(
        c.inputs.find((t) => t.name === 'orig_im_size')!.data as Float32Array,
      )
        .slice(0, 2)
        .join('x')}`,
  );
  assert.deepEqual(sizes.sort(), ['1@3x2', '1@5x5', '2@3x2']);
});

test('a decoder without a batch dimension gets one call per request with the official shapes', async () => {
  const calls: InferRequest[] = [];
  const batcher = new DecodeBatcher({ model: 'dec', maxBatch: 0, windowMs: 1, infer: fakeDecoder(calls) });
  await Promise.all([batcher.decode(item([1])), batcher.decode(item([1]))]);
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[0].inputs.find((t) => t.name === 'orig_im_size')!.shape, [2]);
  assert.deepEqual(calls[0].inputs.find((t) => t.name === 'has_mask_input')!.shape, [1]);
});

test('a failed call rejects every request of its batch', async () => {
  const batcher = new DecodeBatcher({
    model: 'dec',
    maxBatch: 4,
    windowMs: 1,
    infer: async () => {
      throw Object.assign(new Error('backend down'), { code: 'BACKEND_UNAVAILABLE' });
    },
  });
  const results = await Promise.allSettled([batcher.decode(item([1])), batcher.decode(item([1]))]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
});

test('by default asks the decoder for low-res outputs only', async () => {
  const calls: InferRequest[] = [];
  const batcher = new DecodeBatcher({ model: 'dec', maxBatch: 4, windowMs: 1, infer: fakeDecoder(calls) });
  const out = await batcher.decode(item([1]));
  assert.deepEqual(calls[0].outputs, ['iou_predictions', 'low_res_masks']);
  assert.equal(out.masks, undefined);
  assert.equal(out.lowRes.length, 2 * 4 * 4);
});

test('batches form naturally: idle requests leave at once, requests that find every slot busy leave together', async () => {
  const calls: InferRequest[] = [];
  const decoder = fakeDecoder(calls);
  // The backend answers only when the test opens the gate, so "both slots busy" holds however slow the machine.
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => (open = r));
  const slow = async (req: InferRequest) => {
    await gate;
    return decoder(req);
  };
  const batcher = new DecodeBatcher({ model: 'dec', maxBatch: 16, windowMs: 0, maxInflight: 2, infer: slow });
  const first = batcher.decode(item([1]));
  await new Promise((r) => setImmediate(r));
  assert.equal(calls.length, 0, 'the call is made by the slow infer once the gate opens');
  assert.equal(batcher.stats.calls, 1, 'an idle batcher sends on the next turn, without a window');
  const second = batcher.decode(item([1]));
  await new Promise((r) => setImmediate(r));
  assert.equal(batcher.stats.calls, 2, 'a second free slot is used at once');
  const queued = Array.from({ length: 6 }, () => batcher.decode(item([1])));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(batcher.stats.calls, 2, 'with both slots busy, requests wait');
  open();
  await Promise.all([first, second, ...queued]);
  assert.equal(batcher.stats.calls, 3, 'the six waiting requests left as one batch');
  assert.deepEqual(
    calls.map((c) => c.inputs[0].shape[0]),
    [1, 1, 6],
  );
});
