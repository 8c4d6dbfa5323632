import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ModelRepository } from '../../../gateway/src/embedded/model-repository.ts';
import { parseModelConfig } from '../../../gateway/src/embedded/pbtxt-parser.ts';
import { profileFromConfig } from '../../../gateway/src/sam/contract.ts';
import { readRepoFile, repoRoot } from './deploy-facts.ts';

const PRODUCTION = ['sam_vit_b', 'sam_vit_l', 'sam_vit_h', 'medsam_vit_b'];
const config = (name: string) =>
  parseModelConfig(readRepoFile(`triton-models/${name}/config.pbtxt`), `${name}/config.pbtxt`, name);

describe('production model configs (triton-models/sam_vit_*, medsam_vit_b*)', () => {
  it('encoders: ONNX Runtime on one GPU instance, batching, TensorRT FP16, zero-image warmup', () => {
    for (const base of PRODUCTION) {
      const c = config(`${base}_encoder`);
      assert.equal(c.platform, 'onnxruntime_onnx', base);
      assert.equal(c.maxBatchSize, 4);
      assert.ok(c.dynamicBatching, 'dynamic batching');
      assert.deepEqual(
        c.instanceGroup.map((g) => [g.kind, g.count]),
        [['KIND_GPU', 1]],
      );
      const [trt] = c.optimization?.executionAccelerators?.gpuExecutionAccelerator ?? [];
      assert.equal(trt?.name, 'tensorrt');
      assert.equal(trt.parameters.precision_mode, 'FP16');
      assert.match(trt.parameters.max_workspace_size_bytes, /^\d+$/);
      // Triton 24.03's onnxruntime backend rejects trt_profile_* keys as unknown parameters; warmups at
      // batch 1 and at max_batch_size give the engine its range instead.
      assert.ok(!Object.keys(trt.parameters).some((k) => k.startsWith('trt_profile_')));
      const warmups = c.modelWarmup ?? [];
      assert.deepEqual(
        warmups.map((w) => w.batchSize),
        [1, c.maxBatchSize],
      );
      for (const w of warmups) {
        assert.equal(w.inputs.image?.zeroData, true);
        assert.deepEqual(w.inputs.image.dims, [3, 1024, 1024]);
      }
      assert.equal(c.parameters['sam.decoder']?.stringValue, `${base}_decoder`);
    }
  });

  it('encoders declare the SAM or MedSAM preprocessing profile', () => {
    for (const base of ['sam_vit_b', 'sam_vit_l', 'sam_vit_h']) {
      const p = profileFromConfig(config(`${base}_encoder`));
      assert.deepEqual(
        [p.name, p.resize, p.normalize, p.inputSize, p.imageInput],
        ['sam', 'longest_side', 'imagenet', 1024, 'image'],
      );
      assert.deepEqual(p.pixelMean, [123.675, 116.28, 103.53]);
      assert.deepEqual(p.pixelStd, [58.395, 57.12, 57.375]);
      assert.deepEqual([p.embeddingShape, p.maskInputSize, p.candidates], [[256, 64, 64], 256, 4]);
    }
    const med = profileFromConfig(config('medsam_vit_b_encoder'));
    assert.deepEqual([med.name, med.resize, med.normalize], ['medsam', 'stretch', 'minmax01']);
    assert.deepEqual(
      [med.pixelMean, med.pixelStd],
      [
        [0, 0, 0],
        [1, 1, 1],
      ],
    );
    assert.match(readRepoFile('triton-models/medsam_vit_b_encoder/config.pbtxt'), /W400\/L40/);
  });

  it('decoders: the official interface without a batch dimension, two GPU instances', () => {
    for (const base of PRODUCTION) {
      const c = config(`${base}_decoder`);
      assert.equal(c.maxBatchSize, 0);
      assert.equal(c.dynamicBatching, undefined);
      assert.deepEqual(
        c.instanceGroup.map((g) => [g.kind, g.count]),
        [['KIND_GPU', 2]],
      );
      assert.deepEqual(
        c.input.map((t) => [t.name, t.dims]),
        [
          ['image_embeddings', [1, 256, 64, 64]],
          ['point_coords', [1, -1, 2]],
          ['point_labels', [1, -1]],
          ['mask_input', [1, 1, 256, 256]],
          ['has_mask_input', [1]],
          ['orig_im_size', [2]],
        ],
      );
      assert.deepEqual(
        c.output.map((t) => [t.name, t.dims]),
        [
          ['masks', [1, 4, -1, -1]],
          ['iou_predictions', [1, 4]],
          ['low_res_masks', [1, 4, 256, 256]],
        ],
      );
    }
  });

  it('ensembles chain their own encoder and decoder', () => {
    for (const base of PRODUCTION) {
      const c = config(base);
      assert.equal(c.platform, 'ensemble');
      assert.equal(c.maxBatchSize, 0);
      assert.deepEqual(
        c.ensembleScheduling?.step.map((s) => s.modelName),
        [`${base}_encoder`, `${base}_decoder`],
      );
      assert.equal(c.parameters['sam.encoder']?.stringValue, `${base}_encoder`);
    }
  });

  it('the embedded server reports them UNAVAILABLE for the missing weights and serves the reference models', async () => {
    const repo = await ModelRepository.load(path.join(repoRoot, 'triton-models'));
    try {
      const rows = new Map(repo.index().map((r) => [r.name, r]));
      for (const base of PRODUCTION) {
        for (const name of [`${base}_encoder`, `${base}_decoder`]) {
          const row = rows.get(name) as { state: string; reason?: string } | undefined;
          assert.equal(row?.state, 'UNAVAILABLE', name);
          assert.match(row?.reason ?? '', /missing model file .*model\.onnx/);
        }
        assert.equal(rows.get(base)?.state, 'UNAVAILABLE');
      }
      for (const name of ['sam_reference', 'sam_reference_encoder', 'sam_reference_decoder']) {
        assert.equal(rows.get(name)?.state, 'READY', name);
      }
    } finally {
      await repo.close();
    }
  });
});
