/**
 * Vite config of the browser example. Installed from npm, `wavegrad` is the package in
 * node_modules; inside the wavegrad repository it is the library's TypeScript sources.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const source = fileURLToPath(new URL('../../src/index.ts', import.meta.url))

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  resolve: existsSync(source) ? { alias: { wavegrad: source } } : {},
  build: { target: 'es2022' },
  server: { host: '127.0.0.1' },
})
