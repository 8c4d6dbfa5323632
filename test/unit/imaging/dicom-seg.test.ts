/** DICOM SEG writing (validated by dciodvfy) and reading (the dcmqi liver SEG sample and round trips). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BinaryMask } from '../../../gateway/src/core/mask.ts';
import { SEGMENTATION_CODES } from '../../../gateway/src/imaging/coded-concept.ts';
import type { DicomSegInput } from '../../../gateway/src/imaging/dicom-seg.ts';
import { readDicomSeg, segSourceFromDicom, writeDicomSeg } from '../../../gateway/src/imaging/dicom-seg.ts';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';
import { dciodvfy } from './dcmtk.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ctDir = resolve(repoRoot, '../shared/samples/dicom/ct-3slice-liver-seg');
const read = (f: string): Uint8Array => new Uint8Array(readFileSync(resolve(ctDir, f)));
const ctUids = [
  '1.2.392.200103.20080913.113635.2.2009.6.22.21.43.10.23431.1',
  '1.2.392.200103.20080913.113635.2.2009.6.22.21.43.10.23432.1',
  '1.2.392.200103.20080913.113635.2.2009.6.22.21.43.10.23433.1',
];

const isError = (code: string, pattern: RegExp) => (e: unknown) =>
  e instanceof ImageError && e.code === code && pattern.test(e.message);

function disk(cx: number, cy: number, r: number): BinaryMask {
  const data = new Uint8Array(512 * 512);
  for (let y = 0; y < 512; y++)
    for (let x = 0; x < 512; x++) data[y * 512 + x] = (x - cx) ** 2 + (y - cy) ** 2 <= r * r ? 1 : 0;
  return { width: 512, height: 512, data };
}

function twoSegmentInput(): DicomSegInput {
  const sources = ['01.dcm', '02.dcm', '03.dcm'].map((f) => segSourceFromDicom(read(f)));
  return {
    sources: sources.map((s) => s.source),
    context: sources[0].context,
    segments: [
      {
        label: 'Liver',
        algorithmType: 'AUTOMATIC',
        algorithmName: 'SAM ViT-B',
        category: SEGMENTATION_CODES.anatomicalStructure,
        type: SEGMENTATION_CODES.liver,
      },
      {
        label: 'Lesion',
        algorithmType: 'SEMIAUTOMATIC',
        algorithmName: 'SAM box prompt',
        category: SEGMENTATION_CODES.morphologicallyAbnormalStructure,
        type: SEGMENTATION_CODES.neoplasm,
        recommendedDisplayCIELabValue: [43803, 47509, 34153],
      },
    ],
    // deliberately out of order: the writer sorts by segment, then by slice
    frames: [
      { segmentNumber: 2, sourceIndex: 1, mask: disk(300, 250, 10) },
      { segmentNumber: 1, sourceIndex: 2, mask: disk(200, 260, 60) },
      { segmentNumber: 1, sourceIndex: 0, mask: disk(200, 250, 50) },
      { segmentNumber: 1, sourceIndex: 1, mask: disk(201, 255, 55) },
    ],
    now: new Date('2026-01-02T03:04:05Z'),
  };
}

test('the dcmqi liver SEG reads as 3 frames of segment "Liver" referencing the 3 CT slices', () => {
  const seg = readDicomSeg(read('liver.dcm'));
  assert.equal(seg.segmentationType, 'BINARY');
  assert.deepEqual([seg.rows, seg.columns], [512, 512]);
  assert.equal(seg.frames.length, 3);
  assert.deepEqual(
    seg.segments.map((s) => [s.number, s.label, s.algorithmType]),
    [[1, 'Liver', 'SEMIAUTOMATIC']],
  );
  assert.deepEqual(seg.referencedSeries[0].sopInstanceUids.slice().sort(), ctUids);
  assert.deepEqual(seg.frames.map((f) => f.sourceSopInstanceUids[0]).sort(), ctUids);
  for (const f of seg.frames) {
    assert.equal(f.segmentNumber, 1);
    const area = f.mask.data.reduce((a, b) => a + b, 0);
    assert.ok(area > 30_000 && area < 40_000, `liver area ${area} px`);
  }
});

test('a written two-segment SEG passes dciodvfy without errors and reads back exactly', () => {
  const input = twoSegmentInput();
  const out = writeDicomSeg(input);
  const verdict = dciodvfy(out.bytes);
  assert.deepEqual(verdict.errors, []);
  // The only warning dciodvfy raises comes from the sample's own old-style Patient Name ("JANCT000").
  for (const w of verdict.warnings) assert.match(w, /Patient's Name/);

  const seg = readDicomSeg(out.bytes);
  assert.equal(seg.sopInstanceUid, out.sopInstanceUid);
  assert.equal(seg.seriesInstanceUid, out.seriesInstanceUid);
  assert.match(out.sopInstanceUid, /^2\.25\.\d+$/);
  assert.equal(seg.studyInstanceUid, input.sources[0].studyInstanceUid);
  assert.equal(seg.frameOfReferenceUid, input.sources[0].frameOfReferenceUid);
  assert.deepEqual(
    seg.segments.map((s) => [s.number, s.label, s.algorithmName, s.type?.value, s.category?.value]),
    [
      [1, 'Liver', 'SAM ViT-B', '10200004', '123037004'],
      [2, 'Lesion', 'SAM box prompt', '108369006', '49755003'],
    ],
  );
  const expected = [
    [1, 0, disk(200, 250, 50)],
    [1, 1, disk(201, 255, 55)],
    [1, 2, disk(200, 260, 60)],
    [2, 1, disk(300, 250, 10)],
  ] as const;
  assert.equal(seg.frames.length, 4);
  seg.frames.forEach((frame, i) => {
    const [segment, source, mask] = expected[i];
    assert.equal(frame.segmentNumber, segment);
    assert.deepEqual(frame.sourceSopInstanceUids, [ctUids[source]]);
    assert.deepEqual(frame.imagePositionPatient, input.sources[source].imagePositionPatient);
    assert.deepEqual(frame.mask.data, mask.data);
  });
});

test('labels outside ASCII survive a round trip: the writer declares UTF-8 and the reader decodes it', () => {
  const input = twoSegmentInput();
  const labels = ['Läsion rechts', 'Myocarde gauche, écho', '肝臓'];
  input.segments = labels.map((label, i) => ({ ...input.segments[i % 2], label }));
  input.frames = labels.map((_, i) => ({
    segmentNumber: i + 1,
    sourceIndex: i,
    mask: disk(200, 250, 20 + i),
  }));
  const out = writeDicomSeg(input);
  assert.deepEqual(dciodvfy(out.bytes).errors, []);
  assert.deepEqual(
    readDicomSeg(out.bytes).segments.map((s) => s.label),
    labels,
  );
});

test('bit packing continues across frames whose pixel count is not a multiple of 8', () => {
  const source = { ...segSourceFromDicom(read('01.dcm')).source, rows: 3, columns: 3 };
  const masks = [
    [1, 0, 1, 0, 1, 0, 1, 0, 1],
    [0, 1, 1, 0, 0, 0, 1, 1, 0],
    [1, 1, 1, 1, 1, 1, 1, 1, 1],
  ].map((d) => ({ width: 3, height: 3, data: Uint8Array.from(d) }));
  const out = writeDicomSeg({
    sources: [source, { ...source, sopInstanceUid: '2.25.7' }, { ...source, sopInstanceUid: '2.25.8' }],
    segments: [
      {
        label: 'x',
        algorithmType: 'MANUAL',
        category: SEGMENTATION_CODES.tissue,
        type: SEGMENTATION_CODES.liver,
      },
    ],
    frames: masks.map((mask, i) => ({ segmentNumber: 1, sourceIndex: i, mask })),
  });
  assert.deepEqual(dciodvfy(out.bytes).errors, []);
  assert.deepEqual(
    readDicomSeg(out.bytes).frames.map((f) => Array.from(f.mask.data)),
    masks.map((m) => Array.from(m.data)),
  );
});

test('inconsistent SEG inputs and non-SEG files are typed errors', () => {
  const base = twoSegmentInput();
  assert.throws(() => writeDicomSeg({ ...base, frames: [] }), isError('BAD_IMAGE', /at least one frame/));
  assert.throws(
    () => writeDicomSeg({ ...base, frames: [{ segmentNumber: 3, sourceIndex: 0, mask: disk(1, 1, 1) }] }),
    isError('BAD_IMAGE', /segment 3; expected 1..2/),
  );
  assert.throws(
    () =>
      writeDicomSeg({
        ...base,
        frames: [
          { segmentNumber: 1, sourceIndex: 0, mask: { width: 2, height: 2, data: new Uint8Array(4) } },
        ],
      }),
    isError('BAD_IMAGE', /mask is 2x2/),
  );
  assert.throws(
    () =>
      writeDicomSeg({
        ...base,
        frames: [base.frames[0], { ...base.frames[0] }],
      }),
    isError('BAD_IMAGE', /repeats segment 2 on source 1/),
  );
  assert.throws(
    () =>
      writeDicomSeg({
        ...base,
        segments: [{ ...base.segments[0], algorithmName: undefined }],
        frames: [base.frames[1]],
      }),
    isError('BAD_IMAGE', /needs an algorithm name/),
  );
  assert.throws(() => readDicomSeg(read('01.dcm')), isError('BAD_IMAGE', /not a Segmentation object/));
});
