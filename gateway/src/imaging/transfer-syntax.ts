/** DICOM transfer syntaxes (PS3.6 Annex A) and how the gateway handles each. */

/** How pixel data of a transfer syntax is laid out for the decoder. */
export type PixelEncoding =
  | 'native-le'
  | 'native-be'
  | 'deflate-le'
  | 'rle'
  | 'jpeg-baseline'
  | 'jpeg-lossless'
  | 'jpeg-ls'
  | 'jpeg2000'
  | 'unsupported';

interface SyntaxInfo {
  name: string;
  encoding: PixelEncoding;
}

const SYNTAXES: Record<string, SyntaxInfo> = {
  '1.2.840.10008.1.2': { name: 'Implicit VR Little Endian', encoding: 'native-le' },
  '1.2.840.10008.1.2.1': { name: 'Explicit VR Little Endian', encoding: 'native-le' },
  '1.2.840.10008.1.2.1.99': { name: 'Deflated Explicit VR Little Endian', encoding: 'deflate-le' },
  '1.2.840.10008.1.2.2': { name: 'Explicit VR Big Endian (retired)', encoding: 'native-be' },
  '1.2.840.10008.1.2.5': { name: 'RLE Lossless', encoding: 'rle' },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline (Process 1)', encoding: 'jpeg-baseline' },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended (Process 2 & 4)', encoding: 'unsupported' },
  '1.2.840.10008.1.2.4.57': {
    name: 'JPEG Lossless, Non-Hierarchical (Process 14)',
    encoding: 'jpeg-lossless',
  },
  '1.2.840.10008.1.2.4.70': {
    name: 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, Selection Value 1)',
    encoding: 'jpeg-lossless',
  },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless', encoding: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Lossy (Near-Lossless)', encoding: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 Image Compression (Lossless Only)', encoding: 'jpeg2000' },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000 Image Compression', encoding: 'jpeg2000' },
  '1.2.840.10008.1.2.4.201': { name: 'High-Throughput JPEG 2000 (Lossless Only)', encoding: 'unsupported' },
  '1.2.840.10008.1.2.4.202': {
    name: 'High-Throughput JPEG 2000 with RPCL Options (Lossless Only)',
    encoding: 'unsupported',
  },
  '1.2.840.10008.1.2.4.203': { name: 'High-Throughput JPEG 2000', encoding: 'unsupported' },
  '1.2.840.10008.1.2.4.100': { name: 'MPEG2 Main Profile / Main Level', encoding: 'unsupported' },
  '1.2.840.10008.1.2.4.102': { name: 'MPEG-4 AVC/H.264 High Profile / Level 4.1', encoding: 'unsupported' },
};

/** Transfer syntax UIDs of the syntaxes whose pixel data the gateway decodes. */
export const TRANSFER_SYNTAX = Object.freeze({
  implicitVrLittleEndian: '1.2.840.10008.1.2',
  explicitVrLittleEndian: '1.2.840.10008.1.2.1',
  explicitVrBigEndian: '1.2.840.10008.1.2.2',
  deflatedExplicitVrLittleEndian: '1.2.840.10008.1.2.1.99',
  rleLossless: '1.2.840.10008.1.2.5',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegLossless: '1.2.840.10008.1.2.4.70',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
});

/** Every listed transfer syntax whose pixel data decodes: UID, standard name and encoding. */
export function decodedTransferSyntaxes(): Array<{ uid: string } & SyntaxInfo> {
  return Object.entries(SYNTAXES)
    .filter(([, s]) => s.encoding !== 'unsupported')
    .map(([uid, s]) => ({ uid, ...s }));
}

/** The standard name of a transfer syntax UID ("unknown transfer syntax" when not listed). */
export function transferSyntaxName(uid: string): string {
  return SYNTAXES[uid]?.name ?? 'unknown transfer syntax';
}

/** How the gateway decodes pixel data of this transfer syntax; `unsupported` for anything else. */
export function pixelEncodingOf(uid: string): PixelEncoding {
  return SYNTAXES[uid]?.encoding ?? 'unsupported';
}
