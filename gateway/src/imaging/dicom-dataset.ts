/** Parsing DICOM Part 10 files (PS3.10) into dicom-parser datasets, with typed errors and small accessors. */
import { createRequire } from 'node:module';
import { TextDecoder } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import type * as DicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { ImageError } from './image-error.ts';
import { pixelEncodingOf, transferSyntaxName } from './transfer-syntax.ts';

// dicom-parser ships a UMD bundle whose named exports Node's ESM loader cannot see; load it as CommonJS.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof DicomParser;
export { dicomParser };

/** Upper bound on the inflated size of a deflated dataset (bytes), against decompression bombs. */
const MAX_INFLATED_BYTES = 1 << 30;

/** A parsed Part 10 file: its dataset and transfer syntax UID. */
export interface ParsedDicom {
  dataSet: DataSet;
  transferSyntaxUid: string;
}

/**
 * The text of whatever dicom-parser threw: an Error, a string, or an object `{ exception, dataSet }` (which
 * String() turns into "[object Object]").
 */
export function parserMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  const exception = (err as { exception?: unknown } | null)?.exception;
  if (typeof exception === 'string') return exception;
  if (exception instanceof Error) return exception.message;
  return 'malformed data set';
}

/**
 * Parses a DICOM Part 10 file (128-byte preamble, "DICM", File Meta Information): Implicit/Explicit VR
 * Little Endian, Explicit VR Big Endian and Deflated Explicit VR Little Endian datasets. `untilTag`
 * ("xGGGGEEEE") stops parsing early, e.g. before Pixel Data. Malformed input is BAD_IMAGE.
 */
export function parseDicomPart10(bytes: Uint8Array, untilTag?: string): ParsedDicom {
  if (bytes.length < 132 || String.fromCharCode(...bytes.subarray(128, 132)) !== 'DICM') {
    throw new ImageError(
      'BAD_IMAGE',
      `not a DICOM Part 10 file: no "DICM" prefix at byte 128 (${bytes.length} bytes)`,
    );
  }
  let dataSet: DataSet;
  try {
    dataSet = dicomParser.parseDicom(bytes, {
      ...(untilTag === undefined ? {} : { untilTag }),
      // dicom-parser hands the whole file and the offset of the deflated dataset; it expects the
      // same file back with the dataset inflated in place.
      inflater: ((arr: Uint8Array, position: number) => {
        const inflated = inflateRawSync(arr.subarray(position), { maxOutputLength: MAX_INFLATED_BYTES });
        const full = new Uint8Array(position + inflated.length);
        full.set(arr.subarray(0, position), 0);
        full.set(inflated, position);
        return full;
      }) as unknown as (arr: Uint8Array, position: number) => void,
    });
  } catch (err) {
    throw new ImageError('BAD_IMAGE', `DICOM file could not be parsed: ${parserMessage(err)}`, {
      cause: err,
    });
  }
  const transferSyntaxUid = dataSet.string('x00020010') ?? '';
  const decoder = textDecoderFor(dataSet.string('x00080005') ?? '');
  // Items of sequences share the file's byte array, so one entry covers every nested dataset.
  if (decoder !== undefined) textDecoders.set(dataSet.byteArray, decoder);
  return { dataSet, transferSyntaxUid };
}

/**
 * The decoder for each parsed file's Specific Character Set (0008,0005), keyed by the byte array that the file's
 * datasets share. Files without one are read byte per character, as dicom-parser does (ISO-IR 6 is ASCII).
 */
const textDecoders = new WeakMap<Uint8Array, TextDecoder>();

/** Single-byte and multi-byte character sets by their Defined Term (PS3.3 C.12.1.1.2), as WHATWG labels. */
const CHARACTER_SETS: Record<string, string> = {
  'ISO_IR 100': 'iso-8859-1',
  'ISO_IR 101': 'iso-8859-2',
  'ISO_IR 109': 'iso-8859-3',
  'ISO_IR 110': 'iso-8859-4',
  'ISO_IR 144': 'iso-8859-5',
  'ISO_IR 127': 'iso-8859-6',
  'ISO_IR 126': 'iso-8859-7',
  'ISO_IR 138': 'iso-8859-8',
  'ISO_IR 148': 'iso-8859-9',
  'ISO_IR 203': 'iso-8859-15',
  'ISO_IR 166': 'windows-874',
  'ISO_IR 13': 'shift_jis',
  'ISO_IR 192': 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
};

