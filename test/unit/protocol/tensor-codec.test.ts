import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  TensorCodecError,
  bf16ToFloat32,
  decodeTensorContents,
  decodeTensorData,
  encodeTensorData,
  float32ToBf16,
  float32ToFp16,
  fp16ToFloat32,
  fromFp16Array,
  toFp16Array,
} from '../../../gateway/src/protocol/tensor-codec.ts';
import type { Datatype, TensorData } from '../../../gateway/src/protocol/types.ts';

const samples: Array<[Datatype, TensorData]> = [
  ['BOOL', Uint8Array.from([1, 0, 1])],
  ['UINT8', Uint8Array.from([0, 255, 7])],
  ['UINT16', Uint16Array.from([0, 65535, 7])],
  ['UINT32', Uint32Array.from([0, 4294967295, 7])],
  ['UINT64', BigUint64Array.from([0n, 18446744073709551615n, 7n])],
  ['INT8', Int8Array.from([-128, 127, 0])],
  ['INT16', Int16Array.from([-32768, 32767, 0])],
  ['INT32', Int32Array.from([-2147483648, 2147483647, 0])],
  ['INT64', BigInt64Array.from([-9223372036854775808n, 9223372036854775807n, 0n])],
  ['FP16', Uint16Array.from([0x3c00, 0x7c00, 0x7e00])],
  ['BF16', Uint16Array.from([0x3f80, 0xff80, 0x7fc0])],
  ['FP32', Float32Array.from([NaN, Infinity, -0])],
  ['FP64', Float64Array.from([NaN, -Infinity, Number.MAX_VALUE])],
];

describe('tensor codec', () => {
  for (const [dt, data] of samples) {
    it(`round-trips ${dt} bit-exactly`, () => {
      const bytes = encodeTensorData('t', dt, [3], data);
      const back = decodeTensorData('t', dt, [3], bytes);
      assert.equal(back.constructor, data.constructor);
      assert.deepEqual(Buffer.from(bytes), Buffer.from(encodeTensorData('t', dt, [3], back)));
      if (!Array.isArray(data)) {
        const a = data as Float64Array;
        const b = back as Float64Array;
        for (let i = 0; i < 3; i += 1)
          assert.ok(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])));
      }
    });
  }

  it('writes little-endian row-major bytes without copying typed arrays', () => {
    const data = Int32Array.from([1, -2]);
    const bytes = encodeTensorData('x', 'INT32', [2], data);
    assert.deepEqual([...bytes], [1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
    assert.equal(bytes.buffer, data.buffer);
  });

  it('length-prefixes BYTES elements and reads them back as views', () => {
    const data = [Uint8Array.from([104, 105]), new Uint8Array(0), Uint8Array.from([0, 255])];
    const bytes = encodeTensorData('s', 'BYTES', [3], data);
    assert.deepEqual([...bytes], [2, 0, 0, 0, 104, 105, 0, 0, 0, 0, 2, 0, 0, 0, 0, 255]);
    const back = decodeTensorData('s', 'BYTES', [3], bytes) as Uint8Array[];
    assert.deepEqual(
      back.map((b) => [...b]),
      [[104, 105], [], [0, 255]],
    );
  });

  it('decodes an unaligned buffer by copying', () => {
    const raw = Buffer.alloc(9);
    raw.writeFloatLE(1.25, 1);
    raw.writeFloatLE(-3, 5);
    const back = decodeTensorData('u', 'FP32', [2], raw.subarray(1)) as Float32Array;
    assert.deepEqual([...back], [1.25, -3]);
  });

  it('names the tensor, expected and actual byte length on a mismatch', () => {
    assert.throws(
      () => decodeTensorData('image', 'FP32', [2, 3], new Uint8Array(20)),
      (e: unknown) =>
        e instanceof TensorCodecError && /tensor 'image': expected 24 bytes .*got 20 bytes/.test(e.message),
    );
    assert.throws(
      () => decodeTensorData('s', 'BYTES', [1], Uint8Array.from([5, 0, 0, 0, 1])),
      /BYTES element 0 of 5 bytes/,
    );
    assert.throws(
      () => decodeTensorData('s', 'BYTES', [2], Uint8Array.from([0, 0, 0, 0])),
      /expected 2 BYTES elements, got 1/,
    );
    assert.throws(
      () => decodeTensorData('s', 'BYTES', [1], Uint8Array.from([0, 0, 0])),
      /4-byte length prefix/,
    );
  });

  it('refuses data whose class or length does not fit the datatype and shape', () => {
    assert.throws(
      () => encodeTensorData('a', 'FP32', [2], Float64Array.from([1, 2])),
      /expected FP32 data as Float32Array, got Float64Array/,
    );
    assert.throws(
      () => encodeTensorData('a', 'FP32', [3], Float32Array.from([1, 2])),
      /expected 3 elements for shape \[3\], got 2/,
    );
    assert.throws(
      () => encodeTensorData('a', 'FP32', [-1], new Float32Array(0)),
      /non-negative integer dimensions/,
    );
    assert.throws(() => decodeTensorData('a', 'FP8' as Datatype, [1], new Uint8Array(1)), /datatype 'FP8'/);
  });

  it('reads typed contents when a server answers without raw contents', () => {
    assert.deepEqual(
      [...(decodeTensorContents('b', 'BOOL', [2], { boolContents: [true, false] }) as Uint8Array)],
      [1, 0],
    );
    assert.deepEqual(
      [...(decodeTensorContents('i', 'INT16', [2], { intContents: [-5, 7] }) as Int16Array)],
      [-5, 7],
    );
    assert.deepEqual(
      [...(decodeTensorContents('l', 'INT64', [1], { int64Contents: [-9] }) as BigInt64Array)],
      [-9n],
    );
    assert.deepEqual(
      [...(decodeTensorContents('u', 'UINT64', [1], { uint64Contents: [9] }) as BigUint64Array)],
      [9n],
    );
    assert.deepEqual(
      [...(decodeTensorContents('f', 'FP32', [2], { fp32Contents: [0.5, 2] }) as Float32Array)],
      [0.5, 2],
    );
    assert.deepEqual(
      [...(decodeTensorContents('d', 'FP64', [1], { fp64Contents: [0.1] }) as Float64Array)],
      [0.1],
    );
    const s = decodeTensorContents('s', 'BYTES', [1], { bytesContents: [Buffer.from('ok')] }) as Uint8Array[];
    assert.equal(Buffer.from(s[0]).toString(), 'ok');
    assert.throws(
      () => decodeTensorContents('f', 'FP32', [3], { fp32Contents: [1] }),
      /expected 3 values in contents.fp32Contents, got 1/,
    );
    assert.throws(() => decodeTensorContents('h', 'FP16', [1], {}), /raw contents/);
  });
});

