/** DICOM RLE Lossless (transfer syntax 1.2.840.10008.1.2.5), DICOM PS3.5 Annex G. */
import { ImageError } from './image-error.ts';

/**
 * Decodes one RLE Lossless frame into little-endian, pixel-interleaved bytes
 * (`rows * columns * samplesPerPixel * bitsAllocated/8`). Segment k holds byte plane k: per sample, most
 * significant byte first (PS3.5 G.2); each segment is PackBits-coded (G.3.1). Malformed headers, segment
 * overruns and short segments are BAD_IMAGE.
 */
export function decodeRleFrame(
  frame: Uint8Array,
  rows: number,
  columns: number,
  samplesPerPixel: number,
  bitsAllocated: number,
): Uint8Array {
  const bytesPerSample = bitsAllocated / 8;
  const expectedSegments = samplesPerPixel * bytesPerSample;
  if (frame.length < 64)
    throw new ImageError(
      'BAD_IMAGE',
      `RLE frame of ${frame.length} bytes is shorter than its 64-byte header`,
    );
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  if (segments !== expectedSegments) {
    throw new ImageError(
      'BAD_IMAGE',
      `RLE header declares ${segments} segments; ${samplesPerPixel} samples of ${bitsAllocated} bits need ${expectedSegments}`,
    );
  }
  const pixels = rows * columns;
  const out = new Uint8Array(pixels * expectedSegments);
  const plane = new Uint8Array(pixels);
  for (let k = 0; k < segments; k++) {
    const start = view.getUint32(4 + 4 * k, true);
    const end = k + 1 < segments ? view.getUint32(8 + 4 * k, true) : frame.length;
    if (start < 64 || end > frame.length || end < start) {
      throw new ImageError(
        'BAD_IMAGE',
        `RLE segment ${k} spans bytes ${start}..${end} of a ${frame.length}-byte frame`,
      );
    }
    unpackBits(frame, start, end, plane, k);
    const sample = Math.floor(k / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (k % bytesPerSample); // little-endian position
    for (let i = 0; i < pixels; i++)
      out[(i * samplesPerPixel + sample) * bytesPerSample + byteInSample] = plane[i];
  }
  return out;
}

function unpackBits(src: Uint8Array, start: number, end: number, dst: Uint8Array, segment: number): void {
  let p = start;
  let q = 0;
  while (q < dst.length && p < end) {
    const n = src[p++];
    if (n < 128) {
      const count = n + 1;
      if (p + count > end || q + count > dst.length) break;
      dst.set(src.subarray(p, p + count), q);
      p += count;
      q += count;
    } else if (n > 128) {
      const count = 257 - n;
      if (p >= end || q + count > dst.length) break;
      dst.fill(src[p++], q, q + count);
      q += count;
    }
    // n === 128 is a no-op by definition
  }
  if (q !== dst.length) {
    throw new ImageError(
      'BAD_IMAGE',
      `RLE segment ${segment} decodes to ${q} bytes where ${dst.length} were expected, or overruns`,
    );
  }
}

/**
 * Encodes little-endian, pixel-interleaved bytes as one RLE Lossless frame (the inverse of decodeRleFrame);
 * used to build test files and by writers that want a compact encapsulated frame.
 */
export function encodeRleFrame(
  pixels: Uint8Array,
  samplesPerPixel: number,
  bitsAllocated: number,
): Uint8Array {
  const bytesPerSample = bitsAllocated / 8;
  const segments = samplesPerPixel * bytesPerSample;
  const count = pixels.length / segments;
  const packed: Uint8Array[] = [];
  for (let k = 0; k < segments; k++) {
    const sample = Math.floor(k / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (k % bytesPerSample);
    const plane = new Uint8Array(count);
    for (let i = 0; i < count; i++)
      plane[i] = pixels[(i * samplesPerPixel + sample) * bytesPerSample + byteInSample];
    packed.push(packBits(plane));
  }
  const header = new DataView(new ArrayBuffer(64));
  header.setUint32(0, segments, true);
  let offset = 64;
  packed.forEach((seg, k) => {
    header.setUint32(4 + 4 * k, offset, true);
    offset += seg.length;
  });
  const out = new Uint8Array(offset);
  out.set(new Uint8Array(header.buffer), 0);
  let at = 64;
  for (const seg of packed) {
    out.set(seg, at);
    at += seg.length;
  }
  return out;
}

function packBits(plane: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < plane.length) {
    let run = 1;
    while (i + run < plane.length && run < 128 && plane[i + run] === plane[i]) run++;
    if (run >= 2) {
      out.push(257 - run, plane[i]);
      i += run;
      continue;
    }
    let lit = 1;
    while (
      i + lit < plane.length &&
      lit < 128 &&
      !(i + lit + 1 < plane.length && plane[i + lit] === plane[i + lit + 1])
    )
      lit++;
    out.push(lit - 1, ...plane.subarray(i, i + lit));
    i += lit;
  }
  if (out.length % 2 === 1) out.push(128); // segments are padded to an even length with a no-op
  return Uint8Array.from(out);
}
