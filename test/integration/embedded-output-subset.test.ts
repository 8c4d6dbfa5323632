/**
 * Requesting a subset of a model's outputs, in any order, returns exactly those tensors under their names.
 * (Regression: onnxruntime-node 1.22 keys a subset of fetches by the model's first output names.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { EmbeddedInferenceServer } from '../../gateway/src/embedded/grpc-server.ts';
import { KServeClient } from '../../gateway/src/inference/kserve-client.ts';
import type { Tensor } from '../../gateway/src/protocol/types.ts';
import { REPO_ROOT } from '../helpers/gateway.ts';

test('the decoder answers a subset of outputs in the order asked, with the right shapes', async () => {
  const server = await EmbeddedInferenceServer.start({
    repository: join(REPO_ROOT, 'triton-models'),
    port: 0,
    strictReadiness: false,
  });
  const client = KServeClient.connect(server.address);
  try {
    const f = (name: string, shape: number[], data: Float32Array): Tensor => ({
      name,
      datatype: 'FP32',
      shape,
      data,
    });
    const inputs = [
      f('image_embeddings', [1, 256, 64, 64], new Float32Array(256 * 64 * 64).fill(100)),
      f('point_coords', [1, 2, 2], Float32Array.from([100, 100, 400, 300])),
      f('point_labels', [1, 2], Float32Array.from([2, 3])),
      f('mask_input', [1, 1, 256, 256], new Float32Array(65536)),
      f('has_mask_input', [1, 1], new Float32Array(1)),
      f('orig_im_size', [1, 2], Float32Array.from([48, 64])),
    ];
    for (const wanted of [
      ['low_res_masks', 'iou_predictions'],
      ['iou_predictions', 'low_res_masks'],
      ['low_res_masks'],
      ['masks', 'iou_predictions'],
    ]) {
      const res = await client.infer({ modelName: 'sam_reference_decoder', inputs, outputs: wanted });
      assert.deepEqual(
        res.outputs.map((t) => t.name),
        wanted,
      );
      const shapes: Record<string, number[]> = {
        masks: [1, 4, 48, 64],
        iou_predictions: [1, 4],
        low_res_masks: [1, 4, 256, 256],
      };
      for (const t of res.outputs) assert.deepEqual(t.shape, shapes[t.name], t.name);
    }
  } finally {
    client.close();
    await server.close();
  }
});
