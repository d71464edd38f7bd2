// ESLint flat config: typescript-eslint strict + Nx module boundaries + Prettier compatibility.
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      '.data/',
      'tmp/',
      'libs/proto/src/gen/',
      'libs/database/src/generated/',
      '.nx/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    files: ['**/*.ts'],
    languageOptions: { globals: { ...globals.node } },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-extraneous-class': 'off', // Nest modules are decorated empty classes
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          depConstraints: [
            // Pure domain logic: nothing but the generated protobuf types and pure protocol helpers.
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:proto', 'type:protocol'] },
            { sourceTag: 'type:proto', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:protocol', onlyDependOnLibsWithTags: ['type:proto'] },
            { sourceTag: 'type:config', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:telemetry', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:bus', onlyDependOnLibsWithTags: ['type:proto', 'type:protocol'] },
            // Database may use the pure domain's types (e.g. the parsed label selector it translates to SQL).
            { sourceTag: 'type:database', onlyDependOnLibsWithTags: ['type:config', 'type:domain'] },
            {
              sourceTag: 'type:rollouts',
              onlyDependOnLibsWithTags: [
                'type:proto',
                'type:protocol',
                'type:domain',
                'type:bus',
                'type:database',
                'type:config',
              ],
            },
            // The gateway never touches Postgres.
            { sourceTag: 'scope:gateway', notDependOnLibsWithTags: ['type:database'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['scope:shared'] },
          ],
        },
      ],
    },
  },
  {
    files: [
      '**/*.spec.ts',
      '**/*.medium-spec.ts',
      '**/*.e2e-spec.ts',
      'test/**/*.ts',
      'scripts/**/*.ts',
      'bench/**/*.ts',
    ],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@nx/enforce-module-boundaries': 'off' },
  },
  prettier,
);
