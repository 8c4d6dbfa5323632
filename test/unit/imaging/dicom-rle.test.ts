/** DICOM RLE Lossless (PS3.5 Annex G) on literal byte sequences. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRleFrame, encodeRleFrame } from '../../../gateway/src/imaging/dicom-rle.ts';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';

function frame(segments: number[][]): Uint8Array {
  const header = new DataView(new ArrayBuffer(64));
  header.setUint32(0, segments.length, true);
  let offset = 64;
  segments.forEach((s, k) => {
    header.setUint32(4 + 4 * k, offset, true);
    offset += s.length;
  });
  return Uint8Array.from([...new Uint8Array(header.buffer), ...segments.flat()]);
}

test('PackBits runs: literal (n+1 bytes), replicate (257-n copies) and the 128 no-op', () => {
  // 2x3 pixels, 8-bit: literal [1 2], no-op, replicate 9 three times, literal [4]
  const f = frame([[1, 1, 2, 128, 254, 9, 0, 4]]);
  assert.deepEqual(Array.from(decodeRleFrame(f, 2, 3, 1, 8)), [1, 2, 9, 9, 9, 4]);
});

test('16-bit samples: segment 0 holds the high bytes, segment 1 the low bytes', () => {
  const f = frame([
    [1, 0x12, 0xff],
    [1, 0x34, 0x01],
  ]);
  const out = decodeRleFrame(f, 1, 2, 1, 16);
  assert.deepEqual(Array.from(new Uint16Array(out.buffer)), [0x1234, 0xff01]);
});

test('encodeRleFrame round-trips long runs, literals and RGB planes', () => {
  const pixels = Uint8Array.from({ length: 3 * 400 }, (_, i) => (i < 600 ? 7 : (i * 31) % 256));
  assert.deepEqual(decodeRleFrame(encodeRleFrame(pixels, 3, 8), 20, 20, 3, 8), pixels);
  const sixteen = Uint8Array.from({ length: 2 * 300 }, (_, i) => (i % 7 === 0 ? 0 : i % 256));
  assert.deepEqual(decodeRleFrame(encodeRleFrame(sixteen, 1, 16), 15, 20, 1, 16), sixteen);
});

test('short segments, overruns and wrong segment counts are BAD_IMAGE', () => {
  const bad = (f: Uint8Array, pattern: RegExp) =>
    assert.throws(
      () => decodeRleFrame(f, 2, 2, 1, 8),
      (e: unknown) => e instanceof ImageError && e.code === 'BAD_IMAGE' && pattern.test(e.message),
    );
  bad(frame([[1, 5, 5]]), /decodes to 2 bytes where 4/);
  bad(frame([[10, 1, 2]]), /overruns/);
  bad(
    frame([
      [0, 1],
      [0, 2],
    ]),
    /declares 2 segments/,
  );
  bad(new Uint8Array(10), /shorter than its 64-byte header/);
  const f = frame([[3, 1, 2, 3, 4]]);
  new DataView(f.buffer).setUint32(4, 9999, true);
  bad(f, /segment 0 spans bytes 9999/);
});
