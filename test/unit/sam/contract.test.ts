import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelConfig } from '../../../gateway/src/protocol/model-config.ts';
import { ProfileError, profileFromConfig } from '../../../gateway/src/sam/contract.ts';
import { validateProfile } from '../../../gateway/src/sam/validate.ts';
import type { ModelMetadata } from '../../../gateway/src/protocol/types.ts';

function encoderConfig(params: Record<string, string>): ModelConfig {
  return {
    name: 'enc',
    platform: 'onnxruntime_onnx',
    backend: '',
    maxBatchSize: 4,
    input: [{ name: 'x', dataType: 'TYPE_FP32', dims: [3, 1024, 1024] }],
    output: [{ name: 'image_embeddings', dataType: 'TYPE_FP32', dims: [256, 64, 64] }],
    instanceGroup: [],
    defaultModelFilename: '',
    parameters: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, { stringValue: v }])),
  };
}

const SAM = {
  'sam.profile': 'sam',
  'sam.resize': 'longest_side',
  'sam.normalize': 'imagenet',
  'sam.image_input': 'x',
  'sam.decoder': 'dec',
};

const encoderMeta: ModelMetadata = {
  name: 'enc',
  versions: ['1'],
  platform: 'onnxruntime_onnx',
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 1024, 1024] }],
  outputs: [{ name: 'image_embeddings', datatype: 'FP32', shape: [-1, 256, 64, 64] }],
};
const decoderMeta: ModelMetadata = {
  name: 'dec',
  versions: ['1'],
  platform: 'onnxruntime_onnx',
  inputs: ['image_embeddings', 'point_coords', 'point_labels', 'has_mask_input', 'orig_im_size']
    .map((name) => ({ name, datatype: 'FP32' as const, shape: [-1] }))
    .concat([{ name: 'mask_input', datatype: 'FP32', shape: [-1, 1, 256, 256] }]),
  outputs: ['masks', 'iou_predictions', 'low_res_masks'].map((name) => ({
    name,
    datatype: 'FP32' as const,
    shape: [-1],
  })),
};

test('reads the official SAM profile with its defaults', () => {
  const p = profileFromConfig(encoderConfig(SAM));
  assert.equal(p.name, 'sam');
  assert.equal(p.inputSize, 1024);
  assert.deepEqual(p.pixelMean, [123.675, 116.28, 103.53]);
  assert.deepEqual(p.pixelStd, [58.395, 57.12, 57.375]);
  assert.deepEqual(p.embeddingShape, [256, 64, 64]);
  assert.equal(p.maskInputSize, 256);
  assert.deepEqual(validateProfile(p, encoderMeta, decoderMeta), []);
});

test('names the bad parameter', () => {
  assert.throws(
    () => profileFromConfig(encoderConfig({ ...SAM, 'sam.profile': 'vit' })),
    (e: unknown) => e instanceof ProfileError && /sam.profile must be one of/.test(e.message),
  );
  assert.throws(
    () => profileFromConfig(encoderConfig({ ...SAM, 'sam.pixel_mean': '1,2' })),
    /sam.pixel_mean must be 3 comma-separated numbers, got '1,2'/,
  );
  assert.throws(
    () => profileFromConfig(encoderConfig({ ...SAM, 'sam.pixel_std': '1,0,1' })),
    /must not contain 0/,
  );
  assert.throws(
    () => profileFromConfig(encoderConfig({ 'sam.resize': 'longest_side' })),
    /sam.profile must be one of .* got '\(missing\)'/,
  );
});

test('finds every mismatch between a profile and the real tensors', () => {
  const p = profileFromConfig(
    encoderConfig({ ...SAM, 'sam.input_size': '512', 'sam.embedding_shape': '256,32,32' }),
  );
  const problems = validateProfile(p, encoderMeta, {
    ...decoderMeta,
    inputs: decoderMeta.inputs.filter((t) => t.name !== 'orig_im_size'),
  });
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0], /encoder input x must end in \[3,512,512\], model declares \[-1,3,1024,1024\]/);
  assert.match(problems[1], /image_embeddings must end in \[256,32,32\]/);
  assert.match(problems[2], /lacks input 'orig_im_size'/);
});
