/** The imaging layer's public API: decoding, windowing, PNG encoding, DICOM, NIfTI, DICOM SEG and DICOMweb. */
export { ImageError, DEFAULT_MAX_PIXELS } from './image-error.ts';
export type { ImageErrorCode } from './image-error.ts';
export { decodeImage } from './decode-image.ts';
export type { DecodeImageOptions } from './decode-image.ts';
export { sniffImageFormat, formatOfMediaType, resolveImageFormat } from './image-format.ts';
export type { ImageFormat } from './image-format.ts';
export { decodePng, readPngHeader } from './decode-png.ts';
export { decodeJpeg, readJpegHeader } from './decode-jpeg.ts';
export { decodeTiff } from './decode-tiff.ts';
export { encodePng } from './encode-png.ts';
export {
  WINDOW_PRESETS,
  applyRange,
  applyWindow,
  minMax,
  percentileRange,
  rgbToLuma,
  toDisplay8,
  toGrey8,
} from './windowing.ts';
export type { DisplayMapping, Window, WindowPresetName } from './windowing.ts';
export { decodeDicom, readDicomMetadata } from './dicom.ts';
export type { DicomDecodeOptions, DicomImage, DicomMetadata } from './dicom.ts';
export { TRANSFER_SYNTAX, transferSyntaxName } from './transfer-syntax.ts';
export { decodeRleFrame, encodeRleFrame } from './dicom-rle.ts';
export { newDicomUid } from './dicom-uid.ts';
export { decodeNifti, sliceVolume, axisCodes } from './nifti.ts';
export type { NiftiDecodeOptions, NiftiDatatype, NiftiVolume, VolumeData, VolumeSlice } from './nifti.ts';
export { SEGMENTATION_CODES } from './coded-concept.ts';
export type { CodedConcept } from './coded-concept.ts';
export {
  SEGMENTATION_STORAGE_SOP_CLASS_UID,
  readDicomSeg,
  segSourceFromDicom,
  writeDicomSeg,
} from './dicom-seg.ts';
export type {
  DicomSeg,
  DicomSegInput,
  DicomSegOutput,
  SegFrame,
  SegFrameInput,
  SegPatientStudy,
  SegSegment,
  SegSourceImage,
  SegmentAlgorithmType,
  SegmentDefinition,
} from './dicom-seg.ts';
export { DicomWebClient, DicomWebError, dicomJsonString } from './dicomweb-client.ts';
export type {
  DicomJson,
  DicomWebEndpoint,
  DicomWebErrorCode,
  QidoQuery,
  StowInstance,
  StowResult,
} from './dicomweb-client.ts';
export { parseMultipart, buildMultipart } from './multipart.ts';
