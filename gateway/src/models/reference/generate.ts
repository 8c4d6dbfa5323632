/**
 * Generates the project's reference SAM model repository (Triton layout: `<model>/config.pbtxt`,
 * `<model>/1/model.onnx`). Generation is deterministic: the same bytes on every run and machine, so the
 * committed files can be checked for drift.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  decoderConfig,
  encoderConfig,
  ensembleConfig,
  hwcEncoderConfig,
  REFERENCE_MODELS,
} from './configs.ts';
import { buildReferenceDecoder } from './decoder.ts';
import { buildReferenceEncoder } from './encoder.ts';
import { buildReferenceHwcEncoder } from './hwc-encoder.ts';

/** One generated file: its path relative to the repository root (POSIX separators) and its bytes. */
export interface RepositoryFile {
  path: string;
  bytes: Uint8Array;
}

/** Every file of the reference repository, in a fixed order (pure: builds in memory). */
export function referenceRepositoryFiles(): RepositoryFile[] {
  const text = (s: string) => new TextEncoder().encode(s);
  const m = REFERENCE_MODELS;
  return [
    { path: `${m.encoder}/config.pbtxt`, bytes: text(encoderConfig()) },
    { path: `${m.encoder}/1/model.onnx`, bytes: buildReferenceEncoder() },
    { path: `${m.decoder}/config.pbtxt`, bytes: text(decoderConfig()) },
    { path: `${m.decoder}/1/model.onnx`, bytes: buildReferenceDecoder() },
    { path: `${m.hwcEncoder}/config.pbtxt`, bytes: text(hwcEncoderConfig()) },
    { path: `${m.hwcEncoder}/1/model.onnx`, bytes: buildReferenceHwcEncoder() },
    { path: `${m.ensemble}/config.pbtxt`, bytes: text(ensembleConfig()) },
    // Triton wants a version folder even for an ensemble; git keeps no empty folders.
    { path: `${m.ensemble}/1/.keep`, bytes: new Uint8Array(0) },
  ];
}

/** Options of {@link generateReferenceRepository}. */
export interface GenerateOptions {
  /** Write nothing when every file already exists (whatever its content). */
  ifMissing?: boolean;
  /** Write nothing; only compare what is on disk with what generation would write. */
  check?: boolean;
}

/** What a generation did (or, with `check`, would do), by relative path. */
export interface GenerateReport {
  /** Files written (always empty with `check`). */
  written: string[];
  /** Files already identical on disk. */
  unchanged: string[];
  /** With `check`: files on disk that differ from what generation writes. */
  differing: string[];
  /** With `check`: files absent on disk. */
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * Writes the reference SAM repository into `dir` (created when missing), rewriting only files whose bytes
 * differ. With `check`, writes nothing and reports the differences; with `ifMissing`, writes nothing when
 * every file exists.
 */
export async function generateReferenceRepository(
  dir: string,
  options: GenerateOptions = {},
): Promise<GenerateReport> {
  const files = referenceRepositoryFiles();
  const report: GenerateReport = { written: [], unchanged: [], differing: [], missing: [] };
  const onDisk = await Promise.all(files.map((f) => readOrNull(join(dir, f.path))));
  if (options.ifMissing && !options.check && onDisk.every((b) => b !== null)) {
    report.unchanged = files.map((f) => f.path);
    return report;
  }
  for (const [i, file] of files.entries()) {
    const current = onDisk[i];
    if (current !== null && sameBytes(current, file.bytes)) {
      report.unchanged.push(file.path);
      continue;
    }
    if (options.check) {
      (current === null ? report.missing : report.differing).push(file.path);
      continue;
    }
    const target = join(dir, file.path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.bytes);
    report.written.push(file.path);
  }
  return report;
}

/**
 * Makes sure the reference SAM models exist in `dir` (the embedded server's repository): generates them when
 * any file is missing, leaves existing files alone otherwise.
 */
export async function ensureReferenceModels(dir: string): Promise<GenerateReport> {
  return generateReferenceRepository(dir, { ifMissing: true });
}