describe('fp16 and bf16 conversions', () => {
  it('converts fp16 edge cases exactly', () => {
    assert.equal(fp16ToFloat32(0x3c00), 1);
    assert.equal(fp16ToFloat32(0x7bff), 65504);
    assert.equal(fp16ToFloat32(0x0001), 2 ** -24);
    assert.equal(fp16ToFloat32(0x0400), 2 ** -14);
    assert.equal(fp16ToFloat32(0x7c00), Infinity);
    assert.equal(fp16ToFloat32(0xfc00), -Infinity);
    assert.ok(Number.isNaN(fp16ToFloat32(0x7e00)));
    assert.ok(Object.is(fp16ToFloat32(0x8000), -0));
  });

  it('rounds float32 to fp16 to nearest even, with overflow, underflow and NaN', () => {
    assert.equal(float32ToFp16(1), 0x3c00);
    assert.equal(float32ToFp16(65504), 0x7bff);
    assert.equal(float32ToFp16(65520), 0x7c00); // rounds up to Infinity
    assert.equal(float32ToFp16(1e6), 0x7c00);
    assert.equal(float32ToFp16(-1e6), 0xfc00);
    assert.equal(float32ToFp16(2 ** -24), 0x0001);
    assert.equal(float32ToFp16(2 ** -25), 0x0000); // tie to even (zero)
    assert.equal(float32ToFp16(1.5 * 2 ** -25), 0x0001);
    assert.equal(float32ToFp16(2 ** -14), 0x0400);
    assert.equal(float32ToFp16(1 + 2 ** -11), 0x3c00); // halfway, stays even
    assert.equal(float32ToFp16(1 + 3 * 2 ** -11), 0x3c02); // halfway, rounds up to even
    assert.equal(float32ToFp16(-0), 0x8000);
    assert.equal(float32ToFp16(Infinity), 0x7c00);
    const nan = float32ToFp16(NaN);
    assert.equal(nan & 0x7c00, 0x7c00);
    assert.notEqual(nan & 0x3ff, 0);
  });

  it('round-trips every finite fp16 value through float32', () => {
    for (let bits = 0; bits < 0x10000; bits += 1) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      assert.equal(float32ToFp16(fp16ToFloat32(bits)), bits);
    }
    const values = Float32Array.from([0.1, -2.5, 1000]);
    assert.deepEqual([...fromFp16Array(toFp16Array(values))], [0.0999755859375, -2.5, 1000]);
  });

  it('converts bf16 with round to nearest even and keeps NaN a NaN', () => {
    assert.equal(float32ToBf16(1), 0x3f80);
    assert.equal(bf16ToFloat32(0x3f80), 1);
    assert.equal(float32ToBf16(1 + 2 ** -8), 0x3f80); // halfway, even
    assert.equal(float32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(float32ToBf16(-Infinity), 0xff80);
    assert.ok(Number.isNaN(bf16ToFloat32(float32ToBf16(NaN))));
    assert.equal(float32ToBf16(3.4e38), 0x7f80); // overflows to Infinity when rounded
  });
});
