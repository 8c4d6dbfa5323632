import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { main } from '../../../gateway/src/cli/main.ts';
import { generatePhantom } from '../../../gateway/src/core/phantoms.ts';
import {
  decoderConfig,
  encoderConfig,
  ensembleConfig,
  hwcEncoderConfig,
} from '../../../gateway/src/models/reference/configs.ts';
import {
  ensureReferenceModels,
  generateReferenceRepository,
  referenceRepositoryFiles,
} from '../../../gateway/src/models/reference/generate.ts';
import { buildReferenceHwcEncoder } from '../../../gateway/src/models/reference/hwc-encoder.ts';
import { ReferenceRunner } from './reference-runner.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const { onnx } = onnxProto;

function captureIo() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => (out.stdout += t), stderr: (t: string) => (out.stderr += t) } };
}

describe('reference repository generation', () => {
  let dir = '';
  before(async () => {
    dir = tempDir('medseg-ref-');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is deterministic: two generations give identical bytes', () => {
    const a = referenceRepositoryFiles();
    const b = referenceRepositoryFiles();
    assert.deepEqual(
      a.map((f) => f.path),
      b.map((f) => f.path),
    );
    a.forEach((f, i) => assert.ok(Buffer.compare(f.bytes, b[i].bytes) === 0, f.path));
  });

  it('matches the committed triton-models files byte for byte (drift check)', async () => {
    const report = await generateReferenceRepository(dir);
    assert.equal(report.written.length, referenceRepositoryFiles().length);
    for (const path of report.written) {
      const committed = await readFile(join(repoRoot, 'triton-models', path));
      const fresh = await readFile(join(dir, path));
      assert.ok(
        Buffer.compare(committed, fresh) === 0,
        `${path} differs from a fresh generation: run 'medseg models generate' and commit the result`,
      );
    }
  });

  it('keeps the models small (no big initializers)', () => {
    for (const f of referenceRepositoryFiles())
      assert.ok(f.bytes.length < 100_000, `${f.path}: ${f.bytes.length} bytes`);
  });

  it('rewrites only differing files, and --if-missing leaves existing files alone', async () => {
    const again = await generateReferenceRepository(dir);
    assert.deepEqual(again.written, []);
    const target = join(dir, 'sam_reference_decoder/config.pbtxt');
    await writeFile(target, 'tampered');
    const ifMissing = await ensureReferenceModels(dir);
    assert.deepEqual(ifMissing.written, []);
    assert.equal(await readFile(target, 'utf8'), 'tampered');
    const fixed = await generateReferenceRepository(dir);
    assert.deepEqual(fixed.written, ['sam_reference_decoder/config.pbtxt']);
  });

  it("'medseg models generate --check' exits 0 when current and 1 on drift", async () => {
    const ok = captureIo();
    assert.equal(await main(['models', 'generate', '--check', '--repository', dir], ok.io), 0);
    assert.match(ok.out.stdout, /up to date/);
    await writeFile(join(dir, 'sam_reference_encoder/1/model.onnx'), new Uint8Array([1, 2, 3]));
    const bad = captureIo();
    assert.equal(await main(['models', 'generate', '--check', '--repository', dir], bad.io), 1);
    assert.match(bad.out.stderr, /differs: sam_reference_encoder\/1\/model\.onnx/);
    const quiet = captureIo();
    assert.equal(await main(['models', 'generate', '--quiet', '--repository', dir], quiet.io), 0);
    assert.equal(quiet.out.stdout, '');
    assert.equal(await main(['models', 'generate', '--check', '--repository', dir], captureIo().io), 0);
  });

  it('reports usage errors for unknown sub-commands and options', async () => {
    const a = captureIo();
    assert.equal(await main(['models', 'frobnicate'], a.io), 2);
    assert.match(a.out.stderr, /unknown sub-command 'frobnicate'/);
    const b = captureIo();
    assert.equal(await main(['models', 'generate', '--bogus'], b.io), 2);
    assert.match(b.out.stderr, /unknown option '--bogus'/);
    const c = captureIo();
    assert.equal(await main(['models', 'generate', '--repository'], c.io), 2);
    assert.match(c.out.stderr, /--repository expects a folder path/);
  });
});

