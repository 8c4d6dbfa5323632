/**
 * Reading a file only when it lies under given root folders, checked on the file actually opened: the file is
 * opened first, and its real path (from the open descriptor on Linux, else by comparing device and inode
 * with the resolved path) must lie under a root's real path. A symlink that leads out of the roots is
 * refused, and a file swapped between the check and the read cannot slip through, because the read uses the
 * same descriptor the check looked at.
 */
import { constants } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';

/** Why a confined read was refused: `PATH_NOT_ALLOWED` (outside the roots, not a file) or `FILE_TOO_LARGE`. */
export class ConfinedFileError extends Error {
  constructor(
    readonly code: 'PATH_NOT_ALLOWED' | 'FILE_TOO_LARGE',
    message: string,
  ) {
    super(message);
    this.name = 'ConfinedFileError';
  }
}

/** True when `real` is `root` itself or lies below it (both real paths). */
export function isUnder(real: string, root: string): boolean {
  const rel = relative(root, real);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..'));
}

/** The real path of an open file: /proc's link to the descriptor, or the resolved path when it is the same file. */
async function openedPath(
  handle: FileHandle,
  file: string,
  info: { dev: number; ino: number },
): Promise<string> {
  try {
    return await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    const real = await realpath(file);
    const now = await stat(real);
    if (now.dev !== info.dev || now.ino !== info.ino)
      throw new ConfinedFileError('PATH_NOT_ALLOWED', 'the file changed while it was being opened');
    return real;
  }
}

/**
 * Reads `file` (absolute) when it is a regular file under one of `roots` and at most `maxBytes` long.
 * `name` is how messages refer to the file: never the absolute server path, which callers must not see.
 */
export async function readFileUnder(
  file: string,
  roots: readonly string[],
  options: { maxBytes?: number; name?: string } = {},
): Promise<Uint8Array> {
  const name = options.name ?? 'the file';
  const realRoots: string[] = [];
  for (const root of roots) {
    try {
      realRoots.push(await realpath(root));
    } catch {
      // A root that does not exist confines nothing.
    }
  }
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted under the root must not hang the read; it is refused below as not a file.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err: unknown) {
    const code = (err as { code?: string }).code;
    throw new ConfinedFileError(
      'PATH_NOT_ALLOWED',
      `${name} could not be opened (${code === 'ENOENT' ? 'no such file' : (code ?? 'error')})`,
    );
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new ConfinedFileError('PATH_NOT_ALLOWED', `${name} is not a regular file`);
    const real = await openedPath(handle, file, info);
    if (!realRoots.some((root) => isUnder(real, root)))
      throw new ConfinedFileError(
        'PATH_NOT_ALLOWED',
        `${name} leads outside the allowed folders (a symlink?)`,
      );
    if (options.maxBytes !== undefined && info.size > options.maxBytes)
      throw new ConfinedFileError(
        'FILE_TOO_LARGE',
        `${name} is ${info.size} bytes, limit ${options.maxBytes}`,
      );
    return new Uint8Array(await handle.readFile());
  } finally {
    await handle.close();
  }
}
