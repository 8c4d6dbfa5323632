import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApiError } from '../../../gateway/src/api/errors.ts';
import { decodeBase64 } from '../../../gateway/src/api/base64.ts';
import { confinePath } from '../../../gateway/src/api/image-input.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const code = (c: string) => (e: unknown) => e instanceof ApiError && e.code === c;

test('path inputs stay inside the data roots, symlinks and .. included', async () => {
  const dir = tempDir('medseg-roots-');
  const root = join(dir, 'root');
  await mkdir(join(root, 'sub'), { recursive: true });
  await writeFile(join(root, 'sub', 'a.png'), 'x');
  await writeFile(join(dir, 'secret.png'), 'x');
  await symlink(join(dir, 'secret.png'), join(root, 'link.png'));
  assert.equal(await confinePath('sub/a.png', [root]), join(root, 'sub', 'a.png'));
  assert.equal(await confinePath(join(root, 'sub', 'a.png'), [root]), join(root, 'sub', 'a.png'));
  await assert.rejects(confinePath('../secret.png', [root]), code('PATH_NOT_ALLOWED'));
  await assert.rejects(confinePath(join(dir, 'secret.png'), [root]), code('PATH_NOT_ALLOWED'));
  await assert.rejects(confinePath('link.png', [root]), code('PATH_NOT_ALLOWED'));
  await assert.rejects(confinePath('sub/missing.png', [root]), code('PATH_NOT_ALLOWED'));
  await assert.rejects(confinePath('sub/a.png', []), code('PATH_NOT_ALLOWED'));
  await assert.rejects(confinePath('sub/a.png\0.png', [root]), code('PATH_NOT_ALLOWED'));
});

test('base64 is decoded strictly and bounded', () => {
  assert.deepEqual(Array.from(decodeBase64('AQID', 10)), [1, 2, 3]);
  assert.throws(() => decodeBase64('not base64!', 10), code('BAD_IMAGE'));
  assert.throws(() => decodeBase64('', 10), code('BAD_IMAGE'));
  assert.throws(() => decodeBase64('A'.repeat(400), 10), code('IMAGE_TOO_LARGE'));
});
