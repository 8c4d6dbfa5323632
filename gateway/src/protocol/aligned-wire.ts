/**
 * Serializers for ModelInferRequest / ModelInferResponse that place every raw tensor (raw_input_contents,
 * raw_output_contents) at an 8-byte-aligned offset of the received gRPC message, so the receiver can view
 * the bytes as a Float32Array / BigInt64Array in place instead of copying megabytes to realign them.
 *
 * How: grpc-js hands the deserializer a view at offset 5 of a freshly allocated buffer (the 5-byte gRPC
 * frame header comes first). Before each raw entry we insert, when needed, a length-delimited field with
 * number 15, unused by both messages; protobuf parsers (protobufjs, Triton's C++) skip unknown fields, so
 * the message stays valid for any KServe v2 peer. Alignment is only an optimization: a receiver that gets
 * unaligned bytes copies them, as before.
 * Spec: https://protobuf.dev/programming-guides/encoding/ (unknown fields, length-delimited records)
 */

/** Field number of the padding record (unused in ModelInferRequest and ModelInferResponse). */
export const PADDING_FIELD = 15;
const PADDING_TAG = (PADDING_FIELD << 3) | 2;
/** gRPC's frame header (compression flag + 4-byte length) precedes the message in the receive buffer. */
const FRAME_HEADER_BYTES = 5;
const ALIGN = 8;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len += 1;
  }
  return len;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
    at += 1;
  }
  out[at] = n;
  return at + 1;
}

/** Padding bytes (0 or 2..9) to put before a record whose payload would start at `payloadAt`. */
function paddingFor(payloadAt: number): number {
  const misalign = (ALIGN - ((FRAME_HEADER_BYTES + payloadAt) % ALIGN)) % ALIGN;
  if (misalign === 0) return 0;
  // A padding record is at least 2 bytes (tag + zero length): one byte short wraps to 9.
  return misalign >= 2 ? misalign : misalign + ALIGN;
}

/**
 * Wraps a message serializer: `head` is the message without its raw field (serialized by `base`), then
 * every raw entry is appended as field `fieldNumber` with its payload aligned.
 */
export function alignedSerializer<T extends Record<string, unknown>>(
  base: (value: T) => Buffer,
  rawField: string,
  fieldNumber: number,
): (value: T) => Buffer {
  const tag = (fieldNumber << 3) | 2;
  return (value: T) => {
    const raw = (value[rawField] as Uint8Array[] | undefined) ?? [];
    if (raw.length === 0) return base(value);
    const head = base({ ...value, [rawField]: [] });
    const plan: Array<{ pad: number; bytes: Uint8Array }> = [];
    let at = head.length;
    for (const bytes of raw) {
      const prefix = 1 + varintLength(bytes.length);
      const pad = paddingFor(at + prefix);
      plan.push({ pad, bytes });
      at += pad + prefix + bytes.length;
    }
    const out = Buffer.allocUnsafe(at);
    head.copy(out, 0);
    let w = head.length;
    for (const { pad, bytes } of plan) {
      if (pad > 0) {
        out[w] = PADDING_TAG;
        out[w + 1] = pad - 2;
        out.fill(0, w + 2, w + pad);
        w += pad;
      }
      out[w] = tag;
      w = writeVarint(out, w + 1, bytes.length);
      out.set(bytes, w);
      w += bytes.length;
    }
    return out;
  };
}
