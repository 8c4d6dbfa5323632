/**
 * Decoders for the compressed DICOM pixel encodings the gateway takes from npm (PS3.5 A.4): JPEG Lossless
 * process 14 (ITU-T T.81 Annex H) through jpeg-lossless-decoder-js, JPEG-LS (ITU-T T.87) through CharLS and
 * JPEG 2000 (ITU-T T.800) through OpenJPEG, both as WebAssembly from @cornerstonejs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readJpegHeader } from './decode-jpeg.ts';
import { checkPixelLimit, ImageError } from './image-error.ts';

const require = createRequire(import.meta.url);

/** One decoded frame: little-endian samples (1 or 2 bytes each), pixel-interleaved. */
export interface CodecFrame {
  width: number;
  height: number;
  components: number;
  /** Bytes per sample in `data`: 1 or 2. */
  bytesPerSample: 1 | 2;
  data: Uint8Array;
}

interface WasmFrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}

// The part of the embind classes of @cornerstonejs/codec-charls and codec-openjpeg the gateway calls.
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): WasmFrameInfo;
  decode(): void;
  delete(): void;
}
interface JpegLsDecoder extends WasmDecoder {
  /** 0: planes one after another, 1: line interleaved, 2: sample interleaved (T.87 C.2.3). */
  getInterleaveMode(): number;
}
interface J2kDecoder extends WasmDecoder {
  readHeader(): void;
}
interface CharLsModule {
  JpegLSDecoder: new () => JpegLsDecoder;
}
interface OpenJpegModule {
  J2KDecoder: new () => J2kDecoder;
}

type EmscriptenFactory = (moduleArg: Record<string, unknown>) => Promise<unknown>;

// The synchronous WebAssembly API (Node has it as a global; the project's lib settings do not declare it).
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

// Emscripten factories are asynchronous only because browsers compile WebAssembly asynchronously. Giving
// them an instantiateWasm hook that compiles the package's own .wasm file synchronously makes the module
// usable as soon as the factory returns, so decodeDicom stays synchronous and nothing is fetched.
function loadWasmModule<T>(factoryPath: string, wasmPath: string, probe: string): T {
  const factory = require(factoryPath) as EmscriptenFactory;
  const bytes = readFileSync(require.resolve(wasmPath));
  const moduleArg: Record<string, unknown> = {
    instantiateWasm(imports: object, receive: (instance: object, module: object) => void): object {
      const module = new wasmApi.Module(bytes);
      const instance = new wasmApi.Instance(module, imports);
      receive(instance, module);
      return instance.exports;
    },
    print: () => {},
    printErr: () => {},
  };
  // The promise settles with the same object; failures are already reported by the probe below.
  factory(moduleArg).catch(() => {});
  if (typeof moduleArg[probe] !== 'function') {
    throw new Error(`${factoryPath} did not initialise synchronously (no ${probe})`);
  }
  return moduleArg as T;
}

// Loaded on first use; dropped after a failed decode since an aborted Emscripten runtime is not reusable.
let charLs: CharLsModule | undefined;
let openJpeg: OpenJpegModule | undefined;

