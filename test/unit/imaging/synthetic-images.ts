/** Hand-built PNG and TIFF files for the decoder tests (independent of the encoders under test). */
import { crc32, deflateSync } from 'node:zlib';

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/**
 * A PNG of the given colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA) and bit depth, from samples
 * in row-major order (16-bit samples as numbers). Rows use filter type 1 (Sub) to exercise unfiltering.
 */
export function makePng(o: {
  width: number;
  height: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 8 | 16;
  samples: number[];
  palette?: [number, number, number][];
}): Uint8Array {
  const perPixel = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[o.colorType];
  const bytesPerSample = o.bitDepth / 8;
  const bpp = perPixel * bytesPerSample;
  const rowBytes = o.width * bpp;
  const raw = Buffer.alloc((rowBytes + 1) * o.height);
  for (let y = 0; y < o.height; y++) {
    const row = Buffer.alloc(rowBytes);
    for (let i = 0; i < o.width * perPixel; i++) {
      const v = o.samples[y * o.width * perPixel + i];
      if (bytesPerSample === 1) row[i] = v;
      else row.writeUInt16BE(v, 2 * i);
    }
    raw[y * (rowBytes + 1)] = 1;
    for (let i = 0; i < rowBytes; i++)
      raw[y * (rowBytes + 1) + 1 + i] = (row[i] - (i >= bpp ? row[i - bpp] : 0)) & 0xff;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(o.width, 0);
  ihdr.writeUInt32BE(o.height, 4);
  ihdr[8] = o.bitDepth;
  ihdr[9] = o.colorType;
  const chunks = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (o.palette !== undefined) chunks.push(chunk('PLTE', Uint8Array.from(o.palette.flat())));
  chunks.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(chunks);
}

/** A PNG whose header declares a huge image but which carries no pixel data (a decompression-bomb stand-in). */
export function hugePngHeader(width: number, height: number): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * An uncompressed single-strip TIFF: `samplesPerPixel` samples of `bits` bits (format 1 unsigned, 2 signed,
 * 3 float), photometric 0/1/2, in either byte order.
 */
export function makeTiff(o: {
  width: number;
  height: number;
  bits: 8 | 16 | 32;
  samplesPerPixel: 1 | 3 | 4;
  photometric: 0 | 1 | 2;
  sampleFormat?: 1 | 2 | 3;
  samples: number[];
  littleEndian?: boolean;
}): Uint8Array {
  const le = o.littleEndian ?? true;
  const bytes = o.bits / 8;
  const pixelBytes = o.samples.length * bytes;
  const entries: [number, number, number, number[]][] = [
    [256, 4, 1, [o.width]],
    [257, 4, 1, [o.height]],
    [258, 3, o.samplesPerPixel, Array(o.samplesPerPixel).fill(o.bits)],
    [259, 3, 1, [1]],
    [262, 3, 1, [o.photometric]],
    [273, 4, 1, [0]], // patched below
    [277, 3, 1, [o.samplesPerPixel]],
    [278, 4, 1, [o.height]],
    [279, 4, 1, [pixelBytes]],
    [284, 3, 1, [1]],
    [339, 3, o.samplesPerPixel, Array(o.samplesPerPixel).fill(o.sampleFormat ?? 1)],
  ];
  if (o.samplesPerPixel === 4) entries.push([338, 3, 1, [2]]);
  entries.sort((a, b) => a[0] - b[0]);
  const ifdOffset = 8;
  const ifdSize = 2 + entries.length * 12 + 4;
  let extra = ifdOffset + ifdSize;
  const extras: [number, number[], number][] = [];
  const dataOffset = extra + 64;
  const out = Buffer.alloc(dataOffset + pixelBytes);
  out.write(le ? 'II' : 'MM', 0, 'latin1');
  const u16 = (v: number, at: number): void =>
    void (le ? out.writeUInt16LE(v, at) : out.writeUInt16BE(v, at));
  const u32 = (v: number, at: number): void =>
    void (le ? out.writeUInt32LE(v, at) : out.writeUInt32BE(v, at));
  u16(42, 2);
  u32(ifdOffset, 4);
  u16(entries.length, ifdOffset);
  entries.forEach(([tag, type, count, values], i) => {
    const at = ifdOffset + 2 + i * 12;
    u16(tag, at);
    u16(type, at + 2);
    u32(count, at + 4);
    const vals = tag === 273 ? [dataOffset] : values;
    const size = (type === 3 ? 2 : 4) * count;
    if (size <= 4) {
      vals.forEach((v, k) => (type === 3 ? u16(v, at + 8 + 2 * k) : u32(v, at + 8)));
    } else {
      u32(extra, at + 8);
      extras.push([extra, vals, type]);
      extra += size;
    }
  });
  u32(0, ifdOffset + 2 + entries.length * 12);
  for (const [at, vals] of extras) vals.forEach((v, k) => u16(v, at + 2 * k));
  o.samples.forEach((v, i) => {
    const at = dataOffset + i * bytes;
    if (o.bits === 8) out[at] = v;
    else if (o.bits === 16 && (o.sampleFormat ?? 1) === 2) {
      if (le) out.writeInt16LE(v, at);
      else out.writeInt16BE(v, at);
    } else if (o.bits === 16) u16(v, at);
    else if (le) out.writeFloatLE(v, at);
    else out.writeFloatBE(v, at);
  });
  return out;
}

/** A 4x2x3 NIfTI-1 volume of int16 voxels 0..23 (x fastest), spacing 0.5 x 0.25 x 2 mm. */
export function makeNiftiVolume(): Uint8Array {
  const out = new Uint8Array(352 + 24 * 2);
  const v = new DataView(out.buffer);
  v.setInt32(0, 348, true);
  [3, 4, 2, 3, 1].forEach((d, i) => v.setInt16(40 + 2 * i, d, true));
  v.setInt16(70, 4, true); // DT_INT16
  v.setInt16(72, 16, true);
  [1, 0.5, 0.25, 2].forEach((p, i) => v.setFloat32(76 + 4 * i, p, true));
  v.setFloat32(108, 352, true);
  for (let i = 0; i < 4; i++) out[344 + i] = 'n+1\0'.charCodeAt(i);
  for (let i = 0; i < 24; i++) v.setInt16(352 + 2 * i, i, true);
  return out;
}
