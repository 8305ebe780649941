/**
 * End-to-end check of the gradient-field explorer: builds demo/ with Vite, serves demo/dist on
 * 127.0.0.1 (a free port), opens it in Debian's Chromium (playwright-core, SwiftShader WebGPU) and
 * checks that the page evaluates on WebGPU and verifies against float64, that the library it exposes
 * computes Rosenbrock and its gradient as the hand-derived formulas say, that a malformed program
 * shows its line:column inline, and that the CPU fallback works without WebGPU. Screenshots go to
 * test-results/.
 *
 * Run: npx tsx test/demo/demo.e2e.ts   (exit status 1 on any failure; last line "N passed, M failed")
 */
import { mkdir, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { build } from 'vite'
import { parse, ParseError } from '../../src/index.js'
import { CHROMIUM_ARGS, CHROMIUM_CANVAS_ARGS, CHROMIUM_PATH } from '../chromium.js'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const DEMO = join(ROOT, 'demo')
const DIST = join(DEMO, 'dist')
const SHOTS = join(ROOT, 'test-results')
/** Software WebGPU compiles and runs 2^20 bindings slowly: allow for it. */
const TIMEOUT_MS = 180_000
const CPU_LABEL = 'CPU (float64 reference) — no WebGPU'

interface Evaluation {
  ms: number
  bindings: number
  backend: string
  maxError: number | null
  where: string
}

/** The page's globals, as the checks use them (types only: they run inside the browser). */
interface PageGlobals {
  demo: {
    ready: Promise<void>
    lastEvaluation: Evaluation | null
    setProgram(source: string): Promise<void>
    setExample(name: string): Promise<void>
    setParam(name: string, value: number): Promise<void>
  }
  wavegrad: typeof import('../../src/index.js')
}

let passed = 0
let failed = 0

async function check(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body()
    passed++
    console.log(`ok    ${name}`)
  } catch (e) {
    failed++
    console.log(`FAIL  ${name}\n      ${(e as Error).message.replaceAll('\n', '\n      ')}`)
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message)
}

/** Rosenbrock (a = 100) and its gradient, derived by hand, in float64. */
function rosenbrock(x: number, y: number): [number, number, number] {
  const f = (1 - x) ** 2 + 100 * (y - x * x) ** 2
  const fx = -2 * (1 - x) - 400 * x * (y - x * x)
  const fy = 200 * (y - x * x)
  return [f, fx, fy]
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

/** A static file server for demo/dist on 127.0.0.1 and a free port. */
async function serve(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)
    const file = normalize(join(dir, path.endsWith('/') ? `${path}index.html` : path))
    if (!file.startsWith(dir)) {
      res.writeHead(403).end()
      return
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end('not found'),
    )
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }
}

