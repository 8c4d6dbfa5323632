/**
 * DICOM Segmentation (SEG) objects, BINARY type: writing from per-frame binary masks and reading back
 * (PS3.3 A.51 Segmentation IOD, C.8.20 Segmentation modules, C.7.6.16 multi-frame functional groups).
 */
import dcmjs from 'dcmjs';
import type { BinaryMask } from '../core/mask.ts';
import type { CodedConcept } from './coded-concept.ts';
import { firstItem, numberValues, parseDicomPart10, stringValue } from './dicom-dataset.ts';
import { newDicomUid } from './dicom-uid.ts';
import { ImageError } from './image-error.ts';

/** Segmentation Storage SOP Class UID. */
export const SEGMENTATION_STORAGE_SOP_CLASS_UID = '1.2.840.10008.5.1.4.1.1.66.4';
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** Implementation Class UID of the gateway's writer (a fixed UUID-derived UID). */
const IMPLEMENTATION_CLASS_UID = '2.25.302354187563722415890262306846312730118';

dcmjs.log.setLevel?.('error');

/** A source image a SEG frame refers to: identity and geometry of one single-frame slice. */
export interface SegSourceImage {
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  frameOfReferenceUid?: string;
  rows: number;
  columns: number;
  imagePositionPatient?: [number, number, number];
  imageOrientationPatient?: [number, number, number, number, number, number];
  /** [row spacing, column spacing] in mm. */
  pixelSpacing?: [number, number];
  sliceThickness?: number;
}

/**
 * Patient and study attributes the SEG must repeat so that a PACS files it with its source study. These are
 * identifiers: they are copied into the SEG only, never logged.
 */
export interface SegPatientStudy {
  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  patientSex?: string;
  studyDate?: string;
  studyTime?: string;
  studyId?: string;
  accessionNumber?: string;
  referringPhysicianName?: string;
}

/** Reads what a SEG needs from a source DICOM file: its reference and geometry, and its patient/study. */
export function segSourceFromDicom(bytes: Uint8Array): { source: SegSourceImage; context: SegPatientStudy } {
  const { dataSet: ds } = parseDicomPart10(bytes, 'x7fe00010');
  const need = (tag: string, name: string): string => {
    const v = stringValue(ds, tag);
    if (v === undefined) throw new ImageError('BAD_IMAGE', `source DICOM lacks ${name} ${tag}`);
    return v;
  };
  const position = numberValues(ds, 'x00200032');
  const orientation = numberValues(ds, 'x00200037');
  const spacing = numberValues(ds, 'x00280030');
  const thickness = numberValues(ds, 'x00180050')[0];
  const source: SegSourceImage = {
    sopClassUid: need('x00080016', 'SOP Class UID'),
    sopInstanceUid: need('x00080018', 'SOP Instance UID'),
    seriesInstanceUid: need('x0020000e', 'Series Instance UID'),
    studyInstanceUid: need('x0020000d', 'Study Instance UID'),
    rows: ds.uint16('x00280010') ?? 0,
    columns: ds.uint16('x00280011') ?? 0,
  };
  const frameOfReferenceUid = stringValue(ds, 'x00200052');
  if (frameOfReferenceUid !== undefined) source.frameOfReferenceUid = frameOfReferenceUid;
  if (position.length === 3) source.imagePositionPatient = position as [number, number, number];
  if (orientation.length === 6)
    source.imageOrientationPatient = orientation as SegSourceImage['imageOrientationPatient'];
  if (spacing.length === 2) source.pixelSpacing = spacing as [number, number];
  if (thickness !== undefined) source.sliceThickness = thickness;
  const context: SegPatientStudy = {};
  const copy = (key: keyof SegPatientStudy, tag: string): void => {
    const v = stringValue(ds, tag);
    if (v !== undefined) context[key] = v;
  };
  copy('patientName', 'x00100010');
  copy('patientId', 'x00100020');
  copy('patientBirthDate', 'x00100030');
  copy('patientSex', 'x00100040');
  copy('studyDate', 'x00080020');
  copy('studyTime', 'x00080030');
  copy('studyId', 'x00200010');
  copy('accessionNumber', 'x00080050');
  copy('referringPhysicianName', 'x00080090');
  return { source, context };
}