function runWasm<D extends WasmDecoder>(
  codec: string,
  make: () => D,
  drop: () => void,
  frame: Uint8Array,
  maxPixels: number,
  beforeDecode: (decoder: D) => void,
): { frame: CodecFrame; interleave: number } {
  // A codec that cannot load is the gateway's fault, not the image's: that error is not BAD_IMAGE.
  const decoder = make();
  try {
    decoder.getEncodedBuffer(frame.length).set(frame);
    beforeDecode(decoder);
    decoder.decode();
    const info = decoder.getFrameInfo();
    checkPixelLimit(info.width * info.height, maxPixels, `${codec} frame ${info.width}x${info.height}`);
    const bytesPerSample = info.bitsPerSample <= 8 ? 1 : 2;
    const decoded = decoder.getDecodedBuffer();
    const expected = info.width * info.height * info.componentCount * bytesPerSample;
    if (decoded.byteLength < expected) {
      throw new ImageError(
        'BAD_IMAGE',
        `${codec} decoder returned ${decoded.byteLength} bytes, expected ${expected}`,
      );
    }
    const interleave =
      'getInterleaveMode' in decoder ? (decoder as unknown as JpegLsDecoder).getInterleaveMode() : 2;
    return {
      interleave,
      frame: {
        width: info.width,
        height: info.height,
        components: info.componentCount,
        bytesPerSample,
        // Copied out of the WebAssembly heap before the decoder is freed (and as a plain Uint8Array: the
        // decoders hand back Uint8ClampedArray views for 8-bit samples).
        data: new Uint8Array(decoded.buffer, decoded.byteOffset, expected).slice(),
      },
    };
  } catch (err) {
    if (err instanceof ImageError) throw err;
    drop();
    throw new ImageError('BAD_IMAGE', `${codec} data could not be decoded: ${describe(err)}`, { cause: err });
  } finally {
    try {
      decoder.delete();
    } catch {
      drop();
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return `codec error ${String(err)}`;
}

/** Decodes one JPEG-LS frame (lossless or near-lossless, ITU-T T.87) into little-endian interleaved samples. */
export function decodeJpegLsFrame(frame: Uint8Array, maxPixels: number): CodecFrame {
  const { frame: out, interleave } = runWasm(
    'JPEG-LS',
    () => {
      charLs ??= loadWasmModule<CharLsModule>(
        '@cornerstonejs/codec-charls/decodewasmjs',
        '@cornerstonejs/codec-charls/decodewasm',
        'JpegLSDecoder',
      );
      return new charLs.JpegLSDecoder();
    },
    () => (charLs = undefined),
    frame,
    maxPixels,
    () => {},
  );
  // CharLS hands back planes one after another when the scan is not interleaved (mode 0).
  if (interleave === 0 && out.components > 1) out.data = interleavePlanes(out);
  return out;
}

/** Decodes one JPEG 2000 codestream (ITU-T T.800 Part 1, reversible or irreversible) into interleaved samples. */
export function decodeJpeg2000Frame(frame: Uint8Array, maxPixels: number): CodecFrame {
  return runWasm(
    'JPEG 2000',
    () => {
      openJpeg ??= loadWasmModule<OpenJpegModule>(
        '@cornerstonejs/codec-openjpeg/decodewasmjs',
        '@cornerstonejs/codec-openjpeg/decodewasm',
        'J2KDecoder',
      );
      return new openJpeg.J2KDecoder();
    },
    () => (openJpeg = undefined),
    frame,
    maxPixels,
    (decoder) => {
      // The size comes from the SIZ marker; refuse oversized images before allocating their samples.
      decoder.readHeader();
      const info = decoder.getFrameInfo();
      checkPixelLimit(info.width * info.height, maxPixels, `JPEG 2000 frame ${info.width}x${info.height}`);
    },
  ).frame;
}

interface LosslessDecoder {
  decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
}
const jpegLossless = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };

/** Decodes one JPEG Lossless (process 14, any selection value; ITU-T T.81 Annex H) frame. */
export function decodeJpegLosslessFrame(frame: Uint8Array, maxPixels: number): CodecFrame {
  const header = readJpegHeader(frame);
  if (header.sof !== 0xc3) {
    throw new ImageError(
      'BAD_IMAGE',
      `JPEG Lossless frame has SOF marker 0xFF${header.sof.toString(16).toUpperCase()}, expected 0xFFC3 (lossless, Huffman)`,
    );
  }
  checkPixelLimit(
    header.width * header.height,
    maxPixels,
    `JPEG Lossless frame ${header.width}x${header.height}`,
  );
  const bytesPerSample = header.precision <= 8 ? 1 : 2;
  let decoded: Uint8Array | Uint16Array;
  try {
    decoded = new jpegLossless.Decoder().decode(
      frame.buffer as ArrayBuffer,
      frame.byteOffset,
      frame.length,
      bytesPerSample,
    );
  } catch (err) {
    throw new ImageError('BAD_IMAGE', `JPEG Lossless data could not be decoded: ${describe(err)}`, {
      cause: err,
    });
  }
  const expected = header.width * header.height * header.components * bytesPerSample;
  // The decoder writes samples in the host's byte order, which is little-endian on every supported platform.
  const data = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
  if (data.length < expected) {
    throw new ImageError(
      'BAD_IMAGE',
      `JPEG Lossless decoder returned ${data.length} bytes, expected ${expected}`,
    );
  }
  return {
    width: header.width,
    height: header.height,
    components: header.components,
    bytesPerSample,
    data: data.subarray(0, expected),
  };
}

function interleavePlanes(f: CodecFrame): Uint8Array {
  const pixels = f.width * f.height;
  const out = new Uint8Array(f.data.length);
  const b = f.bytesPerSample;
  for (let c = 0; c < f.components; c++) {
    for (let i = 0; i < pixels; i++) {
      for (let k = 0; k < b; k++) out[(i * f.components + c) * b + k] = f.data[(c * pixels + i) * b + k];
    }
  }
  return out;
}
