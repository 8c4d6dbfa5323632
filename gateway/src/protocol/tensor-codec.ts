/**
 * Tensor <-> bytes for the KServe v2 binary representation: flat, row-major, little-endian elements in
 * `raw_input_contents` / `raw_output_contents`; BYTES elements are each a 4-byte little-endian length followed
 * by the bytes. Also reads the typed `contents` field some servers answer with, and converts FP16 / BF16 bit
 * patterns to and from float32.
 * Spec: https://github.com/kserve/kserve/blob/master/docs/predict-api/v2/required_api.md#tensor-data
 */
import type { WireContents } from './proto.ts';
import { DATATYPES, type Datatype, type TensorData } from './types.ts';

/** A tensor whose bytes, shape or datatype do not fit together; names the tensor, the expectation and what came. */
export class TensorCodecError extends Error {
  constructor(
    readonly tensor: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(`tensor '${tensor}': expected ${expected}, got ${got}`);
    this.name = 'TensorCodecError';
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes per element of a fixed-size datatype; undefined for BYTES (variable size). */
export function elementSize(datatype: Datatype): number | undefined {
  switch (datatype) {
    case 'BOOL':
    case 'UINT8':
    case 'INT8':
      return 1;
    case 'UINT16':
    case 'INT16':
    case 'FP16':
    case 'BF16':
      return 2;
    case 'UINT32':
    case 'INT32':
    case 'FP32':
      return 4;
    case 'UINT64':
    case 'INT64':
    case 'FP64':
      return 8;
    case 'BYTES':
      return undefined;
    default:
      return assertNever(datatype);
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected datatype ${String(value)}`);
}

/** True when `value` is one of the KServe v2 datatype strings. */
export function isDatatype(value: string): value is Datatype {
  return (DATATYPES as readonly string[]).includes(value);
}

/** Number of elements of a shape (1 for a scalar `[]`); throws on a negative or fractional dimension. */
export function elementCount(shape: readonly number[], tensor = '?'): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new TensorCodecError(tensor, 'non-negative integer dimensions', `shape [${shape.join(',')}]`);
    }
    n *= d;
  }
  return n;
}

type TypedCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor;

/** The typed-array class that stores a fixed-size datatype (see TensorData in types.ts). */
export function typedArrayClass(datatype: Exclude<Datatype, 'BYTES'>): TypedCtor {
  switch (datatype) {
    case 'BOOL':
    case 'UINT8':
      return Uint8Array;
    case 'INT8':
      return Int8Array;
    case 'UINT16':
    case 'FP16':
    case 'BF16':
      return Uint16Array;
    case 'INT16':
      return Int16Array;
    case 'UINT32':
      return Uint32Array;
    case 'INT32':
      return Int32Array;
    case 'FP32':
      return Float32Array;
    case 'UINT64':
      return BigUint64Array;
    case 'INT64':
      return BigInt64Array;
    case 'FP64':
      return Float64Array;
    default:
      return assertNever(datatype);
  }
}

/** A zero-filled TensorData of `length` elements for `datatype` (BYTES: empty byte strings). */
export function allocateTensorData(datatype: Datatype, length: number): TensorData {
  if (datatype === 'BYTES') return Array.from({ length }, () => new Uint8Array(0));
  return new (typedArrayClass(datatype))(length);
}

function describeData(data: TensorData): string {
  return Array.isArray(data)
    ? `an array of ${data.length} byte strings`
    : `${data.constructor.name}(${data.length})`;
}

/**
 * Checks that `data` is the storage class of `datatype` with exactly `elementCount(shape)` elements.
 * @throws TensorCodecError naming the tensor, what was expected and what arrived
 */
export function checkTensorData(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  data: TensorData,
): void {
  if (!isDatatype(datatype))
    throw new TensorCodecError(name, `one of ${DATATYPES.join(' ')}`, `datatype '${datatype}'`);
  const count = elementCount(shape, name);
  if (datatype === 'BYTES') {
    if (!Array.isArray(data))
      throw new TensorCodecError(name, 'BYTES data as an array of Uint8Array', describeData(data));
  } else {
    const cls = typedArrayClass(datatype);
    if (Array.isArray(data) || data.constructor !== cls) {
      throw new TensorCodecError(name, `${datatype} data as ${cls.name}`, describeData(data));
    }
  }
  if (data.length !== count) {
    throw new TensorCodecError(name, `${count} elements for shape [${shape.join(',')}]`, `${data.length}`);
  }
}

function byteView(data: ArrayBufferView): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function swapBytes(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) {
    for (let k = 0; k < size; k += 1) out[i + k] = bytes[i + size - 1 - k];
  }
  return out;
}

/**
 * Raw little-endian bytes of a tensor's data. Fixed-size types return a Buffer view over the typed array's
 * memory (no copy on little-endian hosts); BYTES elements are length-prefixed into one new buffer.
 */
export function encodeTensorData(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  data: TensorData,
): Buffer {
  checkTensorData(name, datatype, shape, data);
  if (Array.isArray(data)) {
    let total = 0;
    for (const el of data) total += 4 + el.length;
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (const el of data) {
      out.writeUInt32LE(el.length, at);
      out.set(el, at + 4);
      at += 4 + el.length;
    }
    return out;
  }
  const size = data.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN_HOST || size === 1) return byteView(data);
  return Buffer.from(swapBytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), size));
}

/**
 * Decodes raw bytes into TensorData. Fixed-size types become a typed-array view over `bytes` when its offset
 * is aligned (otherwise one copy); BYTES elements become views into `bytes`.
 * @throws TensorCodecError when the byte length does not match the shape and datatype
 */
export function decodeTensorData(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  bytes: Uint8Array,
): TensorData {
  if (!isDatatype(datatype))
    throw new TensorCodecError(name, `one of ${DATATYPES.join(' ')}`, `datatype '${datatype}'`);
  const count = elementCount(shape, name);
  if (datatype === 'BYTES') return decodeBytesElements(name, count, bytes);
  const size = elementSize(datatype) as number;
  if (bytes.byteLength !== count * size) {
    throw new TensorCodecError(
      name,
      `${count * size} bytes (${count} ${datatype} elements for shape [${shape.join(',')}])`,
      `${bytes.byteLength} bytes`,
    );
  }
  const cls = typedArrayClass(datatype);
  if (!LITTLE_ENDIAN_HOST && size > 1) {
    const swapped = swapBytes(bytes, size);
    return new cls(swapped.buffer as ArrayBuffer, 0, count);
  }
  if (bytes.byteOffset % size === 0) return new cls(bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
  const copy = new Uint8Array(bytes);
  return new cls(copy.buffer, 0, count);
}

function decodeBytesElements(name: string, count: number, bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.byteLength) {
    if (at + 4 > bytes.byteLength) {
      throw new TensorCodecError(
        name,
        'a 4-byte length prefix per BYTES element',
        `${bytes.byteLength - at} trailing bytes`,
      );
    }
    const len = view.getUint32(at, true);
    if (at + 4 + len > bytes.byteLength) {
      throw new TensorCodecError(
        name,
        `BYTES element ${out.length} of ${len} bytes`,
        `${bytes.byteLength - at - 4} bytes left`,
      );
    }
    out.push(bytes.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (out.length !== count) throw new TensorCodecError(name, `${count} BYTES elements`, `${out.length}`);
  return out;
}

/**
 * Decodes the typed `contents` field (InferTensorContents) into TensorData. FP16 and BF16 have no typed
 * representation in the protocol and must travel as raw bytes.
 * @throws TensorCodecError when the element count does not match the shape or the datatype has no typed field
 */
export function decodeTensorContents(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  contents: WireContents,
): TensorData {
  if (!isDatatype(datatype))
    throw new TensorCodecError(name, `one of ${DATATYPES.join(' ')}`, `datatype '${datatype}'`);
  const count = elementCount(shape, name);
  const pick = <T>(field: keyof WireContents, values: T[] | undefined): T[] => {
    const v = values ?? [];
    if (v.length !== count)
      throw new TensorCodecError(name, `${count} values in contents.${field}`, `${v.length}`);
    return v;
  };
  switch (datatype) {
    case 'BOOL':
      return Uint8Array.from(pick('boolContents', contents.boolContents), (b) => (b ? 1 : 0));
    case 'INT8':
      return Int8Array.from(pick('intContents', contents.intContents));
    case 'INT16':
      return Int16Array.from(pick('intContents', contents.intContents));
    case 'INT32':
      return Int32Array.from(pick('intContents', contents.intContents));
    case 'INT64':
      return BigInt64Array.from(pick('int64Contents', contents.int64Contents), (v) => BigInt(v));
    case 'UINT8':
      return Uint8Array.from(pick('uintContents', contents.uintContents));
    case 'UINT16':
      return Uint16Array.from(pick('uintContents', contents.uintContents));
    case 'UINT32':
      return Uint32Array.from(pick('uintContents', contents.uintContents));
    case 'UINT64':
      return BigUint64Array.from(pick('uint64Contents', contents.uint64Contents), (v) => BigInt(v));
    case 'FP32':
      return Float32Array.from(pick('fp32Contents', contents.fp32Contents));
    case 'FP64':
      return Float64Array.from(pick('fp64Contents', contents.fp64Contents));
    case 'BYTES':
      return pick('bytesContents', contents.bytesContents).map(
        (b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
      );
    case 'FP16':
    case 'BF16':
      throw new TensorCodecError(
        name,
        `${datatype} data in raw contents (no typed field exists)`,
        'typed contents',
      );
    default:
      return assertNever(datatype);
  }
}

/** True when a decoded `contents` message carries any values (servers leave it empty when sending raw). */
export function hasContents(contents: WireContents | null | undefined): contents is WireContents {
  if (!contents) return false;
  return Object.values(contents).some((v) => Array.isArray(v) && v.length > 0);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits -> number (exact). */
export function fp16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** number -> IEEE 754 binary16 bits, via float32, round to nearest even; overflow gives ±Infinity, NaN stays NaN. */
export function float32ToFp16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: the implicit leading 1 becomes explicit and the extra shift is rounded away.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half += 1;
    return sign | half;
  }
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half += 1;
  return sign | half;
}

/** bfloat16 bits -> number (exact). */
export function bf16ToFloat32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/** number -> bfloat16 bits, via float32, round to nearest even; NaN stays a quiet NaN. */
export function float32ToBf16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Float32Array -> FP16 bit patterns (for an FP16 Tensor's Uint16Array). */
export function toFp16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i += 1) out[i] = float32ToFp16(values[i]);
  return out;
}

/** FP16 bit patterns -> Float32Array. */
export function fromFp16Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i += 1) out[i] = fp16ToFloat32(bits[i]);
  return out;
}

/** Float32Array -> BF16 bit patterns. */
export function toBf16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i += 1) out[i] = float32ToBf16(values[i]);
  return out;
}

/** BF16 bit patterns -> Float32Array. */
export function fromBf16Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i += 1) out[i] = bf16ToFloat32(bits[i]);
  return out;
}
