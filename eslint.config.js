// One lint configuration for the whole repository.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/.turbo/**', 'var/**', '**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          project: '**/tsconfig.json',
          noWarnOnMultipleProjects: true,
        }),
      ],
    },
    rules: {
      // A workspace imports only what its own package.json declares (or the
      // root's tooling), and modules never import each other in a circle.
      'import-x/no-extraneous-dependencies': [
        'error',
        { packageDir: ['.', import.meta.dirname], includeInternal: false },
      ],
      'import-x/no-cycle': 'error',
    },
  },
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'error',
    },
  },
  {
    // Command-line entry points talk to a person on a terminal.
    files: ['**/bin/**', 'scripts/**', 'bench/**', 'launcher/src/cli/**'],
    rules: { 'no-console': 'off' },
  },
);
