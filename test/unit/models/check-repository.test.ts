import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { CliError, type CliIo } from '../../../gateway/src/cli/command.ts';
import {
  checkRepository,
  formatReport,
  type CheckReport,
  type Finding,
} from '../../../gateway/src/models/check-repository.ts';
import { runCheckCommand } from '../../../gateway/src/cli/commands/models.ts';
import { readOnnxSignature } from '../../../gateway/src/models/onnx-signature.ts';
import {
  GraphBuilder,
  OnnxType,
  serializeModel,
  type Dim,
  type OnnxElemType,
} from '../../../gateway/src/models/onnx-builder.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const { onnx } = onnxProto;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const realRepository = path.join(repoRoot, 'triton-models');

/** The production models this checker's owner ships configs for (weights are never in git). */
const PRODUCTION = ['sam_vit_b', 'sam_vit_l', 'sam_vit_h', 'medsam_vit_b'];
/** The reference models (committed with their ONNX files). */
const REFERENCE = [
  'sam_reference',
  'sam_reference_encoder',
  'sam_reference_decoder',
  'sam_reference_hwc_encoder',
];

/** An encoder with the tensor names and shapes of an official-style export (1024 px, [256,64,64]). */
function officialEncoderOnnx(input: string, batch: Dim): Uint8Array {
  const g = new GraphBuilder('encoder');
  const x = g.input(input, OnnxType.FLOAT, [batch, 3, 1024, 1024]);
  g.op1('SpaceToDepth', [x], { blocksize: 16 }, 'image_embeddings');
  g.output('image_embeddings', OnnxType.FLOAT, [batch, 256, 64, 64]);
  return serializeModel(g, { opset: 17, producerName: 'test', producerVersion: '1' });
}

/** A decoder with the inputs and outputs segment_anything/utils/onnx.py exports (multimask, 4 candidates). */
function officialDecoderOnnx(): Uint8Array {
  const g = new GraphBuilder('decoder');
  const emb = g.input('image_embeddings', OnnxType.FLOAT, [1, 256, 64, 64]);
  g.input('point_coords', OnnxType.FLOAT, [1, 'num_points', 2]);
  g.input('point_labels', OnnxType.FLOAT, [1, 'num_points']);
  const mask = g.input('mask_input', OnnxType.FLOAT, [1, 1, 256, 256]);
  g.input('has_mask_input', OnnxType.FLOAT, [1]);
  g.input('orig_im_size', OnnxType.FLOAT, [2]);
  g.op1('Identity', [mask], {}, 'masks');
  g.op1('ReduceMean', [emb], { axes: [2, 3], keepdims: 0 }, 'iou_predictions');
  g.op1('Identity', [mask], {}, 'low_res_masks');
  g.output('masks', OnnxType.FLOAT, [1, 4, 'Resizemasks_dim_2', 'Resizemasks_dim_3']);
  g.output('iou_predictions', OnnxType.FLOAT, [1, 4]);
  g.output('low_res_masks', OnnxType.FLOAT, [1, 4, 256, 256]);
  return serializeModel(g, { opset: 17, producerName: 'test', producerVersion: '1' });
}

// A miniature SAM family with the official tensor names but tiny sizes (64 px frame, [3,4,4] embedding,
// 16 px mask input), so that broken variants are cheap to build. The ONNX graphs are signatures: the
// checker reads their declared inputs and outputs, it never runs them.

function encoderOnnx(opts: { batch?: Dim; embedding?: number[]; imageType?: OnnxElemType } = {}): Uint8Array {
  const g = new GraphBuilder('mini_encoder');
  const b = opts.batch ?? 'batch';
  const x = g.input('image', opts.imageType ?? OnnxType.FLOAT, [b, 3, 64, 64]);
  g.op1('AveragePool', [x], { kernel_shape: [16, 16], strides: [16, 16] }, 'image_embeddings');
  g.output('image_embeddings', OnnxType.FLOAT, [b, ...(opts.embedding ?? [3, 4, 4])]);
  return serializeModel(g, { opset: 17, producerName: 'test', producerVersion: '1' });
}