/** How a segment was produced (Segment Algorithm Type, 0062,0008). */
export type SegmentAlgorithmType = 'AUTOMATIC' | 'SEMIAUTOMATIC' | 'MANUAL';

/** One segment (an item of the Segment Sequence); its number is its 1-based position in `segments`. */
export interface SegmentDefinition {
  label: string;
  description?: string;
  algorithmType: SegmentAlgorithmType;
  /** Required unless MANUAL. */
  algorithmName?: string;
  category: CodedConcept;
  type: CodedConcept;
  /** CIELab display colour scaled to 0..65535 as (0062,000D) stores it. */
  recommendedDisplayCIELabValue?: [number, number, number];
}

/** One SEG frame: the mask of segment `segmentNumber` (1-based) over source image `sourceIndex`. */
export interface SegFrameInput {
  segmentNumber: number;
  sourceIndex: number;
  mask: BinaryMask;
}

/** Everything writeDicomSeg needs. */
export interface DicomSegInput {
  /** The source slices, all of one series and one frame of reference, each single-frame. */
  sources: SegSourceImage[];
  context?: SegPatientStudy;
  segments: SegmentDefinition[];
  frames: SegFrameInput[];
  seriesDescription?: string;
  seriesNumber?: number;
  instanceNumber?: number;
  contentLabel?: string;
  contentDescription?: string;
  manufacturer?: string;
  manufacturerModelName?: string;
  softwareVersions?: string;
  deviceSerialNumber?: string;
  /** Creation time for Series/Content Date and Time; default now. */
  now?: Date;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
}

/** A written SEG: its Part 10 bytes and the UIDs it was given. */
export interface DicomSegOutput {
  bytes: Uint8Array;
  sopInstanceUid: string;
  seriesInstanceUid: string;
}

const code = (c: CodedConcept): Record<string, unknown> => ({
  CodeValue: c.value,
  CodingSchemeDesignator: c.scheme,
  CodeMeaning: c.meaning,
});

const ds = (n: number): string => {
  // DS is at most 16 characters (PS3.5 6.2): shorten long fractions without losing magnitude.
  for (let digits = 12; digits >= 1; digits--) {
    const s = Number(n.toPrecision(digits)).toString();
    if (s.length <= 16) return s;
  }
  return n.toExponential(6);
};

