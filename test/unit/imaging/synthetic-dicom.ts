/** Builds small synthetic DICOM Part 10 files with dcmjs for the imaging tests (never real patient data). */
import dcmjs from 'dcmjs';

/** What a synthetic image file holds; pixel bytes are little-endian, or one encoded buffer per frame. */
export interface SyntheticDicom {
  rows: number;
  columns: number;
  frames?: number;
  samplesPerPixel?: 1 | 3;
  photometric?: string;
  bitsAllocated: 1 | 8 | 16;
  bitsStored?: number;
  pixelRepresentation?: 0 | 1;
  planarConfiguration?: 0 | 1;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  windowCenter?: string;
  windowWidth?: string;
  pixelSpacing?: [number, number];
  transferSyntaxUid?: string;
  /** Native pixel bytes (all frames) or, for encapsulated syntaxes, one buffer per frame. */
  pixelData: Uint8Array | Uint8Array[];
  extra?: Record<string, unknown>;
}

const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

/** Writes a Part 10 file (Explicit VR Little Endian unless `transferSyntaxUid` says otherwise). */
export function makeDicom(o: SyntheticDicom): Uint8Array {
  const syntax = o.transferSyntaxUid ?? '1.2.840.10008.1.2.1';
  const uid = '2.25.1234567890123456789';
  const meta = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SECONDARY_CAPTURE,
    MediaStorageSOPInstanceUID: uid,
    TransferSyntaxUID: syntax,
    ImplementationClassUID: '2.25.42',
    _vrMap: { FileMetaInformationVersion: 'OB' },
  });
  const bitsStored = o.bitsStored ?? o.bitsAllocated;
  const ds: Record<string, unknown> = {
    SOPClassUID: SECONDARY_CAPTURE,
    SOPInstanceUID: uid,
    StudyInstanceUID: '2.25.1',
    SeriesInstanceUID: '2.25.2',
    Modality: 'OT',
    PatientName: 'Synthetic^Patient',
    PatientID: 'SYN-001',
    Rows: o.rows,
    Columns: o.columns,
    SamplesPerPixel: o.samplesPerPixel ?? 1,
    PhotometricInterpretation: o.photometric ?? 'MONOCHROME2',
    BitsAllocated: o.bitsAllocated,
    BitsStored: bitsStored,
    HighBit: bitsStored - 1,
    PixelRepresentation: o.pixelRepresentation ?? 0,
    PixelData: Array.isArray(o.pixelData)
      ? o.pixelData.map((f) => f.slice().buffer)
      : [o.pixelData.slice().buffer],
    _vrMap: { PixelData: o.bitsAllocated === 16 && !Array.isArray(o.pixelData) ? 'OW' : 'OB' },
    ...o.extra,
  };
  if (o.frames !== undefined) ds.NumberOfFrames = String(o.frames);
  if ((o.samplesPerPixel ?? 1) === 3) ds.PlanarConfiguration = o.planarConfiguration ?? 0;
  if (o.rescaleSlope !== undefined) ds.RescaleSlope = String(o.rescaleSlope);
  if (o.rescaleIntercept !== undefined) ds.RescaleIntercept = String(o.rescaleIntercept);
  if (o.windowCenter !== undefined) ds.WindowCenter = o.windowCenter;
  if (o.windowWidth !== undefined) ds.WindowWidth = o.windowWidth;
  if (o.pixelSpacing !== undefined) ds.PixelSpacing = o.pixelSpacing.map(String);
  const dict = new dcmjs.data.DicomDict(meta);
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(ds);
  return new Uint8Array(dict.write({ fragmentMultiframe: false }));
}

/** Little-endian bytes of 16-bit samples. */
export function le16(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setUint16(2 * i, values[i] & 0xffff, true);
  return out;
}