function decoderOnnx(): Uint8Array {
  const g = new GraphBuilder('mini_decoder');
  const emb = g.input('image_embeddings', OnnxType.FLOAT, [1, 3, 4, 4]);
  g.input('point_coords', OnnxType.FLOAT, [1, 'num_points', 2]);
  g.input('point_labels', OnnxType.FLOAT, [1, 'num_points']);
  const mask = g.input('mask_input', OnnxType.FLOAT, [1, 1, 16, 16]);
  g.input('has_mask_input', OnnxType.FLOAT, [1]);
  g.input('orig_im_size', OnnxType.FLOAT, [2]);
  g.op1('Identity', [mask], {}, 'masks');
  g.op1('ReduceMean', [emb], { axes: [2, 3], keepdims: 0 }, 'iou_predictions');
  g.op1('Identity', [mask], {}, 'low_res_masks');
  g.output('masks', OnnxType.FLOAT, [1, 4, 'h', 'w']);
  g.output('iou_predictions', OnnxType.FLOAT, [1, 4]);
  g.output('low_res_masks', OnnxType.FLOAT, [1, 4, 16, 16]);
  return serializeModel(g, { opset: 17, producerName: 'test', producerVersion: '1' });
}

const param = (k: string, v: string): string =>
  `parameters { key: "${k}" value: { string_value: "${v}" } }\n`;

function encoderConfig(over: Record<string, string> = {}, batch = 4, name = 'mini_encoder'): string {
  const p: Record<string, string> = {
    'sam.profile': 'sam',
    'sam.decoder': 'mini_decoder',
    'sam.input_size': '64',
    'sam.resize': 'longest_side',
    'sam.normalize': 'imagenet',
    'sam.image_input': 'image',
    'sam.embedding_shape': '3,4,4',
    'sam.mask_input_size': '16',
    'sam.multimask': '4',
    ...over,
  };
  return (
    `name: "${name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: ${batch}\n` +
    `input [ { name: "image" data_type: TYPE_FP32 dims: [ ${batch > 0 ? '' : '1, '}3, 64, 64 ] } ]\n` +
    `output [ { name: "image_embeddings" data_type: TYPE_FP32 dims: [ ${batch > 0 ? '' : '1, '}3, 4, 4 ] } ]\n` +
    (batch > 0 ? 'dynamic_batching { max_queue_delay_microseconds: 100 }\n' : '') +
    Object.entries(p)
      .map(([k, v]) => param(k, v))
      .join('')
  );
}

const DECODER_CONFIG = `name: "mini_decoder"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [
  { name: "image_embeddings" data_type: TYPE_FP32 dims: [ 1, 3, 4, 4 ] },
  { name: "point_coords" data_type: TYPE_FP32 dims: [ 1, -1, 2 ] },
  { name: "point_labels" data_type: TYPE_FP32 dims: [ 1, -1 ] },
  { name: "mask_input" data_type: TYPE_FP32 dims: [ 1, 1, 16, 16 ] },
  { name: "has_mask_input" data_type: TYPE_FP32 dims: [ 1 ] },
  { name: "orig_im_size" data_type: TYPE_FP32 dims: [ 2 ] }
]
output [
  { name: "masks" data_type: TYPE_FP32 dims: [ 1, 4, -1, -1 ] },
  { name: "iou_predictions" data_type: TYPE_FP32 dims: [ 1, 4 ] },
  { name: "low_res_masks" data_type: TYPE_FP32 dims: [ 1, 4, 16, 16 ] }
]
`;