const dicomDate = (d: Date): string =>
  `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
const dicomTime = (d: Date): string =>
  `${String(d.getUTCHours()).padStart(2, '0')}${String(d.getUTCMinutes()).padStart(2, '0')}${String(d.getUTCSeconds()).padStart(2, '0')}`;

function validate(input: DicomSegInput): void {
  const { sources, segments, frames } = input;
  if (sources.length === 0) throw new ImageError('BAD_IMAGE', 'SEG needs at least one source image');
  if (segments.length === 0) throw new ImageError('BAD_IMAGE', 'SEG needs at least one segment');
  if (frames.length === 0) throw new ImageError('BAD_IMAGE', 'SEG needs at least one frame');
  const first = sources[0];
  for (const [i, s] of sources.entries()) {
    if (s.studyInstanceUid !== first.studyInstanceUid || s.seriesInstanceUid !== first.seriesInstanceUid) {
      throw new ImageError('BAD_IMAGE', `source ${i} belongs to another study or series than source 0`);
    }
    if (s.rows !== first.rows || s.columns !== first.columns) {
      throw new ImageError(
        'BAD_IMAGE',
        `source ${i} is ${s.columns}x${s.rows}, source 0 is ${first.columns}x${first.rows}`,
      );
    }
    if (s.frameOfReferenceUid !== first.frameOfReferenceUid) {
      throw new ImageError('BAD_IMAGE', `source ${i} has another frame of reference than source 0`);
    }
  }
  checkLongString(input.seriesDescription, 'Series Description');
  checkLongString(input.manufacturer, 'Manufacturer');
  checkLongString(input.manufacturerModelName, "Manufacturer's Model Name");
  checkLongString(input.contentDescription, 'Content Description');
  for (const [i, seg] of segments.entries()) {
    if (seg.label.trim() === '') throw new ImageError('BAD_IMAGE', `segment ${i + 1} has an empty label`);
    checkLongString(seg.label, `segment ${i + 1} Segment Label`);
    checkLongString(seg.algorithmName, `segment ${i + 1} Segment Algorithm Name`);
    if (seg.algorithmType !== 'MANUAL' && !seg.algorithmName) {
      throw new ImageError(
        'BAD_IMAGE',
        `segment ${i + 1} is ${seg.algorithmType} and needs an algorithm name`,
      );
    }
  }
  const seen = new Set<string>();
  for (const [i, f] of frames.entries()) {
    if (!Number.isInteger(f.segmentNumber) || f.segmentNumber < 1 || f.segmentNumber > segments.length) {
      throw new ImageError(
        'BAD_IMAGE',
        `frame ${i} names segment ${f.segmentNumber}; expected 1..${segments.length}`,
      );
    }
    if (!Number.isInteger(f.sourceIndex) || f.sourceIndex < 0 || f.sourceIndex >= sources.length) {
      throw new ImageError(
        'BAD_IMAGE',
        `frame ${i} names source ${f.sourceIndex}; expected 0..${sources.length - 1}`,
      );
    }
    const { width, height, data } = f.mask;
    if (width !== first.columns || height !== first.rows || data.length !== width * height) {
      throw new ImageError(
        'BAD_IMAGE',
        `frame ${i} mask is ${width}x${height} with ${data.length} values; the sources are ${first.columns}x${first.rows}`,
      );
    }
    const key = `${f.segmentNumber}:${f.sourceIndex}`;
    if (seen.has(key))
      throw new ImageError(
        'BAD_IMAGE',
        `frame ${i} repeats segment ${f.segmentNumber} on source ${f.sourceIndex}`,
      );
    seen.add(key);
  }
}

// Bits Allocated 1: pixels packed LSB first, frames continuing the same bit stream (PS3.5 8.1.1, 8.2).
function packFrames(masks: BinaryMask[]): Uint8Array {
  const pixels = masks.length === 0 ? 0 : masks[0].width * masks[0].height;
  const total = pixels * masks.length;
  const out = new Uint8Array(Math.ceil(Math.ceil(total / 8) / 2) * 2);
  let bit = 0;
  for (const m of masks) {
    for (let i = 0; i < pixels; i++, bit++) if (m.data[i] !== 0) out[bit >> 3] |= 1 << (bit & 7);
  }
  return out;
}

/**
 * Writes a BINARY DICOM SEG (Explicit VR Little Endian) with one frame per (segment, source) mask,
 * ordered by segment then by source position: Common Instance Reference to the source series, per-frame
 * Derivation Image / Source Image references, Plane Position, Segment Identification and Frame Content
 * (dimension index values [segment, slice]); shared Pixel Measures and Plane Orientation.
 */
/** Longest LO (Long String) value in characters (PS3.5 table 6.2-1). */
export const LO_MAX_CHARS = 64;

/**
 * Why `value` is not a valid LO (Long String) value, or undefined when it is: at most 64 characters, no
 * backslash (the value separator) and no control characters (PS3.5 6.2).
 */
export function longStringProblem(value: string): string | undefined {
  const chars = [...value].length;
  if (chars > LO_MAX_CHARS) return `is ${chars} characters long, DICOM LO allows ${LO_MAX_CHARS}`;
  if (value.includes('\\')) return 'contains a backslash, which DICOM uses to separate values';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'contains a control character';
  return undefined;
}

function checkLongString(value: string | undefined, what: string): void {
  if (value === undefined) return;
  const problem = longStringProblem(value);
  if (problem !== undefined) throw new ImageError('BAD_IMAGE', `${what} ${problem}`);
}

export function writeDicomSeg(input: DicomSegInput): DicomSegOutput {
  validate(input);
  const { sources, segments } = input;
  const first = sources[0];
  const now = input.now ?? new Date();
  const sopInstanceUid = input.sopInstanceUid ?? newDicomUid();
  const seriesInstanceUid = input.seriesInstanceUid ?? newDicomUid();
  const dimensionOrganizationUid = newDicomUid();
  const frames = [...input.frames].sort(
    (a, b) => a.segmentNumber - b.segmentNumber || a.sourceIndex - b.sourceIndex,
  );
  const ctx = input.context ?? {};

  const shared: Record<string, unknown> = {};
  if (first.pixelSpacing !== undefined || first.sliceThickness !== undefined) {
    const measures: Record<string, unknown> = {};
    if (first.pixelSpacing !== undefined) measures.PixelSpacing = first.pixelSpacing.map(ds);
    if (first.sliceThickness !== undefined) measures.SliceThickness = ds(first.sliceThickness);
    shared.PixelMeasuresSequence = [measures];
  }
  if (first.imageOrientationPatient !== undefined) {
    shared.PlaneOrientationSequence = [{ ImageOrientationPatient: first.imageOrientationPatient.map(ds) }];
  }
  const perFrame = frames.map((f) => {
    const src = sources[f.sourceIndex];
    const item: Record<string, unknown> = {
      DerivationImageSequence: [
        {
          SourceImageSequence: [
            {
              ReferencedSOPClassUID: src.sopClassUid,
              ReferencedSOPInstanceUID: src.sopInstanceUid,
              PurposeOfReferenceCodeSequence: [
                code({
                  value: '121322',
                  scheme: 'DCM',
                  meaning: 'Source image for image processing operation',
                }),
              ],
            },
          ],
          DerivationCodeSequence: [code({ value: '113076', scheme: 'DCM', meaning: 'Segmentation' })],
        },
      ],
      FrameContentSequence: [{ DimensionIndexValues: [f.segmentNumber, f.sourceIndex + 1] }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: f.segmentNumber }],
    };
    if (src.imagePositionPatient !== undefined) {
      item.PlanePositionSequence = [{ ImagePositionPatient: src.imagePositionPatient.map(ds) }];
    }
    return item;
  });

  const dataset: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    ImageType: ['DERIVED', 'PRIMARY'],
    SOPClassUID: SEGMENTATION_STORAGE_SOP_CLASS_UID,
    SOPInstanceUID: sopInstanceUid,
    StudyDate: ctx.studyDate ?? '',
    SeriesDate: dicomDate(now),
    ContentDate: dicomDate(now),
    StudyTime: ctx.studyTime ?? '',
    SeriesTime: dicomTime(now),
    ContentTime: dicomTime(now),
    AccessionNumber: ctx.accessionNumber ?? '',
    Modality: 'SEG',
    Manufacturer: input.manufacturer ?? 'medseg-gateway',
    ReferringPhysicianName: ctx.referringPhysicianName ?? '',
    SeriesDescription: input.seriesDescription ?? 'Segmentation',
    ManufacturerModelName: input.manufacturerModelName ?? 'medseg-gateway',
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: first.seriesInstanceUid,
        ReferencedInstanceSequence: sources.map((s) => ({
          ReferencedSOPClassUID: s.sopClassUid,
          ReferencedSOPInstanceUID: s.sopInstanceUid,
        })),
      },
    ],
    PatientName: ctx.patientName ?? '',
    PatientID: ctx.patientId ?? '',
    PatientBirthDate: ctx.patientBirthDate ?? '',
    PatientSex: ctx.patientSex ?? '',
    DeviceSerialNumber: input.deviceSerialNumber ?? '0',
    SoftwareVersions: input.softwareVersions ?? '0.1.0',
    StudyInstanceUID: first.studyInstanceUid,
    SeriesInstanceUID: seriesInstanceUid,
    StudyID: ctx.studyId ?? '',
    SeriesNumber: String(input.seriesNumber ?? 300),
    InstanceNumber: String(input.instanceNumber ?? 1),
    PositionReferenceIndicator: '',
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUid }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionOrganizationUid,
        DimensionIndexPointer: 0x0062000b,
        FunctionalGroupPointer: 0x0062000a,
        DimensionDescriptionLabel: 'ReferencedSegmentNumber',
      },
      {
        DimensionOrganizationUID: dimensionOrganizationUid,
        DimensionIndexPointer: 0x00200032,
        FunctionalGroupPointer: 0x00209113,
        DimensionDescriptionLabel: 'ImagePositionPatient',
      },
    ],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    NumberOfFrames: String(frames.length),
    Rows: first.rows,
    Columns: first.columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    SegmentationType: 'BINARY',
    SegmentSequence: segments.map((s, i) => {
      const item: Record<string, unknown> = {
        SegmentedPropertyCategoryCodeSequence: [code(s.category)],
        SegmentNumber: i + 1,
        SegmentLabel: s.label,
        SegmentAlgorithmType: s.algorithmType,
        SegmentedPropertyTypeCodeSequence: [code(s.type)],
      };
      if (s.description !== undefined) item.SegmentDescription = s.description;
      if (s.algorithmName !== undefined) item.SegmentAlgorithmName = s.algorithmName;
      if (s.recommendedDisplayCIELabValue !== undefined)
        item.RecommendedDisplayCIELabValue = s.recommendedDisplayCIELabValue;
      return item;
    }),
    ContentLabel: (input.contentLabel ?? 'SEGMENTATION')
      .toUpperCase()
      .replace(/[^A-Z0-9_ ]/g, '_')
      .slice(0, 16),
    ContentDescription: input.contentDescription ?? 'Segmentation produced by medseg-gateway',
    ContentCreatorName: '',
    SharedFunctionalGroupsSequence: [shared],
    PerFrameFunctionalGroupsSequence: perFrame,
    PixelData: [packFrames(frames.map((f) => f.mask)).buffer],
  };
  if (first.frameOfReferenceUid !== undefined) dataset.FrameOfReferenceUID = first.frameOfReferenceUid;

  const meta = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SEGMENTATION_STORAGE_SOP_CLASS_UID,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: 'MEDSEG_010',
    _vrMap: { FileMetaInformationVersion: 'OB' },
  });
  const dict = new dcmjs.data.DicomDict(meta);
  dataset._vrMap = { PixelData: 'OB' };
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset);
  const bytes = new Uint8Array(dict.write());
  return { bytes, sopInstanceUid, seriesInstanceUid };
}

/** One segment as read back from a SEG. */
export interface SegSegment {
  number: number;
  label: string;
  algorithmType: string;
  algorithmName?: string;
  category?: CodedConcept;
  type?: CodedConcept;
}

/** One frame of a SEG as read back. */
export interface SegFrame {
  segmentNumber: number;
  /** SOP Instance UIDs of the source images named in this frame's Derivation Image Sequence. */
  sourceSopInstanceUids: string[];
  imagePositionPatient?: [number, number, number];
  mask: BinaryMask;
}

/** A SEG read back: identity, references, segments and frames. */
export interface DicomSeg {
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  frameOfReferenceUid?: string;
  rows: number;
  columns: number;
  segmentationType: string;
  referencedSeries: { seriesInstanceUid: string; sopInstanceUids: string[] }[];
  segments: SegSegment[];
  frames: SegFrame[];
}

/**
 * Reads a BINARY DICOM SEG: segments with their codes, and per frame its segment, source references,
 * position and unpacked mask. Not a SEG, FRACTIONAL/LABELMAP types and short pixel data are typed errors.
 */
export function readDicomSeg(bytes: Uint8Array): DicomSeg {
  const { dataSet: d } = parseDicomPart10(bytes);
  const sopClass = stringValue(d, 'x00080016');
  if (sopClass !== SEGMENTATION_STORAGE_SOP_CLASS_UID) {
    throw new ImageError(
      'BAD_IMAGE',
      `not a Segmentation object: SOP Class UID is ${sopClass ?? '<missing>'}`,
    );
  }
  const segmentationType = stringValue(d, 'x00620001') ?? '';
  if (segmentationType !== 'BINARY') {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `SEG Segmentation Type ${segmentationType || '<missing>'}; only BINARY is read`,
    );
  }
  const rows = d.uint16('x00280010') ?? 0;
  const columns = d.uint16('x00280011') ?? 0;
  const frameCount = numberValues(d, 'x00280008')[0] ?? 1;
  const bitsAllocated = d.uint16('x00280100');
  if (bitsAllocated !== 1)
    throw new ImageError('UNSUPPORTED_FORMAT', `BINARY SEG with Bits Allocated ${bitsAllocated}; expected 1`);
  const itemsOf = (set: typeof d | undefined, tag: string) =>
    (set?.elements[tag]?.items ?? []).flatMap((it) => (it.dataSet ? [it.dataSet] : []));
  const codeOf = (set: typeof d, tag: string): CodedConcept | undefined => {
    const c = firstItem(set, tag);
    if (c === undefined) return undefined;
    return {
      value: stringValue(c, 'x00080100') ?? '',
      scheme: stringValue(c, 'x00080102') ?? '',
      meaning: stringValue(c, 'x00080104') ?? '',
    };
  };
  const segments: SegSegment[] = itemsOf(d, 'x00620002').map((s) => {
    const seg: SegSegment = {
      number: s.uint16('x00620004') ?? 0,
      label: stringValue(s, 'x00620005') ?? '',
      algorithmType: stringValue(s, 'x00620008') ?? '',
    };
    const name = stringValue(s, 'x00620009');
    if (name !== undefined) seg.algorithmName = name;
    const category = codeOf(s, 'x00620003');
    if (category !== undefined) seg.category = category;
    const type = codeOf(s, 'x0062000f');
    if (type !== undefined) seg.type = type;
    return seg;
  });
  const referencedSeries = itemsOf(d, 'x00081115').map((s) => ({
    seriesInstanceUid: stringValue(s, 'x0020000e') ?? '',
    sopInstanceUids: itemsOf(s, 'x0008114a').flatMap((r) => {
      const uid = stringValue(r, 'x00081155');
      return uid === undefined ? [] : [uid];
    }),
  }));
  const pixel = d.elements.x7fe00010;
  const pixels = rows * columns;
  if (pixel === undefined || pixel.encapsulatedPixelData === true || pixel.length * 8 < pixels * frameCount) {
    throw new ImageError(
      'BAD_IMAGE',
      `SEG Pixel Data holds ${pixel?.length ?? 0} bytes; ${frameCount} frames of ${columns}x${rows} need ${Math.ceil((pixels * frameCount) / 8)}`,
    );
  }
  const packed = d.byteArray.subarray(pixel.dataOffset, pixel.dataOffset + pixel.length);
  const perFrame = itemsOf(d, 'x52009230');
  const sharedSegment = firstItem(firstItem(d, 'x52009229'), 'x0062000a')?.uint16('x0062000b');
  const frames: SegFrame[] = [];
  for (let f = 0; f < frameCount; f++) {
    const group = perFrame[f];
    const data = new Uint8Array(pixels);
    for (let i = 0, bit = f * pixels; i < pixels; i++, bit++) data[i] = (packed[bit >> 3] >> (bit & 7)) & 1;
    const segmentNumber = firstItem(group, 'x0062000a')?.uint16('x0062000b') ?? sharedSegment ?? 0;
    const sourceSopInstanceUids = itemsOf(group, 'x00089124')
      .flatMap((der) => itemsOf(der, 'x00082112'))
      .flatMap((src) => {
        const uid = stringValue(src, 'x00081155');
        return uid === undefined ? [] : [uid];
      });
    const frame: SegFrame = {
      segmentNumber,
      sourceSopInstanceUids,
      mask: { width: columns, height: rows, data },
    };
    const pos = firstItem(group, 'x00209113');
    const ipp = pos === undefined ? [] : numberValues(pos, 'x00200032');
    if (ipp.length === 3) frame.imagePositionPatient = ipp as [number, number, number];
    frames.push(frame);
  }
  const seg: DicomSeg = {
    sopInstanceUid: stringValue(d, 'x00080018') ?? '',
    seriesInstanceUid: stringValue(d, 'x0020000e') ?? '',
    studyInstanceUid: stringValue(d, 'x0020000d') ?? '',
    rows,
    columns,
    segmentationType,
    referencedSeries,
    segments,
    frames,
  };
  const fo = stringValue(d, 'x00200052');
  if (fo !== undefined) seg.frameOfReferenceUid = fo;
  return seg;
}
