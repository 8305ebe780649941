/**
 * Every ```ts block of README.md is a complete program: each one is type-checked (tsc, with
 * `wavegrad` mapped to the sources) and run as an ES module in its own Node process on the real
 * adapter, with `from 'wavegrad'` pointing at src/index.ts. A block must exit 0, print nothing on
 * stderr but the adapter's known noise, and print what its closing `// prints:` lines say (`…` on a
 * line of its own stands for any lines, inside a line for any text). ```ts no-run blocks are
 * skipped (browser-only code); the quick start is the first block after `<!-- quickstart -->`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, test } from 'vitest'
import { runChild } from './child.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SOURCE = join(ROOT, 'src/index.ts')
/** Inside the repository, so that the snippets resolve the repository's node_modules. */
const DIR = join(ROOT, 'node_modules/.cache/wavegrad-readme')

/** Lines Dawn prints on every start on some adapters (harmless: see the environment notes). */
const STDERR_NOISE = /^Warning: maxDynamic\w+BuffersPerPipelineLayout artificially reduced|XDG_RUNTIME_DIR/

/** (tsc runs beside the blocks: child processes are awaited, not waited for.) */
const run = runChild

/**
 * Whether `printed` matches `expected` line by line: an expected line `…` stands for any number of
 * lines, a `…` inside a line for any text.
 */
function matchLines(expected: readonly string[], printed: readonly string[]): boolean {
  const patterns = expected.map((l) => (l.trim() === '…' ? undefined : new RegExp(`^${l.trimEnd().split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)))
  const at = (e: number, p: number): boolean => {
    if (e === patterns.length) return p === printed.length
    const pattern = patterns[e]
    if (!pattern) {
      for (let q = p; q <= printed.length; q++) if (at(e + 1, q)) return true
      return false
    }
    return p < printed.length && pattern.test(printed[p]!.trimEnd()) && at(e + 1, p + 1)
  }
  return at(0, 0)
}

interface Snippet {
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly code: string
  readonly run: boolean
}

/** The ```ts blocks of a Markdown text (```ts no-run: not run). */
function snippets(markdown: string): Snippet[] {
  const out: Snippet[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```ts(?:\s+(no-run))?\s*$/.exec(lines[i]!)
    if (!open) continue
    const end = lines.indexOf('```', i + 1)
    if (end < 0) throw new Error(`README.md:${i + 1}: unclosed code block`)
    out.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n') + '\n', run: open[1] === undefined })
    i = end
  }
  return out
}

/** The lines after a block's `// prints:` comment (undefined without one). */
function expectedOutput(code: string): string[] | undefined {
  const lines = code.trimEnd().split('\n')
  const at = lines.findIndex((l) => l.trim() === '// prints:')
  if (at < 0) return undefined
  return lines.slice(at + 1).map((l) => l.replace(/^\/\/ ?/, ''))
}

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const blocks = snippets(readme)
const file = (s: Snippet, kind: 'check' | 'run') => join(DIR, `${kind}-line-${s.line}.mts`)

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true })
  mkdirSync(DIR, { recursive: true })
  for (const s of blocks) {
    writeFileSync(file(s, 'check'), s.code)
    writeFileSync(file(s, 'run'), s.code.replace(/from 'wavegrad'/g, `from ${JSON.stringify(SOURCE)}`))
  }
})

describe('README.md', () => {
  test('has runnable blocks, each with its imports, a quick start after the marker, few no-run blocks', () => {
    expect(blocks.filter((s) => s.run).length).toBeGreaterThanOrEqual(10)
    expect(blocks.filter((s) => !s.run).length).toBeLessThanOrEqual(2)
    const marker = readme.split('\n').indexOf('<!-- quickstart -->') + 1
    expect(marker, 'no <!-- quickstart --> line').toBeGreaterThan(0)
    const quick = blocks.find((s) => s.line > marker)
    expect(quick?.line, 'the quick start must follow the marker directly').toBe(marker + 1)
    expect(quick?.run).toBe(true)
    // The quick start is installed from the packed tarball and run in a fresh project: it may
    // import only the package itself.
    expect([...quick!.code.matchAll(/from '([^']+)'/g)].map((m) => m[1])).toEqual(['wavegrad'])
    for (const s of blocks) {
      expect(s.code, `README.md:${s.line} imports nothing from 'wavegrad'`).toMatch(/^import .* from 'wavegrad'$/m)
      if (s.run) expect(expectedOutput(s.code), `README.md:${s.line} has no '// prints:' lines`).toBeDefined()
    }
  })

  test('every block type-checks (strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes)', async () => {
    const tsconfig = join(DIR, 'tsconfig.json')
    writeFileSync(
      tsconfig,
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: { noEmit: true, paths: { wavegrad: [SOURCE] } },
        include: [],
        files: blocks.map((s) => file(s, 'check')),
      }),
    )
    const r = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: ROOT, timeoutMs: 120_000 })
    const located = r.stdout.replace(/[^\n]*check-line-(\d+)\.mts\((\d+),(\d+)\)/g, (_, line: string, l: string, c: string) => `README.md:${Number(line) + Number(l)}:${c}`)
    expect(located, 'type errors in README blocks').toBe('')
    expect(r.code).toBe(0)
  })

  test.each(blocks.filter((s) => s.run).map((s) => [s.line, s] as const))('block at line %i runs and prints what it says', async (_, s) => {
    const r = await run(process.execPath, ['--import', 'tsx', file(s, 'run')], { cwd: ROOT, timeoutMs: 60_000 })
    const stderr = r.stderr.split('\n').filter((l) => l.trim() && !STDERR_NOISE.test(l))
    expect(stderr.join('\n'), `README.md:${s.line} wrote to stderr`).toBe('')
    expect(r.code, `README.md:${s.line} exited with ${r.code}\n${r.stdout}`).toBe(0)
    const printed = r.stdout.split('\n').filter((l) => !STDERR_NOISE.test(l))
    while (printed.length && printed.at(-1) === '') printed.pop()
    const expected = expectedOutput(s.code)!
    expect(matchLines(expected, printed), `README.md:${s.line} printed:\n${printed.join('\n')}\nexpected:\n${expected.join('\n')}`).toBe(true)
  })
})
