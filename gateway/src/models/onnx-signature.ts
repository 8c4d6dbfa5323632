/**
 * Reads the signature of an ONNX model (graph inputs and outputs with Triton data types and dims, opset,
 * initializer names, external-data files) straight from the protobuf wire format, without loading weights.
 * Spec: ONNX IR https://onnx.ai/onnx/repo-docs/IR.html, onnx.proto (ModelProto.graph = 7, GraphProto
 * initializer = 5, input = 11, output = 12; TensorProto name = 8, external_data = 13); protobuf encoding
 * https://protobuf.dev/programming-guides/encoding/.
 */
import { open } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import type { ConfigDataType } from '../protocol/model-config.ts';

const { onnx } = onnxProto;

/** A graph input or output as the ONNX file declares it: dims -1 where symbolic or unknown. */
export interface OnnxTensorInfo {
  name: string;
  /** Triton data type the ONNX element type maps to (`TYPE_INVALID` when unmapped). */
  dataType: ConfigDataType;
  /** undefined when the file declares no shape at all. */
  dims: number[] | undefined;
}

/** The parts of an ONNX model the checker compares against a config. */
export interface OnnxSignature {
  irVersion: number;
  /** Default-domain opset, 0 when absent. */
  opset: number;
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  /** Names of initializers (IR < 4 lists them among the inputs too: they are not real inputs). */
  initializerNames: string[];
  /** Files named by initializers stored outside the model file (ONNX external data), relative to it. */
  externalDataFiles: string[];
}

/** An ONNX file that could not be read as a ModelProto; says where reading stopped. */
export class OnnxReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxReadError';
  }
}

/** ONNX TensorProto.DataType → Triton config type. */
const ONNX_TO_CONFIG: Record<number, ConfigDataType> = {
  1: 'TYPE_FP32',
  2: 'TYPE_UINT8',
  3: 'TYPE_INT8',
  4: 'TYPE_UINT16',
  5: 'TYPE_INT16',
  6: 'TYPE_INT32',
  7: 'TYPE_INT64',
  8: 'TYPE_STRING',
  9: 'TYPE_BOOL',
  10: 'TYPE_FP16',
  11: 'TYPE_FP64',
  12: 'TYPE_UINT32',
  13: 'TYPE_UINT64',
  16: 'TYPE_BF16',
};

// The reader walks the protobuf wire format on disk and decodes only the small messages it
// needs (graph inputs/outputs, initializer headers). Serialized ModelProtos put the graph's nodes and
// initializers (the weights, up to 2 GB) before its inputs and outputs, so those are skipped by seeking,
// never read: checking a ViT-H encoder reads a few megabytes, not gigabytes.

const CHUNK = 1 << 16;

class FileWindow {
  private buf = new Uint8Array(0);
  private start = 0;

  constructor(
    private readonly handle: Awaited<ReturnType<typeof open>>,
    readonly size: number,
    private readonly file: string,
  ) {}

