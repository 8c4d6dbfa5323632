/**
 * 3-D propagation: the propagate function over a fake segmenter (stopping, limits, cancellation), then
 * segmentVolume over real HTTP and the embedded backend on an ellipsoid phantom (Dice per slice against the
 * known ellipsoid), the BraTS FLAIR sample (Dice reported), a DICOM series with a SEG output, volume jobs with
 * the volumeProgress subscription over a real WebSocket (graphql-ws), cancellation and typed errors.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { writeNiftiLabels } from '../../gateway/src/api/medical/nifti-writer.ts';
import type { BinaryMask } from '../../gateway/src/core/mask.ts';
import { dice } from '../../gateway/src/core/metrics.ts';
import type { Raster } from '../../gateway/src/core/raster.ts';
import { decodeRle } from '../../gateway/src/core/rle.ts';
import type { MaskCandidate, PromptSet, Segmenter } from '../../gateway/src/core/segmenter.ts';
import { readDicomSeg, segSourceFromDicom } from '../../gateway/src/imaging/dicom-seg.ts';
import { decodeNifti } from '../../gateway/src/imaging/nifti.ts';
import { maskBox, nextBox, propagate } from '../../gateway/src/sam/propagation.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { errorCode, gql, REPO_ROOT, startTestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';

const samples = resolve(REPO_ROOT, '../shared/samples');

/** An ellipsoid phantom: bright inside, darker outside, seeded noise; voxel (x, y, z) at x + nx*(y + ny*z). */
function ellipsoid(dims: [number, number, number], centre: number[], radii: number[], seed = 1) {
  const [nx, ny, nz] = dims;
  const image = new Uint8Array(nx * ny * nz);
  const truth = new Uint8Array(nx * ny * nz);
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const r =
          ((x - centre[0]) / radii[0]) ** 2 +
          ((y - centre[1]) / radii[1]) ** 2 +
          ((z - centre[2]) / radii[2]) ** 2;
        const i = x + nx * (y + ny * z);
        truth[i] = r <= 1 ? 1 : 0;
        image[i] = (r <= 1 ? 170 : 70) + Math.round((rnd() - 0.5) * 24);
      }
  return { image, truth };
}

