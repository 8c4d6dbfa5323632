/**
 * The gateway against a real Orthanc (DICOMweb plugin): the 3 CT slices are stored by STOW-RS, segmented
 * through GraphQL from `dicomweb` inputs naming the configured PACS, and DICOM SEGs are stored back with
 * storeToPacs and read again by QIDO-RS and WADO-RS.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { dice } from '../../gateway/src/core/metrics.ts';
import { decodeRle } from '../../gateway/src/core/rle.ts';
import { dicomJsonString, DicomWebClient } from '../../gateway/src/imaging/dicomweb-client.ts';
import {
  readDicomSeg,
  SEGMENTATION_STORAGE_SOP_CLASS_UID,
  segSourceFromDicom,
} from '../../gateway/src/imaging/dicom-seg.ts';
import { maskBox } from '../../gateway/src/sam/propagation.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { errorCode, gql, REPO_ROOT, startTestGateway } from '../helpers/gateway.ts';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.ts';

const ctDir = resolve(REPO_ROOT, '../shared/samples/dicom/ct-3slice-liver-seg');
const slices = ['01.dcm', '02.dcm', '03.dcm'].map((f) => new Uint8Array(readFileSync(resolve(ctDir, f))));
const refs = slices.map((s) => segSourceFromDicom(s).source);
const STUDY = refs[0].studyInstanceUid;
const SERIES = refs[0].seriesInstanceUid;
const liver = readDicomSeg(new Uint8Array(readFileSync(resolve(ctDir, 'liver.dcm'))));
const truthOf = (uid: string) => liver.frames.find((f) => f.sourceSopInstanceUids.includes(uid))!.mask;

let orthanc: OrthancHandle;
let client: DicomWebClient;
let gw: RunningGateway;

before(async () => {
  orthanc = await startOrthanc();
  client = new DicomWebClient({ baseUrl: orthanc.dicomWebUrl, timeoutMs: 120_000 });
  const stored = await client.store(slices);
  assert.equal(stored.failed.length, 0);
  gw = await startTestGateway({ pacsEndpoints: { orthanc: { baseUrl: orthanc.dicomWebUrl } } });
});

after(async () => {
  await gw?.close();
  await orthanc?.stop();
});

const SEGMENT = `query ($i: ImageInput!, $p: [PromptSetInput!]!) {
  segment(input: { image: $i, prompts: $p }) { embedding { width height spacing } results { masks { rle { size counts } area } } }
}`;

test('segment a CT slice fetched by WADO-RS, then store a SEG of all three slices back by STOW-RS', async () => {
  const names = await gql<{ pacsEndpoints: string[] }>(gw.url, '{ pacsEndpoints }');
  assert.deepEqual(names.data!.pacsEndpoints, ['orthanc']);

  const rles: Array<{ size: [number, number]; counts: string }> = [];
  for (const ref of refs) {
    const truth = truthOf(ref.sopInstanceUid);
    const b = maskBox(truth).box!;
    const r = await gql<{
      segment: {
        embedding: { width: number; spacing: number[] };
        results: Array<{ masks: Array<{ rle: { size: [number, number]; counts: string } }> }>;
      };
    }>(gw.url, SEGMENT, {
      i: {
        dicomweb: {
          pacs: 'orthanc',
          studyUID: STUDY,
          seriesUID: SERIES,
          instanceUID: ref.sopInstanceUid,
          window: { preset: 'CT_SOFT_TISSUE' },
        },
      },
      p: [{ box: { x0: b[0], y0: b[1], x1: b[2] + 1, y1: b[3] + 1 } }],
    });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    assert.deepEqual(r.data!.segment.embedding.spacing, [0.810547, 0.810547]);
    const rle = r.data!.segment.results[0].masks[0].rle;
    assert.ok(dice(decodeRle(rle), truth) > 0.5);
    rles.push(rle);
  }

  const exported = await gql<{
    exportDicomSeg: {
      sopInstanceUID: string;
      seriesInstanceUID: string;
      frames: number;
      stored: { pacs: string; sopInstanceUID: string; retrieveUrl: string | null };
    };
  }>(
    gw.url,
    `mutation ($in: DicomSegExportInput!) {
      exportDicomSeg(input: $in) { sopInstanceUID seriesInstanceUID frames stored { pacs sopInstanceUID retrieveUrl } }
    }`,
    {
      in: {
        source: {
          dicomweb: {
            pacs: 'orthanc',
            studyUID: STUDY,
            seriesUID: SERIES,
            instanceUIDs: refs.map((r) => r.sopInstanceUid),
          },
        },
        masks: rles.map((rle, i) => ({ sourceIndex: i, rle })),
        seg: { label: 'Liver', type: 'LIVER', storeToPacs: true },
      },
    },
  );
  assert.equal(exported.errors, undefined, JSON.stringify(exported.errors));
  const out = exported.data!.exportDicomSeg;
  assert.equal(out.frames, 3);
  assert.equal(out.stored.pacs, 'orthanc');
  assert.equal(out.stored.sopInstanceUID, out.sopInstanceUID);
  assert.ok(out.stored.retrieveUrl?.includes(out.sopInstanceUID));

  const segSeries = await client.searchSeries(STUDY, { Modality: 'SEG' });
  assert.ok(segSeries.some((s) => dicomJsonString(s, '0020000E') === out.seriesInstanceUID));
  const instances = await client.searchInstances(STUDY, out.seriesInstanceUID);
  assert.equal(instances.length, 1);
  assert.equal(dicomJsonString(instances[0], '00080016'), SEGMENTATION_STORAGE_SOP_CLASS_UID);
  const back = readDicomSeg(await client.retrieveInstance(STUDY, out.seriesInstanceUID, out.sopInstanceUID));
  assert.equal(back.frames.length, 3);
  assert.equal(back.studyInstanceUid, STUDY);
  assert.deepEqual(back.referencedSeries, [
    { seriesInstanceUid: SERIES, sopInstanceUids: refs.map((r) => r.sopInstanceUid) },
  ]);
  back.frames.forEach((f, i) => {
    assert.deepEqual(f.sourceSopInstanceUids, [refs[i].sopInstanceUid]);
    assert.deepEqual(f.mask.data, decodeRle(rles[i]).data);
  });
});

test('segmentVolume over a DICOMweb series stores its SEG on the same PACS', async () => {
  const sorted = [...refs].sort((a, b) => a.imagePositionPatient![2] - b.imagePositionPatient![2]);
  const b = maskBox(truthOf(sorted[1].sopInstanceUid)).box!;
  const r = await gql<{
    segmentVolume: {
      dims: number[];
      slices: Array<{ slice: number; sopInstanceUID: string }>;
      dicomSeg: {
        frames: number;
        sopInstanceUID: string;
        seriesInstanceUID: string;
        stored: { pacs: string };
      };
    };
  }>(
    gw.url,
    `mutation ($in: VolumeSegmentInput!) {
      segmentVolume(input: $in) { dims slices { slice sopInstanceUID } dicomSeg { frames sopInstanceUID seriesInstanceUID stored { pacs } } }
    }`,
    {
      in: {
        volume: { dicomweb: { pacs: 'orthanc', studyUID: STUDY, seriesUID: SERIES } },
        keySlice: 1,
        prompt: { box: { x0: b[0], y0: b[1], x1: b[2] + 1, y1: b[3] + 1 } },
        window: { preset: 'CT_SOFT_TISSUE' },
        outputs: ['DICOM_SEG'],
        seg: { label: 'Liver', type: 'LIVER', storeToPacs: true },
      },
    },
  );
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  const out = r.data!.segmentVolume;
  assert.deepEqual(out.dims, [512, 512, 3]);
  assert.deepEqual(
    out.slices.map((s) => s.sopInstanceUID),
    out.slices.map((s) => sorted[s.slice].sopInstanceUid),
  );
  assert.equal(out.dicomSeg.stored.pacs, 'orthanc');
  const back = readDicomSeg(
    await client.retrieveInstance(STUDY, out.dicomSeg.seriesInstanceUID, out.dicomSeg.sopInstanceUID),
  );
  assert.equal(back.frames.length, out.slices.length);
  assert.deepEqual(
    back.frames.map((f) => f.sourceSopInstanceUids[0]),
    out.slices.map((s) => s.sopInstanceUID),
  );
});

test('an instance or series the PACS lacks is NOT_FOUND', async () => {
  const missing = await gql(gw.url, SEGMENT, {
    i: { dicomweb: { pacs: 'orthanc', studyUID: STUDY, seriesUID: SERIES, instanceUID: '1.2.3.4.5.6.7' } },
    p: [{ box: { x0: 1, y0: 1, x1: 9, y1: 9 } }],
  });
  assert.equal(errorCode(missing), 'NOT_FOUND');
  const series = await gql(
    gw.url,
    `mutation ($in: VolumeSegmentInput!) { segmentVolume(input: $in) { keySlice } }`,
    {
      in: {
        volume: { dicomweb: { pacs: 'orthanc', studyUID: STUDY, seriesUID: '1.2.3.4.5.6.8' } },
        keySlice: 0,
        prompt: { box: { x0: 1, y0: 1, x1: 9, y1: 9 } },
      },
    },
  );
  assert.equal(errorCode(series), 'NOT_FOUND');
});