/** Opens the page, collecting console errors, and waits for the first draw. */
async function open(browser: Browser, url: string, withoutWebGpu = false): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } })
  page.setDefaultTimeout(TIMEOUT_MS)
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console error: ${m.text()}`)
  })
  if (withoutWebGpu) await page.addInitScript(() => Reflect.deleteProperty(Navigator.prototype, 'gpu'))
  await page.goto(url)
  await page.waitForFunction(() => 'demo' in globalThis)
  await page.evaluate(() => (globalThis as unknown as PageGlobals).demo.ready)
  return { page, errors }
}

function lastEvaluation(page: Page): Promise<Evaluation | null> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).demo.lastEvaluation)
}

async function main(): Promise<void> {
  await build({ configFile: join(DEMO, 'vite.config.ts'), root: DEMO, logLevel: 'warn' })
  await mkdir(SHOTS, { recursive: true })
  const { server, url } = await serve(DIST)
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, ...CHROMIUM_CANVAS_ARGS] })
  try {
    const { page, errors } = await open(browser, url)

    await check('the page evaluates on WebGPU, not on the CPU fallback', async () => {
      const e = await lastEvaluation(page)
      assert(e, 'demo.lastEvaluation is null after demo.ready (the first evaluation failed?)')
      const label = await page.textContent('#backend')
      assert(e.backend.startsWith('webgpu') && label?.startsWith('webgpu'), `backend is '${e.backend}', page says '${label}'`)
      assert(await page.isHidden('#notice'), `the no-WebGPU notice is shown: ${await page.textContent('#notice')}`)
      assert(e.bindings === 1 << 20, `expected 2^20 bindings, got ${e.bindings}`)
    })

    await check('Rosenbrock: GPU vs float64 on the sample, max scaled error < 1e-3', async () => {
      const e = await lastEvaluation(page)
      assert(e && e.maxError !== null && e.maxError < 1e-3, `maxError ${e?.maxError} (${e?.where})`)
      assert((await page.textContent('#badge'))?.startsWith('verified'), 'the badge does not say verified')
    })

    await check('Rosenbrock: one 2^20 evaluation (page timing, after warm-up)', async () => {
      const times: number[] = []
      for (const a of [99, 101, 100]) {
        await page.evaluate((v) => (globalThis as unknown as PageGlobals).demo.setParam('a', v), a)
        const e = await lastEvaluation(page)
        assert(e && e.maxError !== null && e.maxError < 1e-3, `a = ${a}: maxError ${e?.maxError}`)
        times.push(e.ms)
      }
      console.log(`      2^20 evaluations of Rosenbrock in Chromium (SwiftShader): ${times.map((t) => t.toFixed(1)).join(', ')} ms`)
      await page.screenshot({ path: join(SHOTS, 'demo-rosenbrock.png') })
    })

    await check("the page's wavegrad computes Rosenbrock as the hand-derived formulas say", async () => {
      const xs = [0, 1, -1.5, 0.5, 1.25, -0.75]
      const ys = [0, 1, 2, -0.25, 1.5, 0.5625]
      const got = await page.evaluate(
        async ({ xs, ys }) => {
          const { wavegrad } = globalThis as unknown as PageGlobals
          const engine = await wavegrad.createGpuEngine()
          try {
            const r = await engine.evaluate(wavegrad.parse('f = (1-x)^2 + 100*(y-x^2)^2'), { x: xs, y: ys })
            return { backend: r.backend, f: [...r.values.f!], fx: [...r.jacobian.f!.x!], fy: [...r.jacobian.f!.y!] }
          } finally {
            engine.destroy()
          }
        },
        { xs, ys },
      )
      assert(got.backend.startsWith('webgpu'), `backend ${got.backend}`)
      xs.forEach((x, i) => {
        const y = ys[i]!
        const want = rosenbrock(x, y)
        const have = [got.f[i]!, got.fx[i]!, got.fy[i]!]
        want.forEach((w, k) => {
          const err = Math.abs(have[k]! - w) / (Math.abs(w) + 1e-3)
          assert(err < 1e-5, `${['f', 'df/dx', 'df/dy'][k]}(${x}, ${y}) = ${have[k]} on the GPU, ${w} by hand (scaled error ${err.toExponential(2)})`)
        })
      })
    })

    for (const example of ['Potential field', 'Tiny neural net', 'Himmelblau']) {
      await check(`${example}: evaluated on 2^20 bindings and verified`, async () => {
        await page.evaluate((name) => (globalThis as unknown as PageGlobals).demo.setExample(name), example)
        assert(await page.isHidden('#error'), `error: ${await page.textContent('#error')}`)
        const e = await lastEvaluation(page)
        assert(e && e.bindings === 1 << 20 && e.maxError !== null && e.maxError < 1e-3, `maxError ${e?.maxError} (${e?.where})`)
      })
    }
    await page.screenshot({ path: join(SHOTS, 'demo-himmelblau.png') })

    await check('a malformed program shows the right line:column inline and keeps the last image', async () => {
      const before = await lastEvaluation(page)
      await page.fill('#program', 'f = (x + ')
      await page.waitForSelector('#error:not([hidden])')
      const text = (await page.textContent('#error')) ?? ''
      assert(text.includes('1:10'), `expected 1:10 in the error, got:\n${text}`)
      assert(text.split('\n')[2]?.endsWith(`${' '.repeat(9)}^`), `the caret is not under column 10:\n${text}`)
      assert(JSON.stringify(await lastEvaluation(page)) === JSON.stringify(before), 'an evaluation ran although the program does not parse')
    })

    await check('an error on a later line names that line (as the parser does)', async () => {
      const source = 'u = x*y\nv = sin(u) + cos(y)\nf = v +* 2'
      let expected = ''
      try {
        parse(source)
      } catch (e) {
        if (e instanceof ParseError) expected = `${e.line}:${e.column}`
      }
      assert(expected === '3:8', `the parser itself says '${expected}' for line 3`)
      await page.evaluate((s) => (globalThis as unknown as PageGlobals).demo.setProgram(s), source)
      const text = (await page.textContent('#error')) ?? ''
      assert(text.includes(expected) && text.includes('3 | f = v +* 2'), `expected ${expected} and the line, got:\n${text}`)
    })

    await check('a valid program after an error clears it and draws again', async () => {
      await page.evaluate(() => (globalThis as unknown as PageGlobals).demo.setProgram('f = x * exp(-x^2 - y^2) + 0.05 * (x^2 + y^2)'))
      assert(await page.isHidden('#error'), `the error stays: ${await page.textContent('#error')}`)
      const e = await lastEvaluation(page)
      assert(e && e.maxError !== null && e.maxError < 1e-3, `maxError ${e?.maxError} (${e?.where})`)
    })

    await check('no console errors on the WebGPU page', async () => {
      assert(errors.length === 0, errors.join('\n'))
    })
    await page.close()

    await check('without WebGPU: CPU fallback, labelled and drawn', async () => {
      const { page: cpu, errors: cpuErrors } = await open(browser, url, true)
      const e = await lastEvaluation(cpu)
      assert(e?.backend === CPU_LABEL, `backend ${e?.backend}`)
      assert((await cpu.textContent('#backend')) === CPU_LABEL, 'the backend label is not the CPU one')
      assert(await cpu.isVisible('#notice'), 'no notice that WebGPU is missing')
      assert(cpuErrors.length === 0, cpuErrors.join('\n'))
      await cpu.screenshot({ path: join(SHOTS, 'demo-cpu-fallback.png') })
      await cpu.close()
    })
  } finally {
    await browser.close()
    server.close()
  }
}

main()
  .catch((e: unknown) => {
    failed++
    console.log(`FAIL  setup: ${(e as Error).stack ?? String(e)}`)
  })
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`)
    process.exit(failed ? 1 : 0)
  })