describe('reference model contracts', () => {
  it('uses only default-domain ops at opset 17, subgraphs included', () => {
    for (const f of referenceRepositoryFiles().filter((x) => x.path.endsWith('.onnx'))) {
      const model = onnx.ModelProto.decode(f.bytes);
      assert.deepEqual(
        model.opsetImport.map((o) => [o.domain ?? '', Number(o.version)]),
        [['', 17]],
        f.path,
      );
      const visit = (graph: InstanceType<typeof onnx.GraphProto>) => {
        for (const node of graph.node) {
          assert.equal(node.domain ?? '', '', `${f.path}: ${node.opType} has domain ${node.domain}`);
          for (const a of node.attribute ?? []) if (a.g) visit(a.g as InstanceType<typeof onnx.GraphProto>);
        }
      };
      visit(model.graph as InstanceType<typeof onnx.GraphProto>);
    }
  });

  it('declares the official SAM I/O names', async () => {
    const files = Object.fromEntries(referenceRepositoryFiles().map((f) => [f.path, f.bytes]));
    const enc = await ort.InferenceSession.create(files['sam_reference_encoder/1/model.onnx']);
    assert.deepEqual(enc.inputNames, ['x']);
    assert.deepEqual(enc.outputNames, ['image_embeddings']);
    const dec = await ort.InferenceSession.create(files['sam_reference_decoder/1/model.onnx']);
    assert.deepEqual(dec.inputNames, [
      'image_embeddings',
      'point_coords',
      'point_labels',
      'mask_input',
      'has_mask_input',
      'orig_im_size',
    ]);
    assert.deepEqual(dec.outputNames, ['masks', 'iou_predictions', 'low_res_masks']);
    const hwc = await ort.InferenceSession.create(files['sam_reference_hwc_encoder/1/model.onnx']);
    assert.deepEqual(hwc.inputNames, ['input_image']);
  });

  it('declares the sam.* preprocessing contract in every encoder config and the ensemble', () => {
    const keys = [
      'sam.profile',
      'sam.decoder',
      'sam.input_size',
      'sam.resize',
      'sam.normalize',
      'sam.pixel_mean',
      'sam.pixel_std',
      'sam.image_input',
      'sam.embedding_shape',
      'sam.mask_input_size',
      'sam.multimask',
    ];
    const param = (cfg: string, key: string) =>
      new RegExp(`key: "${key.replace('.', '\\.')}"\\n  value \\{ string_value: "([^"]*)" \\}`).exec(
        cfg,
      )?.[1];
    for (const cfg of [encoderConfig(), hwcEncoderConfig(), ensembleConfig()]) {
      for (const k of keys) assert.ok(param(cfg, k) !== undefined, `${k} missing in\n${cfg}`);
    }
    assert.equal(param(encoderConfig(), 'sam.profile'), 'sam');
    assert.equal(param(encoderConfig(), 'sam.resize'), 'longest_side');
    assert.equal(param(encoderConfig(), 'sam.normalize'), 'imagenet');
    assert.equal(param(encoderConfig(), 'sam.pixel_mean'), '123.675,116.28,103.53');
    assert.equal(param(encoderConfig(), 'sam.pixel_std'), '58.395,57.12,57.375');
    assert.equal(param(encoderConfig(), 'sam.decoder'), 'sam_reference_decoder');
    assert.equal(param(hwcEncoderConfig(), 'sam.profile'), 'sam_hwc');
    assert.equal(param(hwcEncoderConfig(), 'sam.image_input'), 'input_image');
    assert.equal(param(ensembleConfig(), 'sam.encoder'), 'sam_reference_encoder');
    assert.match(encoderConfig(), /max_batch_size: 4\n/);
    assert.match(encoderConfig(), /dynamic_batching \{ \}/);
    assert.match(hwcEncoderConfig(), /max_batch_size: 0\n/);
    assert.match(decoderConfig(), /max_batch_size: 16\n/);
    assert.equal(param(decoderConfig(), 'batching.same_value_inputs'), 'orig_im_size');
    assert.match(decoderConfig(), /name: "masks"\n {4}data_type: TYPE_FP32\n {4}dims: \[ 4, -1, -1 \]/);
    assert.match(ensembleConfig(), /platform: "ensemble"\nmax_batch_size: 4\n/);
    assert.match(
      ensembleConfig(),
      /model_name: "sam_reference_encoder"[\s\S]*model_name: "sam_reference_decoder"/,
    );
  });

  it('the HWC encoder reproduces the main encoder on the official preprocessing (within 1 grey level when upscaling)', async () => {
    const runner = await ReferenceRunner.create();
    const hwc = await ort.InferenceSession.create(buildReferenceHwcEncoder(), { intraOpNumThreads: 1 });
    const { image } = generatePhantom({ seed: 11, width: 150, height: 110 });
    const main = (await runner.embed(image)).data as Float32Array;
    const rgb = new Float32Array(image.width * image.height * 3);
    for (let i = 0; i < image.width * image.height; i++) rgb.fill(image.data[i], i * 3, i * 3 + 3);
    const out = await hwc.run({
      input_image: new ort.Tensor('float32', rgb, [image.height, image.width, 3]),
    });
    assert.deepEqual(out.image_embeddings.dims, [1, 256, 64, 64]);
    const e = out.image_embeddings.data as Float32Array;
    let max = 0;
    for (let i = 0; i < e.length; i++) max = Math.max(max, Math.abs(e[i] - main[i]));
    assert.ok(max <= 1 + 1e-3, `max difference ${max}`);
  });
});
