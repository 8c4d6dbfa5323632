/**
 * The layering of gateway/src holds because the linter enforces it: each case below is a source text that
 * crosses one layer boundary, linted through ESLint's API with the project's eslint.config.js as if it sat at
 * a real path of the tree, and the lint must fail with the expected rule. A clean twin of each case (the
 * same file importing what its layer allows) must pass, so a failure is the zone's doing. The tree itself
 * is linted by `npm run lint`; this file also checks the one thing import-x/no-cycle leaves out: circles made
 * of `import type` lines.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Crossing {
  /** Where the text pretends to live (relative to the repo root). */
  at: string;
  /** An import this layer must not make, and one it may. */
  bad: string;
  good: string;
}

const crossings: Crossing[] = [
  {
    at: 'gateway/src/models/check-repository.ts',
    bad: "import { CliError } from '../cli/command.ts';",
    good: "import { parseModelConfig } from '../embedded/pbtxt-parser.ts';",
  },
  {
    at: 'gateway/src/config.ts',
    bad: "import { ApiError } from './api/errors.ts';",
    good: "import { loadSecurityConfig } from './security/security-config.ts';",
  },
  {
    at: 'gateway/src/security/roles.ts',
    bad: "import { ApiError } from '../api/errors.ts';",
    good: "import { ConfigError } from '../config-env.ts';",
  },
  {
    at: 'gateway/src/embedded/grpc-server.ts',
    bad: "import { KServeClient } from '../inference/kserve-client.ts';",
    good: "import { inferenceService } from '../protocol/proto.ts';",
  },
  {
    at: 'gateway/src/imaging/windowing.ts',
    bad: "import { ApiError } from '../api/errors.ts';",
    good: "import { encodeRle } from '../core/rle.ts';",
  },
  {
    at: 'gateway/src/sam/session.ts',
    bad: "import { PubSub } from '../api/pubsub.ts';",
    good: "import { KServeClient } from '../inference/kserve-client.ts';",
  },
  {
    at: 'gateway/src/store/rows.ts',
    bad: "import { normalizeConfig } from '../bench/runner.ts';",
    good: "import { STRATEGIES } from '../bench/types.ts';",
  },
  {
    at: 'gateway/src/bench/runner.ts',
    bad: "import { SamSession } from '../sam/session.ts';",
    good: "import { decodeImage } from '../imaging/decode-image.ts';",
  },
  {
    at: 'gateway/src/api/resolvers.ts',
    bad: "import { main } from '../cli/main.ts';",
    good: "import { startBenchmark } from '../bench/runner.ts';",
  },
  {
    at: 'gateway/src/main.ts',
    bad: "import { main } from './cli/main.ts';",
    good: "import { createMedicalServices } from './api/medical/services.ts';",
  },
  {
    at: 'gateway/src/core/mask.ts',
    bad: "import { encodePng } from '../imaging/encode-png.ts';",
    good: "import { encodeRle } from './rle.ts';",
  },
];

/** Lints `text` as the file at `at`; returns the rule ids of the errors. */
async function ruleErrors(eslint: ESLint, text: string, at: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath: path.join(root, at) });
  return result.messages.filter((m) => m.severity === 2).map((m) => m.ruleId ?? m.message);
}

describe('lint-enforced layers', () => {
  const eslint = new ESLint({ cwd: root });

  for (const c of crossings) {
    it(`${c.at}: ${c.bad} fails the lint, ${c.good} passes`, async () => {
      const use = '\nexport const used = [x];\n';
      const bad = await ruleErrors(eslint, c.bad.replace(/\{ (\w+) \}/, '{ $1 as x }') + use, c.at);
      // An upward import may close a circle as well (import-x/no-cycle); the zone must fire either way.
      assert.ok(bad.includes('import-x/no-restricted-paths'), `${c.at}: ${c.bad} gave ${bad.join(', ')}`);
      const good = await ruleErrors(eslint, c.good.replace(/\{ (\w+) \}/, '{ $1 as x }') + use, c.at);
      assert.deepEqual(good, [], `${c.at}: ${c.good}`);
    });
  }

  it('an import circle fails the lint (import-x/no-cycle), and so does an import below code (import-x/first)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'medseg-lint-'));
    try {
      await writeFile(path.join(dir, 'a.ts'), "import { b } from './b.ts';\nexport const a = () => b;\n");
      await writeFile(path.join(dir, 'b.ts'), "import { a } from './a.ts';\nexport const b = () => a;\n");
      await writeFile(
        path.join(dir, 'c.ts'),
        "export const c = 1;\nimport { b } from './b.ts';\nexport const d = b;\n",
      );
      const outside = new ESLint({ cwd: dir, overrideConfigFile: path.join(root, 'eslint.config.js') });
      const results = await outside.lintFiles(['a.ts', 'c.ts']);
      const rules = results.map((r) => r.messages.map((m) => m.ruleId));
      assert.deepEqual(rules, [['import-x/no-cycle'], ['import-x/first']]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gateway/src has no import circle, counting `import type` lines (no-cycle skips those)', async () => {
    const src = path.join(root, 'gateway/src');
    const files = (await readdir(src, { recursive: true }))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => path.join(src, f));
    const known = new Set(files);
    const edges = new Map<string, string[]>();
    for (const f of files) {
      const info = ts.preProcessFile(await readFile(f, 'utf8'), true, true);
      edges.set(
        f,
        info.importedFiles
          .map((i) => i.fileName)
          .filter((s) => s.startsWith('.'))
          .map((s) => path.resolve(path.dirname(f), s))
          .filter((t) => known.has(t)),
      );
    }
    // Depth-first search; a back edge to a file on the current path closes a circle.
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const circles: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      stack.push(f);
      for (const t of edges.get(f)!) {
        if (state.get(t) === 'open') {
          circles.push([...stack.slice(stack.indexOf(t)), t].map((x) => path.relative(src, x)).join(' -> '));
        } else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    assert.deepEqual(circles, []);
    assert.ok(files.length > 100, `read ${files.length} files`);
  });
});