function sliceOf(volume: Uint8Array, nx: number, ny: number, z: number): BinaryMask {
  return { width: nx, height: ny, data: volume.slice(nx * ny * z, nx * ny * (z + 1)) };
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

const VOLUME = `mutation ($in: VolumeSegmentInput!) {
  segmentVolume(input: $in) {
    model keySlice dims spacing stoppedUp stoppedDown nifti elapsedMs
    slices { slice area predictedIou rle { size counts } bbox { x y width height } box { x0 y0 x1 y1 } sopInstanceUID }
    dicomSeg { base64 frames sopInstanceUID seriesInstanceUID stored { pacs } }
  }
}`;

interface VolumeOut {
  keySlice: number;
  dims: number[];
  spacing: number[] | null;
  stoppedUp: string;
  stoppedDown: string;
  nifti: string | null;
  elapsedMs: number;
  slices: Array<{
    slice: number;
    area: number;
    predictedIou: number;
    rle: { size: [number, number]; counts: string };
    box: { x0: number; y0: number; x1: number; y1: number } | null;
    sopInstanceUID: string | null;
  }>;
  dicomSeg: { base64: string; frames: number; sopInstanceUID: string; seriesInstanceUID: string } | null;
}

describe('propagate over a fake segmenter', () => {
  // The fake "segments" the pixels >= 128 inside the box (or everything >= 128 without one).
  const fake = (): Segmenter & { calls: number } => {
    const images = new Map<string, Raster>();
    return {
      calls: 0,
      async encode(image: Raster) {
        const id = `e${images.size}`;
        images.set(id, image);
        return {
          id,
          model: 'fake',
          modelVersion: '1',
          width: image.width,
          height: image.height,
          cached: false,
        };
      },
      async decode(id: string, prompts: PromptSet[]): Promise<MaskCandidate[][]> {
        this.calls++;
        const img = images.get(id)!;
        return prompts.map((p) => {
          const [x0, y0, x1, y1] = p.box ?? [0, 0, img.width, img.height];
          const data = new Uint8Array(img.width * img.height);
          for (let y = Math.floor(y0); y < Math.ceil(y1); y++)
            for (let x = Math.floor(x0); x < Math.ceil(x1); x++)
              data[y * img.width + x] = img.data[y * img.width + x] >= 128 ? 1 : 0;
          return [
            {
              mask: { width: img.width, height: img.height, data },
              predictedIou: 0.9,
              stabilityScore: 1,
              lowRes: { size: 1, data: new Float32Array(1) },
              index: 0,
            },
          ];
        });
      },
    };
  };
  const { image, truth } = ellipsoid([32, 32, 20], [16, 16, 10], [10, 8, 6]);
  const source = {
    depth: 20,
    slice: (z: number): Raster => ({
      width: 32,
      height: 32,
      channels: 1,
      data: image.slice(32 * 32 * z, 32 * 32 * (z + 1)),
    }),
  };
  const keyBox = (): [number, number, number, number] => {
    const b = maskBox(sliceOf(truth, 32, 32, 10)).box!;
    return nextBox(b, 0, 32, 32);
  };

  test('walks both ways from the key slice and stops where the object ends', async () => {
    const events: number[] = [];
    const r = await propagate(fake(), source, {
      model: 'fake',
      keySlice: 10,
      prompt: { box: keyBox(), points: [] },
      maxSlices: 100,
      minArea: 1,
      boxMargin: 2,
      onProgress: (e) => events.push(e.done),
    });
    const truthSlices = [...Array(20).keys()].filter((z) => sliceOf(truth, 32, 32, z).data.some((v) => v));
    assert.deepEqual(
      r.slices.map((s) => s.index),
      truthSlices,
    );
    for (const s of r.slices) assert.equal(dice(s.mask, sliceOf(truth, 32, 32, s.index)), 1);
    assert.equal(r.stoppedUp, 'vanished');
    assert.equal(r.stoppedDown, 'vanished');
    assert.deepEqual(
      events,
      [...Array(truthSlices.length).keys()].map((i) => i + 1),
    );
  });

  test('splits the slice limit between both directions and reports it', async () => {
    const r = await propagate(fake(), source, {
      model: 'fake',
      keySlice: 10,
      prompt: { box: keyBox(), points: [] },
      maxSlices: 5,
      minArea: 1,
      boxMargin: 2,
    });
    assert.deepEqual(
      r.slices.map((s) => s.index),
      [8, 9, 10, 11, 12],
    );
    assert.equal(r.stoppedUp, 'limit');
    assert.equal(r.stoppedDown, 'limit');
  });

  test('stops at the volume end and when cancelled', async () => {
    const atEnd = await propagate(
      fake(),
      { depth: 12, slice: source.slice },
      {
        model: 'fake',
        keySlice: 10,
        prompt: { box: keyBox(), points: [] },
        maxSlices: 100,
        minArea: 1,
        boxMargin: 2,
      },
    );
    assert.equal(atEnd.stoppedUp, 'volume-end');
    assert.equal(atEnd.slices.at(-1)!.index, 11);
    const controller = new AbortController();
    const seg = fake();
    const cancelled = await propagate(seg, source, {
      model: 'fake',
      keySlice: 10,
      prompt: { box: keyBox(), points: [] },
      maxSlices: 100,
      minArea: 1,
      boxMargin: 2,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.done === 3) controller.abort();
      },
    });
    assert.equal(cancelled.cancelled, true);
    assert.ok(cancelled.slices.length <= 3, `${cancelled.slices.length} slices after cancel`);
    await assert.rejects(
      propagate(fake(), source, {
        model: 'fake',
        keySlice: 20,
        prompt: { points: [] },
        maxSlices: 1,
        minArea: 1,
        boxMargin: 0,
      }),
      RangeError,
    );
  });
});

