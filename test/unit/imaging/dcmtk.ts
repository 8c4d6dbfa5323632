/** Runs dcmtk (an independent DICOM implementation) to produce reference values for the imaging tests. */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/temp-dir.ts';

/** A PGM (P5) or PPM (P6) image as dcm2pnm writes it. */
export interface Pnm {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

/**
 * dcm2pnm's 8-bit rendering of a DICOM file (bytes or path) with extra options such as ['+Ww', '40', '400'].
 * With `jpeg`, the file is first decompressed by dcmdjpeg (Debian's dcm2pnm does not decode JPEG itself).
 */
export function dcm2pnm(input: Uint8Array | string, options: string[] = [], jpeg = false): Pnm {
  const dir = tempDir('medseg-dcmtk-');
  try {
    const path = typeof input === 'string' ? input : join(dir, 'in.dcm');
    if (typeof input !== 'string') writeFileSync(path, input);
    const out = join(dir, 'out.pnm');
    let source = path;
    if (jpeg) {
      source = join(dir, 'plain.dcm');
      run('dcmdjpeg', [path, source]);
    }
    run('dcm2pnm', ['+op', ...options, source, out]);
    const buf = readFileSync(out);
    // Header: magic, width, height, maxval, each separated by whitespace, then one whitespace byte.
    let pos = 0;
    const fields: string[] = [];
    while (fields.length < 4) {
      while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
      let s = '';
      while (!/\s/.test(String.fromCharCode(buf[pos]))) s += String.fromCharCode(buf[pos++]);
      fields.push(s);
    }
    pos++;
    const channels = fields[0] === 'P6' ? 3 : 1;
    return {
      width: Number(fields[1]),
      height: Number(fields[2]),
      channels,
      data: new Uint8Array(buf.subarray(pos)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The raw Pixel Data bytes of a file as `dcmdump +W` extracts them (native transfer syntaxes). */
export function dcmdumpPixelBytes(path: string): Uint8Array {
  const dir = tempDir('medseg-dcmtk-');
  try {
    run('dcmdump', ['+W', dir, path]);
    const raw = readdirSync(dir).find((f) => f.endsWith('.raw'));
    if (raw === undefined) throw new Error(`dcmdump +W wrote no .raw file for ${path}`);
    return new Uint8Array(readFileSync(join(dir, raw)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** dciodvfy's output lines for a file (bytes), split into errors and warnings. */
export function dciodvfy(bytes: Uint8Array): { errors: string[]; warnings: string[] } {
  const dir = tempDir('medseg-dcmtk-');
  try {
    const path = join(dir, 'obj.dcm');
    writeFileSync(path, bytes);
    const r = spawnSync('dciodvfy', [path], { encoding: 'utf8' });
    const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
    return {
      errors: lines.filter((l) => /^Error/.test(l)),
      warnings: lines.filter((l) => /^Warning/.test(l)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Re-encodes a DICOM file with dcmconv, e.g. `+tb` (Explicit VR Big Endian) or `+td` (Deflated). */
export function dcmconv(bytes: Uint8Array, option: string): Uint8Array {
  const dir = tempDir('medseg-dcmtk-');
  try {
    const input = join(dir, 'in.dcm');
    const output = join(dir, 'out.dcm');
    writeFileSync(input, bytes);
    run('dcmconv', [option, input, output]);
    return new Uint8Array(readFileSync(output));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