  /** Returns `n` bytes at `pos` (fewer only at end of file). */
  async bytes(pos: number, n: number): Promise<Uint8Array> {
    if (pos >= this.start && pos + n <= this.start + this.buf.length) {
      return this.buf.subarray(pos - this.start, pos - this.start + n);
    }
    const len = Math.min(Math.max(n, CHUNK), this.size - pos);
    const buf = new Uint8Array(Math.max(len, 0));
    let done = 0;
    while (done < len) {
      const { bytesRead } = await this.handle.read(buf, done, len - done, pos + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    this.buf = buf.subarray(0, done);
    this.start = pos;
    if (done < Math.min(n, this.size - pos)) {
      throw new OnnxReadError(`${this.file}: short read at byte ${pos}`);
    }
    return this.buf.subarray(0, Math.min(n, done));
  }

  /** Reads a base-128 varint at `pos`; numbers above 2^53 lose precision (never lengths of real files). */
  async varint(pos: number): Promise<{ value: number; next: number }> {
    const b = await this.bytes(pos, Math.min(10, this.size - pos));
    let value = 0;
    let scale = 1;
    for (let i = 0; i < b.length; i += 1) {
      value += (b[i] & 0x7f) * scale;
      if ((b[i] & 0x80) === 0) return { value, next: pos + i + 1 };
      scale *= 128;
    }
    throw new OnnxReadError(`${this.file}: truncated or overlong varint at byte ${pos}`);
  }
}

interface WireField {
  field: number;
  wireType: number;
  /** Varint value (wire type 0) or payload length (wire type 2). */
  value: number;
  /** Payload start for wire type 2. */
  start: number;
  /** Position after the field. */
  end: number;
}

async function* fields(win: FileWindow, from: number, to: number, file: string): AsyncGenerator<WireField> {
  let pos = from;
  while (pos < to) {
    const tag = await win.varint(pos);
    const field = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    let f: WireField;
    switch (wireType) {
      case 0: {
        const v = await win.varint(tag.next);
        f = { field, wireType, value: v.value, start: tag.next, end: v.next };
        break;
      }
      case 1:
        f = { field, wireType, value: 0, start: tag.next, end: tag.next + 8 };
        break;
      case 2: {
        const len = await win.varint(tag.next);
        f = { field, wireType, value: len.value, start: len.next, end: len.next + len.value };
        break;
      }
      case 5:
        f = { field, wireType, value: 0, start: tag.next, end: tag.next + 4 };
        break;
      default:
        throw new OnnxReadError(`${file}: unsupported protobuf wire type ${wireType} at byte ${pos}`);
    }
    if (f.end > to || field === 0) {
      throw new OnnxReadError(
        `${file}: field ${field} at byte ${pos} runs past its message (file truncated?)`,
      );
    }
    yield f;
    pos = f.end;
  }
}

function dimNumber(d: { dimValue?: unknown; dimParam?: string | null }): number {
  const v = d.dimValue;
  if (v === undefined || v === null) return -1;
  const n = typeof v === 'number' ? v : Number(String(v));
  // A dim_param (symbolic) or an unset dim is variable; dim_value 0 written by some exporters also means
  // "unknown" in practice, but Triton treats it as a fixed 0, so keep it.
  return d.dimParam ? -1 : n;
}

function tensorInfo(bytes: Uint8Array): OnnxTensorInfo {
  const vi = onnx.ValueInfoProto.decode(bytes);
  const tt = vi.type?.tensorType;
  const dims = tt?.shape ? (tt.shape.dim ?? []).map((d) => dimNumber(d)) : undefined;
  return { name: vi.name, dataType: ONNX_TO_CONFIG[tt?.elemType ?? 0] ?? 'TYPE_INVALID', dims };
}

const TEXT = new TextDecoder();

/**
 * Reads an ONNX file's graph inputs, outputs, opset and external-data references without loading its
 * weights. Throws {@link OnnxReadError} when the file is not a readable ModelProto.
 */
export async function readOnnxSignature(file: string): Promise<OnnxSignature> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const win = new FileWindow(handle, size, file);
    const sig: OnnxSignature = {
      irVersion: 0,
      opset: 0,
      inputs: [],
      outputs: [],
      initializerNames: [],
      externalDataFiles: [],
    };
    let graph: WireField | undefined;
    for await (const f of fields(win, 0, size, file)) {
      if (f.field === 1 && f.wireType === 0) sig.irVersion = f.value;
      else if (f.field === 8 && f.wireType === 2) {
        const op = onnx.OperatorSetIdProto.decode(await win.bytes(f.start, f.value));
        if (!op.domain || op.domain === 'ai.onnx') sig.opset = Number(String(op.version));
      } else if (f.field === 7 && f.wireType === 2) graph = f;
    }
    if (!graph) throw new OnnxReadError(`${file}: no graph (not an ONNX ModelProto?)`);
    const external = new Set<string>();
    for await (const f of fields(win, graph.start, graph.end, file)) {
      if (f.wireType !== 2) continue;
      if (f.field === 11) sig.inputs.push(tensorInfo(await win.bytes(f.start, f.value)));
      else if (f.field === 12) sig.outputs.push(tensorInfo(await win.bytes(f.start, f.value)));
      else if (f.field === 5) {
        // TensorProto header only: name (8), external_data (13) entries; raw_data (9) is skipped.
        for await (const t of fields(win, f.start, f.end, file)) {
          if (t.wireType !== 2) continue;
          if (t.field === 8) sig.initializerNames.push(TEXT.decode(await win.bytes(t.start, t.value)));
          else if (t.field === 13) {
            const entry = onnx.StringStringEntryProto.decode(await win.bytes(t.start, t.value));
            if (entry.key === 'location') external.add(entry.value);
          }
        }
      }
    }
    sig.externalDataFiles = [...external].sort();
    return sig;
  } catch (err: unknown) {
    if (err instanceof OnnxReadError) throw err;
    throw new OnnxReadError(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await handle.close();
  }
}