function ensembleConfig(
  encoderInputKey = 'image',
  outputs = ['masks', 'iou_predictions', 'low_res_masks'],
): string {
  return `name: "mini"
platform: "ensemble"
max_batch_size: 0
input [
  { name: "image" data_type: TYPE_FP32 dims: [ 1, 3, 64, 64 ] },
  { name: "point_coords" data_type: TYPE_FP32 dims: [ 1, -1, 2 ] },
  { name: "point_labels" data_type: TYPE_FP32 dims: [ 1, -1 ] },
  { name: "mask_input" data_type: TYPE_FP32 dims: [ 1, 1, 16, 16 ] },
  { name: "has_mask_input" data_type: TYPE_FP32 dims: [ 1 ] },
  { name: "orig_im_size" data_type: TYPE_FP32 dims: [ 2 ] }
]
output [
  { name: "masks" data_type: TYPE_FP32 dims: [ 1, 4, -1, -1 ] },
  { name: "iou_predictions" data_type: TYPE_FP32 dims: [ 1, 4 ] },
  { name: "low_res_masks" data_type: TYPE_FP32 dims: [ 1, 4, 16, 16 ] }
]
ensemble_scheduling {
  step [
    {
      model_name: "mini_encoder"
      model_version: -1
      input_map { key: "${encoderInputKey}" value: "image" }
      output_map { key: "image_embeddings" value: "emb" }
    },
    {
      model_name: "mini_decoder"
      model_version: -1
      input_map { key: "image_embeddings" value: "emb" }
      input_map { key: "point_coords" value: "point_coords" }
      input_map { key: "point_labels" value: "point_labels" }
      input_map { key: "mask_input" value: "mask_input" }
      input_map { key: "has_mask_input" value: "has_mask_input" }
      input_map { key: "orig_im_size" value: "orig_im_size" }
${outputs.map((o) => `      output_map { key: "${o}" value: "${o}" }`).join('\n')}
    }
  ]
}
${param('sam.encoder', 'mini_encoder')}${param('sam.decoder', 'mini_decoder')}`;
}

interface MiniRepo {
  encoderConfig?: string;
  decoderConfig?: string | null;
  ensembleConfig?: string;
  encoderOnnx?: Uint8Array | null;
}

let tmp: string;
let counter = 0;

async function writeRepo(spec: MiniRepo = {}): Promise<string> {
  counter += 1;
  const root = path.join(tmp, `repo${counter}`);
  const put = async (rel: string, data: string | Uint8Array): Promise<void> => {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), data);
  };
  await put('mini_encoder/config.pbtxt', spec.encoderConfig ?? encoderConfig());
  if (spec.encoderOnnx !== null) await put('mini_encoder/1/model.onnx', spec.encoderOnnx ?? encoderOnnx());
  else await mkdir(path.join(root, 'mini_encoder/1'), { recursive: true });
  if (spec.decoderConfig !== null) {
    await put('mini_decoder/config.pbtxt', spec.decoderConfig ?? DECODER_CONFIG);
    await put('mini_decoder/1/model.onnx', decoderOnnx());
  }
  await put('mini/config.pbtxt', spec.ensembleConfig ?? ensembleConfig());
  await mkdir(path.join(root, 'mini/1'), { recursive: true });
  return root;
}

function all(report: CheckReport): Finding[] {
  return [...report.findings, ...report.models.flatMap((m) => m.findings)];
}

function errors(report: CheckReport, model?: string): Finding[] {
  const list = model ? (report.models.find((m) => m.name === model)?.findings ?? []) : all(report);
  return list.filter((f) => f.level === 'error');
}

function codes(report: CheckReport, model?: string): string[] {
  return errors(report, model).map((f) => f.code);
}