/**
 * The TextDecoder for a Specific Character Set value. Only its first value is used: code extensions
 * (ISO 2022 escape sequences) switch sets inside a value, which this reader does not follow.
 */
function textDecoderFor(specificCharacterSet: string): TextDecoder | undefined {
  const first = specificCharacterSet.split('\\')[0]?.trim() ?? '';
  const label = CHARACTER_SETS[first] ?? CHARACTER_SETS[first.replace('ISO 2022 IR', 'ISO_IR')];
  if (label === undefined) return undefined;
  try {
    return new TextDecoder(label);
  } catch {
    // A Node built without full ICU lacks the legacy encodings; fall back to byte-per-character.
    return undefined;
  }
}

/**
 * The text of a string element, decoded in its file's character set: dicom-parser maps each byte to one
 * character, which garbles UTF-8 and multi-byte sets as soon as a byte is above 0x7F.
 */
function decodedString(ds: DataSet, tag: string): string | undefined {
  const element = ds.elements[tag];
  if (element === undefined) return undefined;
  const raw = ds.byteArray.subarray(element.dataOffset, element.dataOffset + element.length);
  const decoder = textDecoders.get(ds.byteArray);
  if (decoder === undefined || raw.every((b) => b < 0x80)) return ds.string(tag);
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0 || raw[end - 1] === 0x20)) end--;
  return decoder.decode(raw.subarray(0, end));
}

/** Throws UNSUPPORTED_TRANSFER_SYNTAX, naming the UID and its name, unless the gateway decodes its pixels. */
export function checkTransferSyntax(uid: string): void {
  if (pixelEncodingOf(uid) === 'unsupported') {
    throw new ImageError(
      'UNSUPPORTED_TRANSFER_SYNTAX',
      `DICOM transfer syntax ${uid || '<missing>'} (${transferSyntaxName(uid)}) is not supported; ` +
        'supported: Implicit/Explicit VR Little Endian, Explicit VR Big Endian, Deflated, RLE Lossless, JPEG Baseline, JPEG Lossless, JPEG-LS, JPEG 2000',
    );
  }
}

/** All backslash-separated values of a string element, trimmed; [] when absent. */
export function stringValues(ds: DataSet, tag: string): string[] {
  const s = decodedString(ds, tag);
  return s === undefined || s === '' ? [] : s.split('\\').map((v) => v.trim());
}

/** A single string value, trimmed; undefined when absent or empty. */
export function stringValue(ds: DataSet, tag: string): string | undefined {
  const s = decodedString(ds, tag);
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}

/** Decimal/integer string values as numbers (DS, IS); [] when absent; BAD_IMAGE for a non-number. */
export function numberValues(ds: DataSet, tag: string): number[] {
  return stringValues(ds, tag).map((v) => {
    const n = Number(v);
    if (v === '' || !Number.isFinite(n))
      throw new ImageError('BAD_IMAGE', `DICOM ${tag} holds "${v}", expected a number`);
    return n;
  });
}

/** The first value of a DS/IS element, or undefined. */
export function numberValue(ds: DataSet, tag: string): number | undefined {
  return numberValues(ds, tag)[0];
}

/** The first item dataset of a sequence element, or undefined. */
export function firstItem(ds: DataSet | undefined, tag: string): DataSet | undefined {
  return ds?.elements[tag]?.items?.[0]?.dataSet;
}

/** The item datasets of a sequence element ([] when absent). */
export function items(ds: DataSet | undefined, tag: string): DataSet[] {
  return (ds?.elements[tag]?.items ?? []).flatMap((item) =>
    item.dataSet === undefined ? [] : [item.dataSet],
  );
}
