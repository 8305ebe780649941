/**
 * Vite config of the gradient-field explorer. Used by `vite demo` (dev server) and
 * `vite build demo` (static build in demo/dist, relative asset paths so any static server works).
 * `import ... from 'wavegrad'` resolves to the library's TypeScript sources, not to a build.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  resolve: { alias: { wavegrad: fileURLToPath(new URL('../src/index.ts', import.meta.url)) } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
})