before(async () => {
  tmp = tempDir('medseg-check-');
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('checkRepository on a well-formed repository', () => {
  it('reports no findings and recognises the roles', async () => {
    const report = await checkRepository(await writeRepo());
    assert.deepEqual(all(report), [], formatReport(report));
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.models.map((m) => [m.name, m.role]),
      [
        ['mini', 'ensemble'],
        ['mini_decoder', 'decoder'],
        ['mini_encoder', 'encoder'],
      ],
    );
  });

  it('accepts a non-batching encoder whose ONNX batch dim is fixed to 1', async () => {
    const root = await writeRepo({
      encoderConfig: encoderConfig({}, 0),
      encoderOnnx: encoderOnnx({ batch: 1 }),
    });
    const report = await checkRepository(root);
    assert.deepEqual(errors(report), [], formatReport(report));
  });
});

describe('checkRepository on broken repositories', () => {
  it('reports a pbtxt syntax error with its line number and keeps checking the rest', async () => {
    const bad = encoderConfig().replace(
      'max_batch_size: 4',
      'max_batch_size: 4\ninput [ { name: "x" dims: [ 3 }',
    );
    const report = await checkRepository(await writeRepo({ encoderConfig: bad }));
    const [f] = errors(report, 'mini_encoder');
    assert.equal(f.code, 'CONFIG_PARSE');
    assert.equal(f.file, 'mini_encoder/config.pbtxt');
    assert.equal(f.line, 4);
    assert.match(formatReport(report), /mini_encoder\/config\.pbtxt:4 /);
    // The decoder is still checked on its own.
    assert.deepEqual(errors(report, 'mini_decoder'), []);
  });

  it('reports a config name that differs from its folder', async () => {
    const report = await checkRepository(
      await writeRepo({ encoderConfig: encoderConfig({}, 4, 'other_encoder') }),
    );
    const f = errors(report, 'mini_encoder').find((x) => x.code === 'NAME_MISMATCH');
    assert.ok(f, formatReport(report));
    assert.equal(f.line, 1);
    assert.match(f.message, /other_encoder/);
  });

  it('reports dims that do not match the ONNX graph, pointing at the tensor line', async () => {
    const report = await checkRepository(
      await writeRepo({ encoderOnnx: encoderOnnx({ embedding: [3, 8, 8] }) }),
    );
    const f = errors(report, 'mini_encoder').find((x) => x.code === 'DIMS_MISMATCH');
    assert.ok(f, formatReport(report));
    assert.match(f.message, /image_embeddings.*\[3,4,4\].*\[3,8,8\]/);
    assert.equal(f.line, 5);
  });

  it('reports a data type mismatch and a batching config over a fixed batch dimension', async () => {
    const r1 = await checkRepository(
      await writeRepo({ encoderOnnx: encoderOnnx({ imageType: OnnxType.UINT8 }) }),
    );
    const f1 = errors(r1, 'mini_encoder').find((x) => x.code === 'DTYPE_MISMATCH');
    assert.ok(f1);
    assert.match(f1.message, /TYPE_FP32.*TYPE_UINT8/);
    const r2 = await checkRepository(await writeRepo({ encoderOnnx: encoderOnnx({ batch: 1 }) }));
    assert.deepEqual(codes(r2, 'mini_encoder'), ['BATCH_DIM', 'BATCH_DIM']);
    assert.match(errors(r2, 'mini_encoder')[0].message, /max_batch_size 4 needs a variable first dimension/);
  });

  it('reports tensors missing from the ONNX file and ONNX inputs missing from the config', async () => {
    const cfg = encoderConfig().replace('name: "image" data_type', 'name: "pixels" data_type');
    const report = await checkRepository(await writeRepo({ encoderConfig: cfg }));
    const got = codes(report, 'mini_encoder');
    assert.ok(got.includes('TENSOR_MISSING'), got.join());
    assert.ok(got.includes('TENSOR_NOT_IN_CONFIG'), got.join());
    // sam.image_input still names 'image', which the config no longer declares.
    assert.ok(got.includes('PROFILE_MISMATCH'), got.join());
  });

  it('reports a missing decoder named by sam.decoder, and the ensemble step that needs it', async () => {
    const report = await checkRepository(await writeRepo({ decoderConfig: null }));
    const f = errors(report, 'mini_encoder').find((x) => x.code === 'DECODER_MISSING');
    assert.ok(f, formatReport(report));
    assert.match(f.message, /'mini_decoder'/);
    assert.ok(f.line !== undefined);
    assert.ok(codes(report, 'mini').includes('ENSEMBLE_STEP_MODEL_MISSING'));
  });

  it('reports a decoder whose mask_input or candidate count contradicts the profile', async () => {
    const report = await checkRepository(
      await writeRepo({
        encoderConfig: encoderConfig({ 'sam.mask_input_size': '32', 'sam.multimask': '1' }),
      }),
    );
    const msgs = errors(report, 'mini_decoder').map((f) => `${f.code} ${f.message}`);
    assert.equal(msgs.length, 2, msgs.join('\n'));
    assert.match(msgs[0], /PROFILE_MISMATCH mask_input \[1,1,16,16\] does not end in \[32,32\]/);
    assert.match(msgs[1], /PROFILE_MISMATCH iou_predictions returns 4 candidate/);
  });

  it('reports invalid and incoherent sam.* parameters with the parameter line', async () => {
    const r1 = await checkRepository(
      await writeRepo({ encoderConfig: encoderConfig({ 'sam.resize': 'crop' }) }),
    );
    const f1 = errors(r1, 'mini_encoder')[0];
    assert.equal(f1.code, 'PROFILE_INVALID');
    assert.match(f1.message, /sam\.resize/);
    assert.ok(f1.line !== undefined && f1.line > 5);
    const r2 = await checkRepository(
      await writeRepo({ encoderConfig: encoderConfig({ 'sam.input_size': '1024' }) }),
    );
    assert.match(
      errors(r2, 'mini_encoder')[0].message,
      /profile sam: encoder input image must end in \[3,1024,1024\], model declares \[-1,3,64,64\]/,
    );
    const r3 = await checkRepository(
      await writeRepo({ encoderConfig: encoderConfig({ 'sam.embedding_shape': '256,64,64' }) }),
    );
    const got = errors(r3).map((f) => f.code);
    assert.deepEqual(got, ['PROFILE_MISMATCH', 'PROFILE_MISMATCH'], formatReport(r3));
  });

  it('reports broken ensemble maps', async () => {
    const r1 = await checkRepository(await writeRepo({ ensembleConfig: ensembleConfig('img') }));
    const got = codes(r1, 'mini');
    assert.ok(got.includes('ENSEMBLE_MAP_UNKNOWN_TENSOR'), got.join());
    assert.ok(got.includes('ENSEMBLE_INPUT_UNMAPPED'), got.join());
    const unknown = errors(r1, 'mini').find((f) => f.code === 'ENSEMBLE_MAP_UNKNOWN_TENSOR');
    assert.match(unknown?.message ?? '', /'img', which is not an input of mini_encoder/);
    assert.ok(unknown?.line !== undefined);

    const r2 = await checkRepository(await writeRepo({ ensembleConfig: ensembleConfig('image', ['masks']) }));
    const notProduced = errors(r2, 'mini').map((f) => `${f.code} ${f.message}`);
    assert.deepEqual(notProduced, [
      "ENSEMBLE_OUTPUT_NOT_PRODUCED ensemble output 'iou_predictions' is not produced by any step's output_map",
      "ENSEMBLE_OUTPUT_NOT_PRODUCED ensemble output 'low_res_masks' is not produced by any step's output_map",
    ]);

    const r3 = await checkRepository(
      await writeRepo({
        ensembleConfig: ensembleConfig().replace('value: "emb" }\n    },', 'value: "emb2" }\n    },'),
      }),
    );
    assert.ok(codes(r3, 'mini').includes('ENSEMBLE_TENSOR_UNDEFINED'), formatReport(r3));

    const pinned = await checkRepository(
      await writeRepo({
        ensembleConfig: ensembleConfig().replace(
          'model_name: "mini_decoder"\n      model_version: -1',
          'model_name: "mini_decoder"\n      model_version: 3',
        ),
      }),
    );
    assert.match(
      errors(pinned, 'mini')
        .map((f) => f.message)
        .join('\n'),
      /step pins mini_decoder version 3, but mini_decoder\/3\/ does not exist/,
    );

    const r4 = await checkRepository(
      await writeRepo({
        ensembleConfig: ensembleConfig().replace('dims: [ 1, 3, 64, 64 ]', 'dims: [ 1, 3, 32, 32 ]'),
      }),
    );
    const mismatch = errors(r4, 'mini').find((f) => f.code === 'ENSEMBLE_TENSOR_MISMATCH');
    assert.match(
      mismatch?.message ?? '',
      /'image' has shape \[1,3,32,32\] in mini but \[-1,3,64,64\] in mini_encoder/,
    );
  });

  it('reports missing version folders and missing model files, naming the path and the export guide', async () => {
    const root = await writeRepo({ encoderOnnx: null });
    await rm(path.join(root, 'mini/1'), { recursive: true });
    await mkdir(path.join(root, 'mini/latest'));
    const report = await checkRepository(root);
    assert.deepEqual(codes(report, 'mini'), ['NO_VERSION']);
    assert.equal(report.models.find((m) => m.name === 'mini')?.findings[0].code, 'NON_NUMERIC_VERSION');
    const [missing] = errors(report, 'mini_encoder');
    assert.equal(missing.code, 'MISSING_MODEL_FILE');
    assert.equal(missing.file, 'mini_encoder/1/model.onnx');
    assert.match(missing.message, /mini_encoder\/1\/model\.onnx.*deploy\/MODELS\.md/);
  });

  it('reports TensorRT accelerator parameters that Triton would refuse, and version-dependent ones', async () => {
    const optimization = `optimization { execution_accelerators { gpu_execution_accelerator [
  { name: "tensorrt"
    parameters { key: "precision_mode" value: "FP8" }
    parameters { key: "trt_fp16_enable" value: "1" }
    parameters { key: "trt_profile_min_shapes" value: "image:1x3x64x64" }
    parameters { key: "max_workspace_size_bytes" value: "1073741824" } },
  { name: "openvino" }
] } }
`;
    const report = await checkRepository(await writeRepo({ encoderConfig: encoderConfig() + optimization }));
    const found = report.models
      .find((m) => m.name === 'mini_encoder')!
      .findings.map((f) => `${f.level} ${f.code} ${f.line} ${f.message}`);
    assert.equal(found.length, 4, found.join('\n'));
    assert.match(
      found[0],
      /^error ACCELERATOR_PARAMETER \d+ .*'precision_mode' expects FP32, FP16, BF16 or INT8, got 'FP8'/,
    );
    assert.match(found[1], /^error ACCELERATOR_PARAMETER \d+ .*'trt_fp16_enable' is unknown/);
    assert.match(
      found[2],
      /^warning ACCELERATOR_PARAMETER \d+ 'trt_profile_min_shapes' is rejected .* older Triton/,
    );
    assert.match(found[3], /^error ACCELERATOR_PARAMETER \d+ unknown GPU execution accelerator 'openvino'/);
  });

  it('follows symbolic links to model and version folders', async () => {
    const target = await writeRepo();
    const root = path.join(tmp, `linked${counter}`);
    await mkdir(root);
    for (const name of ['mini', 'mini_encoder', 'mini_decoder']) {
      await symlink(path.join(target, name), path.join(root, name), 'dir');
    }
    const report = await checkRepository(root);
    assert.deepEqual(all(report), [], formatReport(report));
    assert.equal(report.models.length, 3);
  });

  it('reports a folder without config.pbtxt and a repository that does not exist', async () => {
    const root = await writeRepo();
    await mkdir(path.join(root, 'stray/1'), { recursive: true });
    const report = await checkRepository(root);
    assert.deepEqual(codes(report, 'stray'), ['MISSING_CONFIG']);
    const none = await checkRepository(path.join(root, 'nope'));
    assert.deepEqual(codes(none), ['REPOSITORY_MISSING']);
    assert.equal(none.ok, false);
  });

  it('reports an unreadable ONNX file and missing external weights without crashing', async () => {
    const truncated = encoderOnnx().subarray(0, 40);
    const r1 = await checkRepository(await writeRepo({ encoderOnnx: truncated }));
    assert.deepEqual(codes(r1, 'mini_encoder'), ['ONNX_UNREADABLE']);

    const g = new GraphBuilder('ext');
    const x = g.input('image', OnnxType.FLOAT, ['batch', 3, 64, 64]);
    g.op1('AveragePool', [x], { kernel_shape: [16, 16], strides: [16, 16] }, 'image_embeddings');
    g.output('image_embeddings', OnnxType.FLOAT, ['batch', 3, 4, 4]);
    const model = onnx.ModelProto.decode(
      serializeModel(g, { opset: 17, producerName: 't', producerVersion: '1' }),
    );
    model.graph!.initializer = [
      onnx.TensorProto.create({
        name: 'w',
        dataType: 1,
        dims: [1024],
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: 'model.onnx.data' },
          { key: 'length', value: '4096' },
        ],
      }),
    ];
    const root = await writeRepo({ encoderOnnx: onnx.ModelProto.encode(model).finish() });
    const r2 = await checkRepository(root);
    const [f] = errors(r2, 'mini_encoder');
    assert.equal(f.code, 'MISSING_EXTERNAL_DATA');
    assert.match(f.message, /'model\.onnx\.data'.*mini_encoder\/1\/model\.onnx\.data/);
    await writeFile(path.join(root, 'mini_encoder/1/model.onnx.data'), new Uint8Array(4096));
    assert.deepEqual(errors(await checkRepository(root)), []);
  });
});

