/**
 * Tensor files shared with the trainer (trainer/medseg_trainer/tensor_file.py), in the safetensors layout: an
 * 8-byte little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}` (offsets relative
 * to the end of the header), then the raw little-endian data. Writes are atomic (temp file, fsync, rename).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

/** A tensor of a tensor file: FP32, UINT8 or INT32 data with its shape. */
export type FileTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'U8'; shape: number[]; data: Uint8Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array };

/** A tensor file that is truncated, malformed or holds a tensor the gateway does not read. */
export class TensorFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TensorFileError';
  }
}

const BYTES = { F32: 4, U8: 1, I32: 4 } as const;
// A header larger than this is not a file the trainer wrote.
const MAX_HEADER = 16 * 1024 * 1024;

function count(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Writes tensors by name to `path` atomically. */
export function writeTensorFile(path: string, tensors: Record<string, FileTensor>): void {
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    if (t.data.length !== count(t.shape)) {
      throw new TensorFileError(`tensor ${name}: ${t.data.length} values do not fill shape [${t.shape}]`);
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let head = Buffer.from(JSON.stringify(header), 'utf8');
  // Padding to 8 bytes keeps the data aligned, as the layout allows.
  if (head.length % 8 !== 0) head = Buffer.concat([head, Buffer.alloc(8 - (head.length % 8), 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(head.length));
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, head);
    for (const c of chunks) writeSync(fd, c);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Reads every tensor of a file. */
export function readTensorFile(path: string): Record<string, FileTensor> {
  const raw = readFileSync(path);
  if (raw.length < 8) throw new TensorFileError(`${path}: shorter than the 8-byte header length`);
  const n = Number(raw.readBigUInt64LE(0));
  if (n > MAX_HEADER || 8 + n > raw.length) {
    throw new TensorFileError(`${path}: header length ${n} does not fit the file`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8')) as typeof header;
  } catch {
    throw new TensorFileError(`${path}: header is not JSON`);
  }
  const body = raw.subarray(8 + n);
  const out: Record<string, FileTensor> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = info.dtype as keyof typeof BYTES;
    if (!(dtype in BYTES)) throw new TensorFileError(`${path}: tensor ${name} has dtype ${info.dtype}`);
    const [begin, end] = info.data_offsets;
    const shape = info.shape.map(Number);
    if (begin < 0 || end > body.length || end - begin !== count(shape) * BYTES[dtype]) {
      throw new TensorFileError(`${path}: tensor ${name} data offsets do not match its shape`);
    }
    // Copy into a fresh, aligned buffer: the file's bytes may sit at any offset.
    const bytes = new Uint8Array(body.subarray(begin, end));
    if (dtype === 'F32') out[name] = { dtype, shape, data: new Float32Array(bytes.buffer) };
    else if (dtype === 'I32') out[name] = { dtype, shape, data: new Int32Array(bytes.buffer) };
    else out[name] = { dtype, shape, data: bytes };
  }
  return out;
}
