// @ts-check
import js from '@eslint/js';
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
    files: ['gateway/src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ioModules, message: 'gateway/src/core is pure: no I/O imports.' },
            {
              group: [
                '**/imaging/**',
                '**/inference/**',
                '**/embedded/**',
                '**/api/**',
                '**/bench/**',
                '**/cli/**',
              ],
              message: 'core must not depend on outer layers.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['gateway/bin/*.js', 'eslint.config.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