describe('segmentVolume and volume jobs over GraphQL', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startTestGateway({ maxVolumeSlices: 64 });
  });
  after(async () => {
    await gw?.close();
  });

  test('an ellipsoid phantom: per-slice Dice >= 0.8 on most slices, stops beyond the object, NIfTI labels', async () => {
    const dims: [number, number, number] = [64, 64, 24];
    const { image, truth } = ellipsoid(dims, [32, 30, 12], [18, 14, 8]);
    const nii = writeNiftiLabels({ dims, spacing: [0.8, 0.8, 2], data: image });
    const key = maskBox(sliceOf(truth, 64, 64, 12)).box!;
    const r = await gql<{ segmentVolume: VolumeOut }>(gw.url, VOLUME, {
      in: {
        volume: { nifti: { base64: b64(nii), axis: 2 } },
        keySlice: 12,
        prompt: { box: { x0: key[0], y0: key[1], x1: key[2] + 1, y1: key[3] + 1 } },
        outputs: ['NIFTI'],
      },
    });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const out = r.data!.segmentVolume;
    assert.deepEqual(out.dims, [64, 64, 24]);
    assert.deepEqual(
      out.spacing,
      [0.8, 0.8, 2].map((v) => Math.fround(v)),
    );
    assert.equal(out.stoppedUp, 'VANISHED');
    assert.equal(out.stoppedDown, 'VANISHED');
    const truthSlices = [...Array(24).keys()].filter(
      (z) => sliceOf(truth, 64, 64, z).data.reduce((a, b) => a + b, 0) >= 20,
    );
    const got = out.slices.map((s) => s.slice);
    // Propagation stops beyond the object: nothing outside the slices where it exists.
    assert.ok(
      got.every((z) => sliceOf(truth, 64, 64, z).data.some((v) => v)),
      `slices ${got}`,
    );
    const dices = out.slices.map((s) => dice(decodeRle(s.rle), sliceOf(truth, 64, 64, s.slice)));
    const good = dices.filter((d) => d >= 0.8).length;
    assert.ok(
      good >= Math.ceil(truthSlices.length * 0.7),
      `Dice per slice ${dices.map((d) => d.toFixed(2))} over ${truthSlices.length} object slices`,
    );
    console.log(
      `# ellipsoid: ${got.length} slices ${got[0]}..${got.at(-1)}, mean Dice ${(dices.reduce((a, b) => a + b, 0) / dices.length).toFixed(3)}, ${out.elapsedMs} ms`,
    );

    const labels = decodeNifti(new Uint8Array(Buffer.from(out.nifti!, 'base64')));
    assert.deepEqual(labels.dims, dims);
    assert.deepEqual(
      labels.spacing.map((v) => Math.fround(v)),
      [0.8, 0.8, 2].map((v) => Math.fround(v)),
    );
    for (const s of out.slices)
      assert.deepEqual(sliceOf(labels.data as Uint8Array, 64, 64, s.slice).data, decodeRle(s.rle).data);
    assert.equal(
      sliceOf(labels.data as Uint8Array, 64, 64, 0).data.some((v) => v),
      false,
    );
  });

  test('the BraTS FLAIR volume from its largest tumour slice (Dice reported)', async () => {
    const dir = resolve(samples, 'nifti/brats2015-flair/brats_2013_pat0006_1');
    const flair = readFileSync(resolve(dir, 'Flair_subtrMeanDivStd.nii.gz'));
    const label = decodeNifti(new Uint8Array(readFileSync(resolve(dir, 'OTMultiClass.nii.gz'))));
    const [nx, ny, nz] = label.dims;
    const tumour = new Uint8Array(nx * ny * nz);
    for (let i = 0; i < tumour.length; i++) tumour[i] = label.data[i] >= 1 && label.data[i] <= 4 ? 1 : 0;
    let keySlice = 0;
    let best = -1;
    for (let z = 0; z < nz; z++) {
      const area = sliceOf(tumour, nx, ny, z).data.reduce((a, b) => a + b, 0);
      if (area > best) [best, keySlice] = [area, z];
    }
    const b = maskBox(sliceOf(tumour, nx, ny, keySlice)).box!;
    const r = await gql<{ segmentVolume: VolumeOut }>(gw.url, VOLUME, {
      in: {
        volume: { nifti: { base64: flair.toString('base64'), axis: 2 } },
        keySlice,
        prompt: { box: { x0: b[0], y0: b[1], x1: b[2] + 1, y1: b[3] + 1 } },
        window: { percentiles: { low: 0.5, high: 99.5 } },
        maxSlices: 15,
        outputs: [],
      },
    });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const out = r.data!.segmentVolume;
    assert.equal(out.nifti, null);
    assert.ok(out.slices.length >= 1 && out.slices.length <= 15);
    const dices = out.slices.map((s) => dice(decodeRle(s.rle), sliceOf(tumour, nx, ny, s.slice)));
    let inter = 0;
    let sum = 0;
    for (const s of out.slices) {
      const m = decodeRle(s.rle);
      const t = sliceOf(tumour, nx, ny, s.slice);
      for (let i = 0; i < m.data.length; i++) {
        inter += m.data[i] & t.data[i];
        sum += m.data[i] + t.data[i];
      }
    }
    console.log(
      `# BraTS pat0006: key slice ${keySlice} (tumour ${best} px), ${out.slices.length} slices ${out.slices[0].slice}..${out.slices.at(-1)!.slice}, ` +
        `key Dice ${dices[out.slices.findIndex((s) => s.slice === keySlice)].toFixed(3)}, mean slice Dice ${(dices.reduce((a, c) => a + c, 0) / dices.length).toFixed(3)}, ` +
        `Dice over those slices ${((2 * inter) / sum).toFixed(3)}, ${out.elapsedMs} ms`,
    );
  });

  test('a DICOM series volume gives SEG frames referencing its slices and a NIfTI in patient space', async () => {
    const files = ['03.dcm', '01.dcm', '02.dcm'].map(
      (f) => new Uint8Array(readFileSync(resolve(samples, 'dicom/ct-3slice-liver-seg', f))),
    );
    const liver = readDicomSeg(
      new Uint8Array(readFileSync(resolve(samples, 'dicom/ct-3slice-liver-seg/liver.dcm'))),
    );
    const refs = files.map((f) => segSourceFromDicom(f).source);
    const sorted = [...refs].sort((a, b) => a.imagePositionPatient![2] - b.imagePositionPatient![2]);
    const key = liver.frames.find((f) => f.sourceSopInstanceUids[0] === sorted[1].sopInstanceUid)!.mask;
    const kb = maskBox(key).box!;
    const r = await gql<{ segmentVolume: VolumeOut }>(gw.url, VOLUME, {
      in: {
        volume: { dicomSeries: { instances: files.map(b64) } },
        keySlice: 1,
        prompt: { box: { x0: kb[0], y0: kb[1], x1: kb[2] + 1, y1: kb[3] + 1 } },
        window: { preset: 'CT_SOFT_TISSUE' },
        outputs: ['NIFTI', 'DICOM_SEG'],
        seg: { label: 'Liver', type: 'LIVER' },
      },
    });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const out = r.data!.segmentVolume;
    assert.deepEqual(out.dims, [512, 512, 3]);
    assert.equal(out.slices.find((s) => s.slice === 1)!.sopInstanceUID, sorted[1].sopInstanceUid);
    const seg = readDicomSeg(new Uint8Array(Buffer.from(out.dicomSeg!.base64, 'base64')));
    assert.equal(seg.frames.length, out.slices.length);
    assert.equal(out.dicomSeg!.frames, out.slices.length);
    seg.frames.forEach((f) => {
      const s = out.slices.find((x) => x.sopInstanceUID === f.sourceSopInstanceUids[0])!;
      assert.deepEqual(f.mask.data, decodeRle(s.rle).data);
    });
    const nifti = decodeNifti(new Uint8Array(Buffer.from(out.nifti!, 'base64')));
    assert.deepEqual(nifti.dims, [512, 512, 3]);
    assert.equal(nifti.orientationSource, 'sform');
    // voxel (0, 0, 0) sits at the lowest slice's Image Position Patient, in RAS (x and y negated)
    const p = sorted[0].imagePositionPatient!;
    [-p[0], -p[1], p[2]].forEach((v, k) => assert.ok(Math.abs(nifti.affine[k][3] - v) < 1e-3, `origin ${k}`));
  });

  test('a volume job streams increasing progress over WebSocket and ends with its result', async () => {
    const dims: [number, number, number] = [48, 48, 14];
    const { image, truth } = ellipsoid(dims, [24, 24, 7], [12, 10, 5], 3);
    const nii = writeNiftiLabels({ dims, spacing: [1, 1, 1], data: image });
    const k = maskBox(sliceOf(truth, 48, 48, 7)).box!;
    const input = {
      volume: { nifti: { base64: b64(nii) } },
      keySlice: 7,
      prompt: { box: { x0: k[0], y0: k[1], x1: k[2] + 1, y1: k[3] + 1 } },
    };
    const started = await gql<{ startVolumeSegmentation: { jobId: string; status: string } }>(
      gw.url,
      `mutation ($in: VolumeSegmentInput!) { startVolumeSegmentation(input: $in) { jobId status } }`,
      { in: input },
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const { jobId, status } = started.data!.startVolumeSegmentation;
    assert.equal(status, 'RUNNING');
    const client = createClient({
      url: `${gw.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
    });
    const events: Array<{
      status: string;
      progress: number;
      slicesDone: number;
      slice: number | null;
      done: boolean;
    }> = [];
    try {
      const it = client.iterate<{ volumeProgress: (typeof events)[number] }>({
        query: `subscription ($id: ID!) { volumeProgress(jobId: $id) { jobId status progress slicesDone slicesPlanned slice area done } }`,
        variables: { id: jobId },
      });
      for await (const msg of it) {
        assert.equal(msg.errors, undefined, JSON.stringify(msg.errors));
        events.push(msg.data!.volumeProgress);
      }
    } finally {
      await client.dispose();
    }
    assert.ok(events.length >= 2, `${events.length} events`);
    const last = events.at(-1)!;
    assert.equal(last.done, true);
    assert.equal(last.status, 'SUCCEEDED');
    assert.equal(last.progress, 1);
    for (let i = 1; i < events.length; i++)
      assert.ok(events[i].progress >= events[i - 1].progress, 'progress never decreases');
    const running = events.filter((e) => !e.done);
    for (let i = 1; i < running.length; i++) assert.ok(running[i].slicesDone > running[i - 1].slicesDone);

    const job = await gql<{
      volumeJob: { status: string; progress: number; result: { slices: Array<{ slice: number }> } };
    }>(gw.url, `query ($id: ID!) { volumeJob(jobId: $id) { status progress result { slices { slice } } } }`, {
      id: jobId,
    });
    assert.equal(job.data!.volumeJob.status, 'SUCCEEDED');
    assert.equal(job.data!.volumeJob.result.slices.length, last.slicesDone);

    // A finished job's subscription gets the final event at once; an unknown one is NOT_FOUND.
    const again = createClient({
      url: `${gw.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
    try {
      const finals: unknown[] = [];
      for await (const msg of again.iterate({
        query: `subscription ($id: ID!) { volumeProgress(jobId: $id) { done status } }`,
        variables: { id: jobId },
      }))
        finals.push(msg.data?.volumeProgress);
      assert.deepEqual(finals, [{ done: true, status: 'SUCCEEDED' }]);
      // graphql-ws delivers a subscribe-time error as one result carrying the error, then completes.
      const unknown: Array<{ errors?: ReadonlyArray<{ extensions?: { code?: unknown } }> }> = [];
      for await (const msg of again.iterate({
        query: `subscription { volumeProgress(jobId: "nope") { done } }`,
      }))
        unknown.push(msg);
      assert.equal(unknown.length, 1);
      assert.equal(unknown[0].errors?.[0]?.extensions?.code, 'NOT_FOUND');
    } finally {
      await again.dispose();
    }
  });

  test('cancelVolume stops a running job at the next slice', async () => {
    const dims: [number, number, number] = [48, 48, 40];
    const { image, truth } = ellipsoid(dims, [24, 24, 20], [14, 12, 19], 5);
    const nii = writeNiftiLabels({ dims, spacing: [1, 1, 1], data: image });
    const k = maskBox(sliceOf(truth, 48, 48, 20)).box!;
    const started = await gql<{ startVolumeSegmentation: { jobId: string } }>(
      gw.url,
      `mutation ($in: VolumeSegmentInput!) { startVolumeSegmentation(input: $in) { jobId } }`,
      {
        in: {
          volume: { nifti: { base64: b64(nii) } },
          keySlice: 20,
          prompt: { box: { x0: k[0], y0: k[1], x1: k[2] + 1, y1: k[3] + 1 } },
        },
      },
    );
    const { jobId } = started.data!.startVolumeSegmentation;
    const poll = () =>
      gql<{ volumeJob: { status: string; slicesDone: number; slicesPlanned: number; result: unknown } }>(
        gw.url,
        `query ($id: ID!) { volumeJob(jobId: $id) { status slicesDone slicesPlanned result { keySlice } } }`,
        { id: jobId },
      );
    await waitFor('2 slices done', async () => (await poll()).data!.volumeJob.slicesDone >= 2);
    const cancel = await gql<{ cancelVolume: boolean }>(
      gw.url,
      `mutation ($id: ID!) { cancelVolume(jobId: $id) }`,
      { id: jobId },
    );
    assert.equal(cancel.data!.cancelVolume, true);
    const state = await waitFor('the job to stop', async () => {
      const job = (await poll()).data!.volumeJob;
      return job.status !== 'RUNNING' && job;
    });
    assert.equal(state.status, 'CANCELLED');
    assert.equal(state.result, null);
    assert.ok(state.slicesDone < 20, `${state.slicesDone} slices done before stopping`);
    const again = await gql<{ cancelVolume: boolean }>(
      gw.url,
      `mutation ($id: ID!) { cancelVolume(jobId: $id) }`,
      { id: jobId },
    );
    assert.equal(again.data!.cancelVolume, false);
  });

  test('bad volume requests get typed codes', async () => {
    const dims: [number, number, number] = [16, 16, 4];
    const nii = b64(writeNiftiLabels({ dims, spacing: [1, 1, 1], data: new Uint8Array(16 * 16 * 4) }));
    const box = { x0: 2, y0: 2, x1: 10, y1: 10 };
    const code = async (input: Record<string, unknown>) =>
      errorCode(
        await gql(gw.url, VOLUME, {
          in: { volume: { nifti: { base64: nii } }, keySlice: 1, prompt: { box }, ...input },
        }),
      );
    assert.equal(await code({ keySlice: 4 }), 'BAD_REQUEST');
    assert.equal(await code({ maxSlices: 65 }), 'LIMIT_EXCEEDED');
    assert.equal(await code({ prompt: { box: { x0: 2, y0: 2, x1: 40, y1: 10 } } }), 'BAD_PROMPT');
    assert.equal(await code({ prompt: { points: [] } }), 'BAD_PROMPT');
    assert.equal(await code({ outputs: ['DICOM_SEG'] }), 'BAD_REQUEST');
    assert.equal(await code({ volume: { nifti: { base64: b64(new Uint8Array(400)) } } }), 'BAD_IMAGE');
    assert.equal(
      await code({ volume: { dicomweb: { pacs: 'none', studyUID: '1.2', seriesUID: '1.2.3' } } }),
      'BAD_REQUEST',
    );
    assert.equal(
      await code({ volume: { dicomSeries: { instances: [b64(new Uint8Array(300))] } } }),
      'BAD_IMAGE',
    );
    assert.equal(errorCode(await gql(gw.url, `mutation { cancelVolume(jobId: "nope") }`)), 'NOT_FOUND');
    const none = await gql<{ volumeJob: null }>(gw.url, `{ volumeJob(jobId: "nope") { status } }`);
    assert.equal(none.data!.volumeJob, null);
  });
});
