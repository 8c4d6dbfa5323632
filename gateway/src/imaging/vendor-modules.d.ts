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
