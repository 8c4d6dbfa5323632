/**
 * The benchmark gallery through GraphQL on the reference model: a job on a synthetic dataset, then its best,
 * median and worst cases with their prompts, thumbnails and images; the case's image and prompt segmented
 * again through `segment` give the gallery's Dice; bad arguments are typed errors.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { overlapMetrics } from '../../gateway/src/core/metrics.ts';
import { decodeRle } from '../../gateway/src/core/rle.ts';
import { reportJob } from '../../gateway/src/bench/report/render.ts';
import { decodePng } from '../../gateway/src/imaging/decode-png.ts';
import { errorCode, gql, startTestGateway } from '../helpers/gateway.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

interface Case {
  model: string;
  strategy: string;
  target: string;
  ranks: string[];
  imageId: string;
  objectId: string;
  dice: number;
  candidateIndex: number;
  groupSize: number;
  prompt: { points: Array<{ x: number; y: number; label: number }>; box: number[] | null };
  thumbnail: string;
  image: string;
}

const CASE_FIELDS = `model strategy target ranks imageId objectId dice candidateIndex groupSize
  prompt { points { x y label } box } thumbnail(size: 64) image`;

describe('benchmark gallery API', () => {
  let gw: RunningGateway;
  let dir: string;
  let jobId: string;

  before(async () => {
    const root = tempDir('medseg-gallery-root-');
    dir = join(root, 'synthetic');
    writeSyntheticDataset({
      dir,
      images: 3,
      width: 96,
      height: 72,
      classes: { 100: 'left', 200: 'right' },
      seed: 7,
      writeJson: true,
    });
    gw = await startTestGateway({ dataRoots: [root] });
    const reg = await gql(
      gw.url,
      `mutation { registerDataset(input: { path: "synthetic", id: "synth" }) { id } }`,
    );
    assert.equal(reg.errors, undefined, JSON.stringify(reg.errors));
    const started = await gql<{ startBenchmark: { id: string } }>(
      gw.url,
      `mutation { startBenchmark(input: { dataset: "synth", models: ["sam_reference"], strategies: [S2, S5], seed: 3 }) { id } }`,
    );
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    jobId = started.data!.startBenchmark.id;
    await waitFor(
      'the benchmark job to complete',
      async () => {
        const r = await gql<{ benchmark: { status: string } }>(
          gw.url,
          `query ($id: ID!) { benchmark(id: $id) { status } }`,
          { id: jobId },
        );
        return r.data?.benchmark.status === 'completed';
      },
      { timeoutMs: 600_000, intervalMs: 200 },
    );
  });
  after(async () => {
    await gw?.close();
  });

  test('best, median and worst per strategy and target, each re-created with its prompt', async () => {
    const r = await gql<{ benchmark: { gallery: Case[] } }>(
      gw.url,
      `query ($id: ID!) { benchmark(id: $id) { gallery { ${CASE_FIELDS} } } }`,
      { id: jobId },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const cases = r.data!.benchmark.gallery;
    // S2 and S5 x two targets, 3 samples each: three distinct cases per group.
    assert.deepEqual(
      [...new Set(cases.map((c) => `${c.strategy}/${c.target}`))],
      ['S2/left', 'S2/right', 'S5/left', 'S5/right'],
    );
    assert.equal(cases.length, 12);
    for (const group of ['S2/left', 'S2/right', 'S5/left', 'S5/right']) {
      const g = cases.filter((c) => `${c.strategy}/${c.target}` === group);
      assert.deepEqual(
        g.map((c) => c.ranks),
        [['best'], ['median'], ['worst']],
      );
      assert.ok(g[0].dice >= g[1].dice && g[1].dice >= g[2].dice, `${group} ranks follow the Dice`);
      assert.equal(g[0].groupSize, 3);
    }
    for (const c of cases) {
      if (c.strategy === 'S5') assert.equal(c.prompt.box?.length, 4, 'a box prompt carries its box');
      else assert.equal(c.prompt.points.length, 1);
      const thumb = decodePng(Buffer.from(c.thumbnail, 'base64'), 1e6);
      assert.deepEqual([thumb.width, thumb.height, thumb.channels], [64, 48, 3]);
      const image = decodePng(Buffer.from(c.image, 'base64'), 1e6);
      assert.deepEqual([image.width, image.height], [96, 72]);
    }
    // The case's image and prompt, segmented again through the API (the deployable choice), give the
    // gallery's Dice against the dataset's ground truth.
    for (const c of [cases[0], cases.at(-1)!]) {
      const classValue = Number(c.objectId.split('#')[1]);
      const gtLabel = decodePng(readFileSync(join(dir, 'labels', `${c.imageId}.png`)), 1e6);
      const gt = {
        width: gtLabel.width,
        height: gtLabel.height,
        data: Uint8Array.from(gtLabel.data, (v) => (v === classValue ? 1 : 0)),
      };
      const s = await gql<{
        segment: { results: Array<{ masks: Array<{ rle: { size: number[]; counts: string } }> }> };
      }>(
        gw.url,
        `query ($input: SegmentInput!) { segment(input: $input) { results { masks { rle { size counts } } } } }`,
        {
          input: {
            image: { encoded: { base64: c.image } },
            model: c.model,
            prompts: [
              {
                points: c.prompt.points.map((p) => ({ x: p.x, y: p.y, positive: p.label === 1 })),
                ...(c.prompt.box
                  ? {
                      box: {
                        x0: c.prompt.box[0],
                        y0: c.prompt.box[1],
                        x1: c.prompt.box[2],
                        y1: c.prompt.box[3],
                      },
                    }
                  : {}),
              },
            ],
            options: { multimask: true, selection: 'BEST_PREDICTED_IOU' },
          },
        },
      );
      assert.equal(s.errors, undefined, JSON.stringify(s.errors));
      const { size, counts } = s.data!.segment.results[0].masks[0].rle;
      const mask = decodeRle({ size: [size[0], size[1]], counts });
      const dice = overlapMetrics(mask, gt).dice * 100;
      assert.ok(Math.abs(dice - c.dice) < 1e-6, `${c.objectId} ${c.strategy}: ${dice} vs ${c.dice}`);
    }
  });

  test('filters pick one case, and bad arguments are typed errors', async () => {
    const one = await gql<{ benchmark: { gallery: Case[] } }>(
      gw.url,
      `query ($id: ID!) { benchmark(id: $id) { gallery(strategy: S5, target: "right", limit: 1) { ranks strategy target } } }`,
      { id: jobId },
    );
    assert.equal(one.errors, undefined, JSON.stringify(one.errors));
    assert.deepEqual(one.data!.benchmark.gallery, [{ ranks: ['best'], strategy: 'S5', target: 'right' }]);
    const none = await gql<{ benchmark: { gallery: Case[] } }>(
      gw.url,
      `query ($id: ID!) { benchmark(id: $id) { gallery(model: "other") { ranks } } }`,
      { id: jobId },
    );
    assert.deepEqual(none.data!.benchmark.gallery, []);
    for (const [args, code] of [
      ['limit: 0', 'BAD_REQUEST'],
      ['limit: 61', 'BAD_REQUEST'],
      ['strategy: S1', 'BAD_REQUEST'],
      ['strategy: S9', 'GRAPHQL_VALIDATION_FAILED'],
    ] as const) {
      const bad = await gql(
        gw.url,
        `query ($id: ID!) { benchmark(id: $id) { gallery(${args}) { ranks } } }`,
        {
          id: jobId,
        },
      );
      assert.equal(errorCode(bad), code, `${args}: ${JSON.stringify(bad.errors)}`);
    }
    for (const size of [0, 4096]) {
      const bad = await gql(
        gw.url,
        `query ($id: ID!) { benchmark(id: $id) { gallery(limit: 1) { thumbnail(size: ${size}) } } }`,
        { id: jobId },
      );
      assert.equal(errorCode(bad), 'BAD_REQUEST', JSON.stringify(bad.errors));
      assert.match(bad.errors![0].message, /thumbnail size/);
    }
  });

  test('one request re-creates at most 60 cases, across aliases and the HTML report', async () => {
    const aliases = [1, 2, 3, 4, 5, 6].map((k) => `g${k}: gallery { thumbnail(size: 32) }`).join(' ');
    const r = await gql<{ benchmark: Record<string, Array<{ thumbnail: string }> | null> | null }>(
      gw.url,
      `query ($id: ID!) { benchmark(id: $id) { ${aliases} } }`,
      { id: jobId },
    );
    assert.equal(errorCode(r), 'LIMIT_EXCEEDED', JSON.stringify(r.errors));
    const served = Object.values(r.data?.benchmark ?? {}).flatMap((g) => g ?? []);
    assert.ok(served.length <= 60, `${served.length} thumbnails`);
    // A report past the budget renders, without its gallery.
    const five = [1, 2, 3, 4, 5].map((k) => `g${k}: gallery { thumbnail(size: 32) }`).join(' ');
    const withReport = await gql<{ benchmark: { report: string } }>(
      gw.url,
      `query ($id: ID!) { benchmark(id: $id) { ${five} report(format: "html") } }`,
      { id: jobId },
    );
    const report = withReport.data?.benchmark?.report;
    if (report !== undefined && report !== null && withReport.errors === undefined)
      assert.match(report, /re-created its limit of 60 gallery cases/);
    else assert.equal(errorCode(withReport), 'LIMIT_EXCEEDED', JSON.stringify(withReport.errors));
  });

  test('the HTML report inlines the thumbnails; without a segmenter it says why there are none', async () => {
    const r = await gql<{ benchmark: { report: string } }>(
      gw.url,
      `query ($id: ID!) { benchmark(id: $id) { report(format: "html") } }`,
      { id: jobId },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const html = r.data!.benchmark.report;
    assert.match(html, /<h2>Gallery/);
    const thumbs = [...html.matchAll(/<img src="data:image\/png;base64,([^"]+)"/g)];
    assert.equal(thumbs.length, 12);
    const first = decodePng(Buffer.from(thumbs[0][1], 'base64'), 1e6);
    assert.deepEqual([first.width, first.height], [96, 72], 'small images are never enlarged');
    // The CLI's path: a report rendered from the store alone.
    const bare = await reportJob(gw.services.benchmark.store, jobId, 'html');
    assert.match(bare, /No gallery in this report: it was rendered without a segmenter/);
    assert.doesNotMatch(bare, /<img /);
  });

  test('a dataset moved away: the report renders without the gallery, the gallery is a typed error', async () => {
    renameSync(dir, `${dir}-moved`);
    try {
      const r = await gql<{ benchmark: { report: string } }>(
        gw.url,
        `query ($id: ID!) { benchmark(id: $id) { report(format: "html") } }`,
        { id: jobId },
      );
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      assert.match(r.data!.benchmark.report, /No gallery in this report: its cases could not be re-created/);
      assert.doesNotMatch(r.data!.benchmark.report, /-moved|medseg-gallery-root/, 'no server path leaks');
      const g = await gql(
        gw.url,
        `query ($id: ID!) { benchmark(id: $id) { gallery(limit: 1) { ranks thumbnail } } }`,
        {
          id: jobId,
        },
      );
      assert.ok(errorCode(g), JSON.stringify(g));
      assert.notEqual(errorCode(g), 'INTERNAL', JSON.stringify(g.errors));
      assert.doesNotMatch(JSON.stringify(g.errors), /medseg-gallery-root/, 'no server path leaks');
      // The selection alone needs no dataset.
      const ranks = await gql(
        gw.url,
        `query ($id: ID!) { benchmark(id: $id) { gallery(limit: 1) { ranks } } }`,
        {
          id: jobId,
        },
      );
      assert.equal(ranks.errors, undefined, JSON.stringify(ranks.errors));
    } finally {
      renameSync(`${dir}-moved`, dir);
    }
  });
});
