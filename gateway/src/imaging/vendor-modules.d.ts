// Minimal structural types for the untyped packages the imaging layer uses (only what it calls).

declare module 'utif' {
  /** One TIFF image file directory: tags as `t<number>` arrays plus what decodeImage fills in. */
  interface Ifd {
    [tag: string]: unknown;
    width?: number;
    height?: number;
    data?: Uint8Array;
  }
  const UTIF: {
    decode(buffer: ArrayBuffer | Uint8Array, props?: { parseMN?: boolean; debug?: boolean }): Ifd[];
    decodeImage(buffer: ArrayBuffer | Uint8Array, ifd: Ifd, ifds?: Ifd[]): void;
  };
  export default UTIF;
}

declare module 'dcmjs' {
  /** A naturalized DICOM dataset: keywords to values (sequences as arrays of datasets). */
  type NaturalDataset = Record<string, unknown>;
  interface DicomDictInstance {
    meta: Record<string, unknown>;
    dict: Record<string, unknown>;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }
  const dcmjs: {
    data: {
      DicomDict: new (meta: Record<string, unknown>) => DicomDictInstance;
      DicomMessage: {
        readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): DicomDictInstance;
      };
      DicomMetaDictionary: {
        naturalizeDataset(dict: Record<string, unknown>): NaturalDataset;
        denaturalizeDataset(dataset: NaturalDataset): Record<string, unknown>;
      };
    };
    log: { setLevel?(level: string | number): void; level?: unknown; disableAll?(): void };
  };
  export default dcmjs;
}

declare module 'omggif' {
  /** One frame of a GIF: its rectangle on the logical screen, palette offset and flags. */
  interface GifFrameInfo {
    x: number;
    y: number;
    width: number;
    height: number;
    has_local_palette: boolean;
    palette_offset: number | null;
    palette_size: number | null;
    data_offset: number;
    data_length: number;
    transparent_index: number | null;
    interlaced: boolean;
    delay: number;
    disposal: number;
  }
  /** Parses the GIF's blocks on construction; throws Error on a malformed header or block. */
  export class GifReader {
    constructor(buf: Uint8Array);
    width: number;
    height: number;
    numFrames(): number;
    frameInfo(frame: number): GifFrameInfo;
    decodeAndBlitFrameRGBA(frame: number, pixels: Uint8Array | Uint8ClampedArray): void;
  }
  /** Writes a GIF into `buf`; `end()` returns the byte length written. */
  export class GifWriter {
    constructor(
      buf: Uint8Array,
      width: number,
      height: number,
      options?: { palette?: number[]; loop?: number; background?: number },
    );
    addFrame(
      x: number,
      y: number,
      width: number,
      height: number,
      indexed: Uint8Array | number[],
      options?: { palette?: number[]; delay?: number; transparent?: number; disposal?: number },
    ): number;
    end(): number;
  }
}
