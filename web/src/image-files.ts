/**
 * What the app knows about image files before the gateway sees them: the kind of a file from its bytes and
 * name (PNG, JPEG, TIFF, DICOM, NIfTI), base64 for the API, and a NIfTI volume's dimensions (so the slice
 * picker knows its range). Decoding proper happens on the gateway.
 */

/** The kinds of images the segment view opens: files, or (`pacs`) an instance on a configured PACS. */
export type ImageKind = 'encoded' | 'dicom' | 'nifti' | 'pacs';

/** A file picked by the user. */
export interface PickedFile {
  name: string;
  kind: ImageKind;
  bytes: Uint8Array;
  base64: string;
  /** NIfTI only: voxel dimensions [nx, ny, nz]; null when the header could not be read. */
  niftiDims: [number, number, number] | null;
  /** `pacs` only: where the instance is (the gateway fetches it by WADO-RS; bytes stay empty). */
  pacs?: { pacs: string; studyUID: string; seriesUID: string; instanceUID: string };
}

const startsWith = (b: Uint8Array, sig: number[], at = 0) => sig.every((v, i) => b[at + i] === v);

/** The kind of a file from its magic bytes, then its name; null when the app cannot open it. */
export function imageKind(bytes: Uint8Array, name: string): ImageKind | null {
  if (startsWith(bytes, [0x44, 0x49, 0x43, 0x4d], 128)) return 'dicom'; // "DICM" after the preamble
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47])) return 'encoded'; // PNG
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'encoded'; // JPEG
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]))
    return 'encoded';
  const lower = name.toLowerCase();
  if (lower.endsWith('.nii') || lower.endsWith('.nii.gz')) return 'nifti';
  if (lower.endsWith('.dcm')) return 'dicom';
  return null;
}

/** Standard base64 of bytes, in chunks (String.fromCharCode has an argument limit). */
export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 0x8000)));
  return btoa(binary);
}

/** Bytes of a base64 string. */
export function fromBase64(b64: string): Uint8Array {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

async function gunzipPrefix(bytes: Uint8Array, want: number): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let have = 0;
  try {
    while (have < want) {
      const { value, done } = await reader.read();
      if (done || !value) break;
      parts.push(value);
      have += value.length;
    }
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  const out = new Uint8Array(Math.min(have, want));
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.length, out.length - at);
    out.set(p.subarray(0, take), at);
    at += take;
    if (at >= out.length) break;
  }
  return out;
}

/** Voxel dimensions [nx, ny, nz] of a NIfTI-1 or NIfTI-2 file (gzip or not), or null when unreadable. */
export async function niftiDims(bytes: Uint8Array): Promise<[number, number, number] | null> {
  let head = bytes.subarray(0, 540);
  if (startsWith(bytes, [0x1f, 0x8b])) {
    try {
      head = await gunzipPrefix(bytes, 540);
    } catch {
      return null;
    }
  }
  if (head.length < 348) return null;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  for (const little of [true, false]) {
    const size = view.getInt32(0, little);
    if (size === 348)
      return [1, 2, 3].map((i) => view.getInt16(40 + 2 * i, little)) as [number, number, number];
    if (size === 540 && head.length >= 540)
      return [1, 2, 3].map((i) => Number(view.getBigInt64(16 + 8 * i, little))) as [number, number, number];
  }
  return null;
}

/** Reads a picked file; rejects with a message naming the accepted kinds for anything else. */
export async function readPickedFile(file: File): Promise<PickedFile> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const kind = imageKind(bytes, file.name);
  if (!kind) throw new Error(`${file.name}: not a PNG, JPEG, TIFF, DICOM or NIfTI file`);
  return {
    name: file.name,
    kind,
    bytes,
    base64: toBase64(bytes),
    niftiDims: kind === 'nifti' ? await niftiDims(bytes) : null,
  };
}
