// ESLint for the whole workspace (flat config): typescript-eslint's recommended rules for TypeScript and
// eslint-plugin-vue's essential (correctness, not layout) rules for the console's single-file components. `npm run lint`; CI runs it
// after the typecheck (.ci/run).
import tseslint from 'typescript-eslint';
import vue from 'eslint-plugin-vue';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '../src/**'] },
  ...tseslint.configs.recommended,
  ...vue.configs['flat/essential'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'] } },
    // Components are only used from SFC templates, never as in-DOM HTML, so one-word names cannot clash with elements.
    rules: { 'vue/multi-word-component-names': 'off' },
  },
);
