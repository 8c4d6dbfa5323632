/** The gallery's selection (best, median, worst per model x strategy x target) and its thumbnail drawing. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkThumbnailSize,
  GalleryError,
  renderThumbnail,
  selectGallery,
  storedPromptSet,
  type GalleryCase,
} from '../../../gateway/src/bench/gallery.ts';
import type { SampleRecord } from '../../../gateway/src/bench/types.ts';
import { decodePng } from '../../../gateway/src/imaging/decode-png.ts';

function sample(
  objectId: string,
  dice: number | null,
  over: Partial<SampleRecord> = {},
  status: 'ok' | 'failed' = 'ok',
): SampleRecord {
  const choice =
    status === 'ok'
      ? {
          candidateIndex: 1,
          predictedIou: 0.9,
          metrics: { dice } as unknown as NonNullable<SampleRecord['oracle']>['metrics'],
        }
      : null;
  return {
    jobId: 'j',
    model: 'm',
    strategy: 'S5',
    variant: 0,
    objectId,
    imageId: objectId.split('#')[0],
    classValue: 1,
    className: 'liver',
    modality: 'CT',
    status,
    failureReason: status === 'failed' ? 'no prompt' : null,
    oracle: choice,
    deployable: choice,
    candidates: [],
    factors: null,
    prompt: { points: [{ x: 1, y: 2, label: 1 }], box: [0, 0, 4, 4] },
    segmenterMs: 0,
    totalMs: 0,
    ...over,
  };
}

const summary = (picks: ReturnType<typeof selectGallery>) =>
  picks.map((p) => [p.ranks.join('+'), p.sample.objectId, p.dice]);

describe('gallery selection', () => {
  test('odd count: best, median and worst are three distinct samples', () => {
    const picks = selectGallery([
      sample('a#1', 0.5),
      sample('b#1', 0.9),
      sample('c#1', 0.1),
      sample('d#1', 0.7),
      sample('e#1', 0.3),
    ]);
    assert.deepEqual(summary(picks), [
      ['best', 'b#1', 0.9],
      ['median', 'a#1', 0.5],
      ['worst', 'c#1', 0.1],
    ]);
    assert.equal(picks[0].groupSize, 5);
  });

  test('even count: the median is the lower middle sample', () => {
    const picks = selectGallery([
      sample('a#1', 0.8),
      sample('b#1', 0.6),
      sample('c#1', 0.4),
      sample('d#1', 0.2),
    ]);
    assert.deepEqual(summary(picks), [
      ['best', 'a#1', 0.8],
      ['median', 'c#1', 0.4],
      ['worst', 'd#1', 0.2],
    ]);
  });

  test('one or two samples: a sample holds several ranks and appears once', () => {
    assert.deepEqual(summary(selectGallery([sample('a#1', 0.5)])), [['best+median+worst', 'a#1', 0.5]]);
    assert.deepEqual(summary(selectGallery([sample('a#1', 0.5), sample('b#1', 0.7)])), [
      ['best', 'b#1', 0.7],
      ['median+worst', 'a#1', 0.5],
    ]);
  });

  test('ties go to the smaller object id, whatever the input order', () => {
    const input = [sample('c#1', 0.5), sample('a#1', 0.5), sample('b#1', 0.5)];
    const expected = [
      ['best', 'a#1', 0.5],
      ['median', 'b#1', 0.5],
      ['worst', 'c#1', 0.5],
    ];
    assert.deepEqual(summary(selectGallery(input)), expected);
    assert.deepEqual(summary(selectGallery([...input].reverse())), expected);
  });

  test('failed samples and samples without a Dice are never picked, and are counted', () => {
    const picks = selectGallery([
      sample('a#1', 0.4),
      sample('b#1', null, {}, 'failed'),
      sample('c#1', null),
      sample('d#1', 0.6),
    ]);
    assert.deepEqual(summary(picks), [
      ['best', 'd#1', 0.6],
      ['median+worst', 'a#1', 0.4],
    ]);
    assert.equal(picks[0].groupFailed, 2);
    // A group with only failures has no case.
    assert.deepEqual(selectGallery([sample('b#1', null, {}, 'failed')]), []);
  });

  test('groups by model, strategy and target, in that order; S1 and interactive runs are left out', () => {
    const picks = selectGallery([
      sample('a#1', 0.4, { className: 'spleen' }),
      sample('a#2', 0.3, { className: 'liver' }),
      sample('a#1', 0.9, { strategy: 'S2' }),
      sample('a#1', 0.9, { model: 'b' }),
      sample('a#1', 0.9, { strategy: 'S1' }),
      sample('a#1', 0.9, { strategy: 'interactive-errorRegion' }),
    ]);
    assert.deepEqual(
      picks.map((p) => [p.model, p.strategy, p.target]),
      [
        ['b', 'S5', 'liver'],
        ['m', 'S2', 'liver'],
        ['m', 'S5', 'liver'],
        ['m', 'S5', 'spleen'],
      ],
    );
  });
});

describe('gallery prompts and thumbnails', () => {
  test('a stored prompt is read back; malformed ones are GalleryErrors', () => {
    assert.deepEqual(storedPromptSet({ points: [{ x: 1, y: 2, label: 0 }], box: [1, 2, 3, 4] }), {
      points: [{ x: 1, y: 2, label: 0 }],
      box: [1, 2, 3, 4],
    });
    for (const bad of [
      null,
      { everything: 32 },
      { points: [{ x: 'a', y: 1, label: 1 }] },
      { points: [{ x: 1, y: 1, label: 2 }] },
      { points: [], box: [1, 2, 3] },
    ])
      assert.throws(() => storedPromptSet(bad), GalleryError, JSON.stringify(bad));
  });

  test('the thumbnail draws the mask, the ground-truth contour, the points and the box', () => {
    const W = 40;
    const H = 20;
    const mask = (x0: number, y0: number, x1: number, y1: number) => {
      const data = new Uint8Array(W * H);
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[y * W + x] = 1;
      return { width: W, height: H, data };
    };
    const c: GalleryCase = {
      pick: selectGallery([sample('a#1', 0.5)])[0],
      prompt: {
        points: [
          { x: 30, y: 10, label: 1 },
          { x: 4, y: 16, label: 0 },
        ],
        box: [1, 1, 38, 18],
      },
      image: { width: W, height: H, channels: 1, data: new Uint8Array(W * H).fill(100) },
      groundTruth: mask(10, 5, 20, 15),
      predicted: mask(12, 6, 22, 14),
      candidateIndex: 1,
    };
    const png = renderThumbnail(c, 160);
    const r = decodePng(png, 1e6);
    // Never enlarged.
    assert.equal(r.width, W);
    assert.equal(r.height, H);
    const at = (x: number, y: number) => [...r.data.slice((y * W + x) * 3, (y * W + x) * 3 + 3)];
    assert.deepEqual(at(15, 10), [178, 130, 50], 'predicted mask blended orange');
    assert.deepEqual(at(25, 10), [100, 100, 100], 'plain image');
    assert.deepEqual(at(10, 10), [0, 230, 80], 'ground-truth contour');
    assert.deepEqual(at(30, 10), [40, 120, 255], 'positive point');
    assert.deepEqual(at(4, 16), [255, 40, 40], 'negative point');
    assert.deepEqual(at(20, 1), [255, 255, 0], 'box edge');
    // Scaled down to the asked longer edge.
    const small = decodePng(renderThumbnail(c, 32), 1e6);
    assert.deepEqual([small.width, small.height], [32, 16]);
    for (const bad of [0, 31, 513, 1.5, Number.NaN])
      assert.throws(() => checkThumbnailSize(bad), GalleryError);
  });
});
