import neostandard from 'neostandard'

// The Fastify organisation's style (neostandard), TypeScript included. `npm run lint`; CI fails on any warning.
export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'src/generated/**', 'client/dist/**', 'client/miniprogram_dist/**', 'coverage/**', '.tap/**', 'scratch/**']
  }),
  {
    // The mini-program runtime's globals, for the example app.
    files: ['examples/miniprogram/**/*.js'],
    languageOptions: { globals: { App: 'readonly', Page: 'readonly', getApp: 'readonly', wx: 'readonly' } }
  },
  {
    rules: {
      // A TypeBox schema and the type derived from it share one name (`const TokenPair` and `type TokenPair = Static<typeof TokenPair>`),
      // as fastify/demo does; TypeScript itself reports real redeclarations.
      '@typescript-eslint/no-redeclare': 'off',
      // Long lines are hard to review side by side; strings, SQL in template literals, URLs and regexes may run on.
      '@stylistic/max-len': ['error', { code: 140, tabWidth: 2, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreUrls: true, ignoreRegExpLiterals: true }]
    }
  }
]
