/**
 * DICOMweb against a real Orthanc: STOW the 3 CT slices, find them by QIDO, WADO one back and decode it,
 * write a SEG for a thresholded HU mask over the 3 slices, STOW it, read it back and compare.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BinaryMask } from '../../gateway/src/core/mask.ts';
import { SEGMENTATION_CODES } from '../../gateway/src/imaging/coded-concept.ts';
import { decodeDicom } from '../../gateway/src/imaging/dicom.ts';
import {
  readDicomSeg,
  SEGMENTATION_STORAGE_SOP_CLASS_UID,
  segSourceFromDicom,
  writeDicomSeg,
} from '../../gateway/src/imaging/dicom-seg.ts';
import { DicomWebClient, DicomWebError, dicomJsonString } from '../../gateway/src/imaging/dicomweb-client.ts';
import type { OrthancHandle } from '../helpers/orthanc.ts';
import { freePort, startOrthanc } from '../helpers/orthanc.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ctDir = resolve(repoRoot, '../shared/samples/dicom/ct-3slice-liver-seg');
const slices = ['01.dcm', '02.dcm', '03.dcm'].map((f) => new Uint8Array(readFileSync(resolve(ctDir, f))));
const STUDY = '1.2.392.200103.20080913.113635.0.2009.6.22.21.43.10.22941.1';
const SERIES = '1.2.392.200103.20080913.113635.1.2009.6.22.21.43.10.23430.1';

let orthanc: OrthancHandle;
let client: DicomWebClient;

before(async () => {
  orthanc = await startOrthanc();
  client = new DicomWebClient({ baseUrl: orthanc.dicomWebUrl, timeoutMs: 120_000 });
});

after(async () => {
  await orthanc?.stop();
});

test('STOW-RS stores the 3 CT slices and QIDO-RS finds them', async () => {
  const stored = await client.store(slices);
  assert.equal(stored.failed.length, 0);
  const sourceUids = slices.map((s) => segSourceFromDicom(s).source.sopInstanceUid);
  assert.deepEqual(stored.stored.map((s) => s.sopInstanceUid).sort(), [...sourceUids].sort());

  const studies = await client.searchStudies({ StudyInstanceUID: STUDY });
  assert.equal(studies.length, 1);
  assert.equal(dicomJsonString(studies[0], '0020000D'), STUDY);
  const series = await client.searchSeries(STUDY, { Modality: 'CT' });
  assert.deepEqual(
    series.map((s) => dicomJsonString(s, '0020000E')),
    [SERIES],
  );
  const instances = await client.searchInstances(STUDY, SERIES);
  assert.deepEqual(instances.map((i) => dicomJsonString(i, '00080018')).sort(), [...sourceUids].sort());
  assert.deepEqual(await client.searchStudies({ StudyInstanceUID: '1.2.3.4.5' }), []);
});

test('WADO-RS returns an instance that decodes to the same HU as the file', async () => {
  const uid = segSourceFromDicom(slices[0]).source.sopInstanceUid;
  const bytes = await client.retrieveInstance(STUDY, SERIES, uid);
  const fetched = decodeDicom(bytes);
  const local = decodeDicom(slices[0]);
  assert.equal(fetched.metadata.sopInstanceUid, uid);
  assert.deepEqual(fetched.raster.data, local.raster.data);
  assert.deepEqual(fetched.spacing, [0.810547, 0.810547]);
  await assert.rejects(client.retrieveInstance(STUDY, SERIES, '1.2.3.4.5.6'), (e: unknown) => {
    return e instanceof DicomWebError && e.code === 'NOT_FOUND' && e.status === 404;
  });
});

test('a SEG written for a thresholded HU mask round-trips through STOW, QIDO and WADO', async () => {
  const sources = slices.map((s) => segSourceFromDicom(s));
  const masks: BinaryMask[] = slices.map((s) => {
    const hu = decodeDicom(s).raster.data;
    const data = new Uint8Array(hu.length);
    // soft tissue between 40 and 200 HU, restricted to a box so the frames differ from the whole body
    for (let i = 0; i < hu.length; i++) {
      const x = i % 512;
      const y = Math.floor(i / 512);
      data[i] = hu[i] > 40 && hu[i] < 200 && x > 100 && x < 400 && y > 150 && y < 400 ? 1 : 0;
    }
    return { width: 512, height: 512, data };
  });
  assert.ok(masks.every((m) => m.data.some((v) => v === 1)));
  const seg = writeDicomSeg({
    sources: sources.map((s) => s.source),
    context: sources[0].context,
    segments: [
      {
        label: 'Liver',
        algorithmType: 'AUTOMATIC',
        algorithmName: 'HU threshold 40-200',
        category: SEGMENTATION_CODES.anatomicalStructure,
        type: SEGMENTATION_CODES.liver,
      },
    ],
    frames: masks.map((mask, i) => ({ segmentNumber: 1, sourceIndex: i, mask })),
    seriesDescription: 'medseg test SEG',
  });
  const stow = await client.store([seg.bytes], STUDY);
  assert.deepEqual(
    stow.stored.map((s) => s.sopInstanceUid),
    [seg.sopInstanceUid],
  );

  const segSeries = await client.searchSeries(STUDY, { Modality: 'SEG' });
  assert.deepEqual(
    segSeries.map((s) => dicomJsonString(s, '0020000E')),
    [seg.seriesInstanceUid],
  );
  const segInstances = await client.searchInstances(STUDY, seg.seriesInstanceUid);
  assert.equal(segInstances.length, 1);
  assert.equal(dicomJsonString(segInstances[0], '00080016'), SEGMENTATION_STORAGE_SOP_CLASS_UID);

  const back = readDicomSeg(await client.retrieveInstance(STUDY, seg.seriesInstanceUid, seg.sopInstanceUid));
  assert.equal(back.frames.length, 3);
  assert.equal(back.studyInstanceUid, STUDY);
  assert.equal(back.frameOfReferenceUid, sources[0].source.frameOfReferenceUid);
  assert.deepEqual(back.referencedSeries, [
    { seriesInstanceUid: SERIES, sopInstanceUids: sources.map((s) => s.source.sopInstanceUid) },
  ]);
  back.frames.forEach((frame, i) => {
    assert.equal(frame.segmentNumber, 1);
    assert.deepEqual(frame.sourceSopInstanceUids, [sources[i].source.sopInstanceUid]);
    assert.deepEqual(frame.imagePositionPatient, sources[i].source.imagePositionPatient);
    assert.deepEqual(frame.mask.data, masks[i].data);
  });
});

test('an endpoint nobody listens on is PACS_UNAVAILABLE', async () => {
  const port = await freePort();
  const dead = new DicomWebClient({ baseUrl: `http://127.0.0.1:${port}/dicom-web`, timeoutMs: 2000 });
  await assert.rejects(
    dead.searchStudies(),
    (e: unknown) => e instanceof DicomWebError && e.code === 'PACS_UNAVAILABLE',
  );
});