describe('readOnnxSignature', () => {
  it('skips large initializers placed before the graph inputs and outputs', async () => {
    const g = new GraphBuilder('big');
    const x = g.input('x', OnnxType.FLOAT, ['n', 4]);
    const w = g.constF(new Float32Array(4 * 1024 * 1024), [4, 1024 * 1024], 'weights');
    g.op1('MatMul', [x, w], {}, 'y');
    g.output('y', OnnxType.FLOAT, ['n', 1024 * 1024]);
    const file = path.join(tmp, 'big.onnx');
    await writeFile(file, serializeModel(g, { opset: 13, producerName: 't', producerVersion: '1' }));
    assert.ok((await stat(file)).size > 16 * 1024 * 1024);
    const sig = await readOnnxSignature(file);
    assert.deepEqual(sig.inputs, [{ name: 'x', dataType: 'TYPE_FP32', dims: [-1, 4] }]);
    assert.deepEqual(sig.outputs, [{ name: 'y', dataType: 'TYPE_FP32', dims: [-1, 1024 * 1024] }]);
    assert.deepEqual(sig.initializerNames, [w]);
    assert.equal(sig.opset, 13);
    assert.equal(sig.irVersion, 8);
  });
});

describe('checkRepository on the project repository (triton-models/)', () => {
  it('finds only missing weights in the production configs, and nothing else wrong', async () => {
    const report = await checkRepository(realRepository);
    const names = report.models.map((m) => m.name);
    for (const base of PRODUCTION) {
      for (const name of [base, `${base}_encoder`, `${base}_decoder`]) assert.ok(names.includes(name), name);
      assert.equal(report.models.find((m) => m.name === `${base}_encoder`)?.role, 'encoder');
      assert.equal(report.models.find((m) => m.name === `${base}_decoder`)?.role, 'decoder');
      assert.equal(report.models.find((m) => m.name === base)?.role, 'ensemble');
    }
    for (const m of report.models) {
      for (const f of m.findings.filter((x) => x.level !== 'info')) {
        // Weights are never in git: a model whose ONNX file was not exported yet reports exactly that.
        assert.equal(f.code, 'MISSING_MODEL_FILE', `${m.name}: ${f.code} ${f.message}`);
        const expected = path.join(realRepository, f.file ?? '');
        await assert.rejects(stat(expected), `${expected} exists but was reported missing`);
      }
    }
    // Exported production weights stay out of git even though the reference model files are committed.
    for (const base of PRODUCTION) {
      for (const name of [`${base}_encoder`, `${base}_decoder`]) {
        const ignore = await readFile(path.join(realRepository, name, '.gitignore'), 'utf8');
        assert.match(ignore, /^\*\.onnx$/m, name);
        assert.match(ignore, /^\*\.onnx\.data$/m, name);
      }
    }
    // The reference models are committed with their ONNX files and must be fully valid.
    for (const name of REFERENCE) {
      const model = report.models.find((m) => m.name === name);
      assert.ok(model, `${name} missing from triton-models/`);
      assert.deepEqual(errors(report, name), [], name);
    }
  });

  it('accepts files with the official export signatures in place of the missing production weights', async () => {
    const root = path.join(tmp, 'production');
    for (const name of ['sam_vit_b', 'sam_vit_b_encoder', 'sam_vit_b_decoder']) {
      await cp(path.join(realRepository, name), path.join(root, name), { recursive: true });
    }
    await writeFile(path.join(root, 'sam_vit_b_encoder/1/model.onnx'), officialEncoderOnnx('image', 'batch'));
    await writeFile(path.join(root, 'sam_vit_b_decoder/1/model.onnx'), officialDecoderOnnx());
    const report = await checkRepository(root);
    assert.deepEqual(all(report), [], formatReport(report));

    // samexporter's encoder (input_image, fixed batch 1) does not fit the batching config: the checker
    // says so instead of letting Triton fail at load time.
    await writeFile(path.join(root, 'sam_vit_b_encoder/1/model.onnx'), officialEncoderOnnx('input_image', 1));
    const bad = await checkRepository(root);
    assert.deepEqual(codes(bad, 'sam_vit_b_encoder'), [
      'TENSOR_MISSING',
      'TENSOR_NOT_IN_CONFIG',
      'BATCH_DIM',
    ]);
  });
});

