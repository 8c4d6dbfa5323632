// @ts-check
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** I/O modules that the pure core (gateway/src/core) must never import. */
const ioModules = [
  'node:*',
  'fs',
  'path',
  'net',
  'http',
  'https',
  'child_process',
  'worker_threads',
  '@grpc/*',
  '@apollo/*',
  'onnxruntime-node',
  'better-sqlite3',
];

/*
 * The layers of gateway/src, lowest first. Each may import only the layers listed after it (and itself);
 * the `layers` zones below enforce exactly this table, and import-x/no-cycle forbids import circles inside
 * a layer too. test/lint/layers.test.ts proves a crossing fails the lint.
 *
 *   core        pure logic, no I/O          -
 *   protocol    KServe v2 wire code         -
 *   imaging     image codecs, DICOM, NIfTI  core
 *   inference   the KServe v2 client        protocol
 *   embedded    the embedded KServe server  protocol (never the client's internals)
 *   sam         SAM session and profiles    core, protocol, inference
 *   security    keys, roles, settings       config-env
 *   config      config.ts, config-env.ts    security (never api)
 *   store       state store                 bench/types.ts (the row shapes it stores) only
 *   bench       benchmark engine            core, imaging, store
 *   finetune    fine-tuning jobs            core, sam, store, bench
 *   models      repository tools            core, protocol, embedded, sam (never cli)
 *   api         GraphQL and HTTP            everything above (never cli or main.ts)
 *   main.ts     the composition root        everything above (never cli)
 *   cli         the medseg command          everything
 */
const layers = {
  core: ['core'],
  protocol: ['protocol'],
  imaging: ['imaging', 'core'],
  inference: ['inference', 'protocol'],
  embedded: ['embedded', 'protocol'],
  sam: ['sam', 'core', 'protocol', 'inference'],
  security: ['security', 'config-env.ts'],
  'config.ts': ['config.ts', 'config-env.ts', 'security'],
  'config-env.ts': ['config-env.ts'],
  store: ['store', 'bench/types.ts'],
  bench: ['bench', 'core', 'imaging', 'store'],
  finetune: ['finetune', 'core', 'sam', 'store', 'bench'],
  models: ['models', 'core', 'protocol', 'embedded', 'sam'],
  api: [
    'api',
    'core',
    'protocol',
    'imaging',
    'inference',
    'sam',
    'security',
    'config.ts',
    'config-env.ts',
    'store',
    'bench',
    'finetune',
  ],
  'main.ts': [
    'main.ts',
    'core',
    'protocol',
    'imaging',
    'inference',
    'embedded',
    'sam',
    'security',
    'config.ts',
    'config-env.ts',
    'store',
    'bench',
    'finetune',
    'models',
    'api',
  ],
};

/** One restricted-path zone per layer: from gateway/src, everything but the layer's allowed imports. */
const layerZones = Object.entries(layers).map(([layer, allowed]) => ({
  target: `gateway/src/${layer}`,
  from: 'gateway/src',
  except: allowed.map((a) => `./${a}`),
  message: `layer ${layer} may import only ${allowed.join(', ')} (eslint.config.js lists the layers).`,
}));

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', 'gateway/dist/**', 'web/dist/**', 'test-output/**', '.medseg/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // Dependencies are TypeScript too: no-cycle must parse them, or it sees no edges at all.
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })],
    },
    rules: {
      'import-x/first': 'error',
      'import-x/no-cycle': 'error',
    },
  },
  {
    files: ['gateway/src/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: layerZones }],
    },
  },
  {
    // The `layers` zones keep core off the other layers; this keeps it off I/O libraries.
    files: ['gateway/src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ioModules, message: 'gateway/src/core is pure: no I/O imports.' }],
        },
      ],
    },
  },
  {
    files: ['gateway/bin/*.js', 'eslint.config.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
