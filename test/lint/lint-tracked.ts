/**
 * `npm run lint`: eslint and `prettier --check` over the files git tracks (`git add` a new file to lint it), so
 * outputs a user writes into the clone (a report, results.json) never fail the suite.
 * Outside a git checkout it falls back to the whole folder under the tools' own ignore files.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The files git tracks that exist on disk (a deletion not yet committed is skipped); null without git. */
function sourceFiles(): string[] | null {
  const git = spawnSync('git', ['ls-files', '-z', '--cached'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (git.status !== 0) return null;
  return [...new Set(git.stdout.split('\0').filter((f) => f.length > 0 && existsSync(`${root}/${f}`)))];
}

function run(tool: string, args: string[]): number {
  const r = spawnSync(process.execPath, [`${root}/node_modules/${tool}`, ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  return r.status ?? 1;
}

const ESLINT = 'eslint/bin/eslint.js';
const PRETTIER = 'prettier/bin/prettier.cjs';
const files = sourceFiles();
let status: number;
if (files === null) {
  status = run(ESLINT, ['.']) || run(PRETTIER, ['--check', '.']);
} else {
  const code = files.filter((f) => /\.(?:[cm]?[jt]s)$/.test(f));
  status =
    run(ESLINT, ['--no-warn-ignored', ...code]) || run(PRETTIER, ['--check', '--ignore-unknown', ...files]);
}
process.exit(status);