describe('medseg models check (runCheckCommand)', () => {
  const capture = (): CliIo & { out: string; err: string } => {
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
  };

  it('exits 0 on a valid repository and 1 when there are errors', async () => {
    const ok = capture();
    assert.equal(await runCheckCommand(['--repository', await writeRepo()], ok, {}), 0);
    assert.match(ok.out, /3 model\(s\), 0 error\(s\), 0 warning\(s\)/);
    const bad = capture();
    assert.equal(
      await runCheckCommand(['--repository', await writeRepo({ decoderConfig: null })], bad, {}),
      1,
    );
    assert.match(bad.out, /FAIL mini_encoder/);
  });

  it('prints JSON with --json and reads MODEL_REPOSITORY when --repository is absent', async () => {
    const io = capture();
    const root = await writeRepo({ encoderOnnx: null });
    assert.equal(await runCheckCommand(['--json'], io, { MODEL_REPOSITORY: root }), 1);
    const report = JSON.parse(io.out) as CheckReport;
    assert.equal(report.repository, root);
    assert.equal(report.errors, 1);
    assert.equal(
      report.models.find((m) => m.name === 'mini_encoder')?.findings[0].code,
      'MISSING_MODEL_FILE',
    );
  });

  it('rejects unknown options and a --repository without a value', async () => {
    await assert.rejects(runCheckCommand(['--verbose'], capture(), {}), CliError);
    await assert.rejects(runCheckCommand(['--repository'], capture(), {}), /--repository expects a folder/);
  });
});
