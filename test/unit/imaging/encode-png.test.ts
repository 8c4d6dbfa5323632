/** PNG encoding, checked by decoding with pngjs (an independent decoder) and with decodeImage. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { decodeImage } from '../../../gateway/src/imaging/decode-image.ts';
import { encodePng } from '../../../gateway/src/imaging/encode-png.ts';
import { ImageError } from '../../../gateway/src/imaging/image-error.ts';

test('8-bit grey and RGB rasters round-trip through pngjs', () => {
  const grey = {
    width: 3,
    height: 2,
    channels: 1 as const,
    data: Uint8Array.from([0, 50, 100, 150, 200, 255]),
  };
  const png = PNG.sync.read(Buffer.from(encodePng(grey)));
  assert.deepEqual([png.width, png.height, png.depth, png.colorType], [3, 2, 8, 0]);
  assert.deepEqual(
    Array.from({ length: 6 }, (_, i) => png.data[i * 4]),
    Array.from(grey.data),
  );
  const rgb = { width: 2, height: 1, channels: 3 as const, data: Uint8Array.from([1, 2, 3, 250, 251, 252]) };
  assert.deepEqual(decodeImage(encodePng(rgb)), { width: 2, height: 1, channels: 3, data: rgb.data });
});

test('16-bit grey keeps every bit', () => {
  const data = Uint16Array.from([0, 1, 255, 256, 4095, 65535]);
  const bytes = encodePng({ width: 2, height: 3, channels: 1, data });
  const png = PNG.sync.read(Buffer.from(bytes), { skipRescale: true });
  assert.equal(png.depth, 16);
  const back = decodeImage(bytes);
  assert.ok(back.data instanceof Uint16Array);
  assert.deepEqual(Array.from(back.data), Array.from(data));
});

test('binary masks become 0/255 grey', () => {
  const bytes = encodePng({ width: 2, height: 2, data: Uint8Array.from([0, 1, 1, 0]) });
  assert.deepEqual(Array.from(decodeImage(bytes).data), [0, 255, 255, 0]);
});

test('signed or float rasters and size mismatches are refused', () => {
  assert.throws(
    () => encodePng({ width: 1, height: 1, channels: 1, data: Float32Array.of(1) }),
    (e: unknown) => e instanceof ImageError && e.code === 'UNSUPPORTED_FORMAT' && /toGrey8/.test(e.message),
  );
  assert.throws(
    () => encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(3) }),
    (e: unknown) =>
      e instanceof ImageError && e.code === 'BAD_IMAGE' && /needs 4 samples, has 3/.test(e.message),
  );
});
