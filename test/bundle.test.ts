/**
 * Browser safety of the library itself: Vite's build() in library mode from src/index.ts (into a
 * temp dir) must give one self-contained ES module with no Node built-ins, no CommonJS require,
 * and no Dawn. The Node-only `webgpu` package and the CPU engine's worker threads are reached
 * through src/node-only.ts, one `import(specifier)` with a variable, so no bundler can resolve them
 * and a browser user never downloads them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build, type Rolldown } from 'vite'
import { expect, test } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

test('the browser bundle has no node: imports, no require(, and leaves the webgpu package unresolved', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'wavegrad-bundle-'))
  try {
    const result = await build({
      configFile: false,
      root: ROOT,
      mode: 'production',
      logLevel: 'warn',
      publicDir: false,
      build: {
        outDir,
        emptyOutDir: true,
        minify: true,
        lib: { entry: join(ROOT, 'src/index.ts') },
        // As published (Vite's library minification keeps whitespace and pure annotations), and
        // fully minified as an application's bundler would ship it.
        rolldownOptions: {
          output: [
            { format: 'es', entryFileNames: 'wavegrad.js' },
            { format: 'es', entryFileNames: 'wavegrad.min.js', minify: true },
          ],
        },
      },
    })
    const chunks = (Array.isArray(result) ? result : [result as Rolldown.RolldownOutput])
      .flatMap((o) => o.output)
      .filter((c): c is Rolldown.OutputChunk => c.type === 'chunk')
    // One file per output: a resolved `webgpu` import would have added a chunk of its own.
    expect(chunks.map((c) => c.fileName).sort()).toEqual(['wavegrad.js', 'wavegrad.min.js'])
    const sizes: string[] = []
    for (const chunk of chunks) {
      const code = readFileSync(join(outDir, chunk.fileName), 'utf8')
      expect(code).toBe(chunk.code)
      expect(code, `${chunk.fileName} imports a Node built-in`).not.toMatch(/["'`]node:/)
      expect(code, `${chunk.fileName} calls require(`).not.toMatch(/\brequire\s*\(/)
      expect(chunk.moduleIds.filter((id) => /[\\/]node_modules[\\/]webgpu[\\/]/.test(id))).toEqual([])
      expect(code).not.toMatch(/dawn\.node/)
      expect([...chunk.imports, ...chunk.dynamicImports]).not.toContain('webgpu')
      // The one dynamic import stays `import(<variable>)`: never a literal a bundler would follow.
      expect(code).not.toMatch(/\bimport\s*\(\s*(?:\/\*[^]*?\*\/\s*)*["'`]/)
      expect(code.match(/\bimport\s*\(\s*(?:\/\*[^]*?\*\/\s*)*[A-Za-z_$][\w$]*\s*\)/g) ?? []).toHaveLength(1)
      sizes.push(`${chunk.fileName} ${(code.length / 1024).toFixed(1)} KiB (gzip ${(gzipSync(code).length / 1024).toFixed(1)} KiB)`)
    }
    console.log(`[bundle] ${sizes.join(', ')}`)
  } finally {
    rmSync(outDir, { recursive: true, force: true })
  }
})
