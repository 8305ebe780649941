/**
 * End-to-end check of the gradient-field explorer: builds demo/ with Vite, serves demo/dist on
 * 127.0.0.1 (a free port), opens it in Debian's Chromium (playwright-core, SwiftShader WebGPU) and
 * checks that the page evaluates on WebGPU and verifies against float64, that the library it exposes
 * computes Rosenbrock and its gradient as the hand-derived formulas say, that a malformed program
 * shows its line:column inline, that dragging pans, the wheel zooms about the cursor and typed
 * view ranges apply (invalid ones refused inline), that the page recovers from a lost GPU device on
 * a new one (and falls back to the CPU, saying so, where no new device comes: Chromium without the
 * canvas flags), and that the CPU fallback works without WebGPU. Screenshots go to test-results/.
 *
 * Run: npx tsx test/demo/demo.e2e.ts   (exit status 1 on any failure; last line "N passed, M failed")
 */
import { mkdir, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inflateSync } from 'node:zlib'
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
/** The wheel zoom the page documents: deltaY = −400 px halves the view's span, +400 doubles it. */
const HALVING_WHEEL_PX = 400

interface View {
  x0: number
  x1: number
  y0: number
  y1: number
}

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
    readonly view: View
    recoveries: number
    settled(): Promise<void>
    loseDevice(): Promise<void>
  }
  wavegrad: typeof import('../../src/index.js')
  /** An evaluation the checks remember, to tell whether the page evaluated since. */
  marked: unknown
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

/** Remembers the current evaluation; `evaluatedSinceMark` says whether a new one replaced it. */
async function mark(page: Page): Promise<void> {
  await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals
    g.marked = g.demo.lastEvaluation
  })
}

function evaluatedSinceMark(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals
    return g.demo.lastEvaluation !== g.marked
  })
}

function settled(page: Page): Promise<void> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).demo.settled())
}

/** The page's exact view, and the numbers its four range inputs show. */
async function views(page: Page): Promise<{ view: View; inputs: View }> {
  // No named functions inside: tsx would wrap them in a helper the page does not have.
  return page.evaluate(() => {
    const [x0, x1, y0, y1] = ['x-min', 'x-max', 'y-min', 'y-max'].map((id) => Number((document.getElementById(id) as HTMLInputElement).value))
    return { view: { ...(globalThis as unknown as PageGlobals).demo.view }, inputs: { x0: x0!, x1: x1!, y0: y0!, y1: y1! } }
  })
}

/** The canvas's content box (without its border) in CSS pixels of the viewport. */
function canvasBox(page: Page): Promise<{ left: number; top: number; width: number; height: number }> {
  return page.evaluate(() => {
    const c = document.getElementById('canvas')!
    const r = c.getBoundingClientRect()
    return { left: r.left + c.clientLeft, top: r.top + c.clientTop, width: c.clientWidth, height: c.clientHeight }
  })
}

/**
 * The view must be `want` (to 1e-9 of its span) and the inputs must show it (they round to six
 * significant digits).
 */
async function expectView(page: Page, want: View, what: string): Promise<void> {
  const { view, inputs } = await views(page)
  for (const k of ['x0', 'x1', 'y0', 'y1'] as const) {
    const span = k[0] === 'x' ? want.x1 - want.x0 : want.y1 - want.y0
    assert(Math.abs(view[k] - want[k]) <= 1e-9 * span, `${what}: view.${k} = ${view[k]}, expected ${want[k]}`)
    assert(Math.abs(inputs[k] - want[k]) <= 1e-5 * Math.max(1, Math.abs(want[k])), `${what}: the ${k} input shows ${inputs[k]}, expected ${want[k]}`)
  }
}

/** The page evaluated since mark() and the drawn rows match float64 at the sample points. */
async function expectFreshVerified(page: Page, what: string): Promise<void> {
  assert(await evaluatedSinceMark(page), `${what}: the page did not evaluate again`)
  const e = await lastEvaluation(page)
  assert(e && e.backend.startsWith('webgpu') && e.maxError !== null && e.maxError < 1e-3, `${what}: backend ${e?.backend}, maxError ${e?.maxError} (${e?.where})`)
  assert((await page.textContent('#badge'))?.startsWith('verified'), `${what}: the badge does not say verified`)
}

/**
 * The share of the canvas's screenshot pixels that are not black (a WebGPU canvas cannot be read
 * back by the page once presented, so the screenshot is the drawing).
 */
async function litShare(page: Page): Promise<number> {
  const { width, height, rgba } = decodePng(await page.locator('#canvas').screenshot())
  let lit = 0
  for (let p = 0; p < width * height; p++) if (rgba[4 * p]! + rgba[4 * p + 1]! + rgba[4 * p + 2]! > 30) lit++
  return lit / (width * height)
}

/** A non-interlaced 8-bit RGB or RGBA PNG (what Chromium's screenshots are) as RGBA bytes. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  let at = 8
  let width = 0
  let height = 0
  let channels = 0
  const data: Buffer[] = []
  while (at < png.length) {
    const length = png.readUInt32BE(at)
    const type = png.toString('latin1', at + 4, at + 8)
    const body = png.subarray(at + 8, at + 8 + length)
    if (type === 'IHDR') {
      width = body.readUInt32BE(0)
      height = body.readUInt32BE(4)
      const [depth, colour, , , interlace] = body.subarray(8)
      channels = colour === 6 ? 4 : colour === 2 ? 3 : 0
      assert(depth === 8 && channels && interlace === 0, `unexpected PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`)
    }
    if (type === 'IDAT') data.push(body)
    at += 12 + length
  }
  const raw = inflateSync(Buffer.concat(data))
  const stride = width * channels
  const pixels = new Uint8Array(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let i = 0; i < stride; i++) {
      // PNG filters: the byte left (a), above (b) and above-left (c) of this one, already decoded.
      const a = i >= channels ? pixels[y * stride + i - channels]! : 0
      const b = y > 0 ? pixels[(y - 1) * stride + i]! : 0
      const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels]! : 0
      const p = a + b - c
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!
      pixels[y * stride + i] = (line[i]! + predictor) & 0xff
    }
  }
  const rgba = new Uint8Array(width * height * 4).fill(255)
  for (let p = 0; p < width * height; p++) rgba.set(pixels.subarray(p * channels, p * channels + Math.min(channels, 4)), 4 * p)
  return { width, height, rgba }
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

    // Potential field's view is x, y in [-2.5, 2.5] (demo/examples.ts DEFAULT_VIEW).
    const home: View = { x0: -2.5, x1: 2.5, y0: -2.5, y1: 2.5 }

    await check('a drag pans the view by the dragged distance; the page evaluates again and verifies', async () => {
      await page.evaluate(() => (globalThis as unknown as PageGlobals).demo.setExample('Potential field'))
      await expectView(page, home, 'Potential field')
      await mark(page)
      const box = await canvasBox(page)
      const from = { x: Math.round(box.left + 0.4 * box.width), y: Math.round(box.top + 0.6 * box.height) }
      const [dx, dy] = [150, -100]
      await page.mouse.move(from.x, from.y)
      await page.mouse.down()
      await page.mouse.move(from.x + dx, from.y + dy, { steps: 6 })
      await page.mouse.up()
      await settled(page)
      // The picture follows the pointer: right by dx px is x − dx/width of the span; up (dy < 0)
      // shows lower y, y + dy/height of the span.
      const sx = (dx / box.width) * (home.x1 - home.x0)
      const sy = (dy / box.height) * (home.y1 - home.y0)
      await expectView(page, { x0: home.x0 - sx, x1: home.x1 - sx, y0: home.y0 + sy, y1: home.y1 + sy }, 'after the drag')
      await expectFreshVerified(page, 'after the drag')
    })

    await check('the wheel zooms about the cursor: the point under it stays, −400 px halves the span', async () => {
      const before = (await views(page)).view
      await mark(page)
      const box = await canvasBox(page)
      const at = { x: Math.round(box.left + 0.25 * box.width), y: Math.round(box.top + 0.3 * box.height) }
      const u = (at.x - box.left) / box.width
      const v = (at.y - box.top) / box.height
      const x = before.x0 + u * (before.x1 - before.x0)
      const y = before.y1 - v * (before.y1 - before.y0)
      await page.mouse.move(at.x, at.y)
      await page.mouse.wheel(0, -HALVING_WHEEL_PX)
      await settled(page)
      const w = (before.x1 - before.x0) / 2
      const h = (before.y1 - before.y0) / 2
      await expectView(page, { x0: x - u * w, x1: x + (1 - u) * w, y0: y - (1 - v) * h, y1: y + v * h }, 'after the wheel')
      const after = (await views(page)).view
      const [x2, y2] = [after.x0 + u * (after.x1 - after.x0), after.y1 - v * (after.y1 - after.y0)]
      assert(Math.abs(x2 - x) < 1e-9 && Math.abs(y2 - y) < 1e-9, `the point under the cursor moved from (${x}, ${y}) to (${x2}, ${y2})`)
      await expectFreshVerified(page, 'after the wheel')
      await page.screenshot({ path: join(SHOTS, 'demo-pan-zoom.png') })
    })

    await check('a typed view range applies; an invalid one is refused inline and not applied; reset view', async () => {
      const typed: View = { x0: -1, x1: 3, y0: -0.5, y1: 2.25 }
      await mark(page)
      // In an order where every step is a valid range, so each one applies; Enter commits an input.
      for (const [id, text] of [['#x-max', '3'], ['#x-min', '-1'], ['#y-max', '2.25'], ['#y-min', '-0.5']] as const) {
        await page.fill(id, text)
        await page.press(id, 'Enter')
      }
      await settled(page)
      await expectView(page, typed, 'typed range')
      assert(await page.isHidden('#view-error'), `a message for a valid range: ${await page.textContent('#view-error')}`)
      await expectFreshVerified(page, 'typed range')

      await mark(page)
      for (const [id, text, reason] of [['#x-min', '4', 'x min must be less than x max'], ['#y-max', 'abc', 'y max is not a number'], ['#y-max', '', 'y max is not a number']]) {
        await page.fill(id!, text!)
        await page.press(id!, 'Enter')
        await settled(page)
        const message = (await page.textContent('#view-error')) ?? ''
        assert(await page.isVisible('#view-error'), `no message for ${id} = '${text}'`)
        assert(message.includes(reason!), `for ${id} = '${text}' the message is '${message}', expected '${reason}'`)
        assert((await page.getAttribute(id!, 'aria-invalid')) !== null, `${id} is not marked invalid`)
        assert(!(await evaluatedSinceMark(page)), `the page evaluated after ${id} = '${text}'`)
        const { view } = await views(page)
        assert(JSON.stringify(view) === JSON.stringify(typed), `the view changed to ${JSON.stringify(view)}`)
      }

      await page.click('#reset-view')
      await settled(page)
      await expectView(page, home, 'reset view')
      assert(await page.isHidden('#view-error'), 'the message stays after reset view')
      await expectFreshVerified(page, 'reset view')
    })

    await check('no console errors on the WebGPU page', async () => {
      assert(errors.length === 0, errors.join('\n'))
    })

    await check('device lost while a slider moves: a new device draws, verified, recoveries == 1', async () => {
      await mark(page)
      const during = await page.evaluate(async () => {
        const { demo } = globalThis as unknown as PageGlobals
        const moves: Promise<void>[] = []
        let loss: Promise<void> | undefined
        for (let k = 0; k < 10; k++) {
          moves.push(demo.setParam('q1', 1 + k / 10))
          // In the same task as a move: its evaluation has started and has work yet to submit.
          if (k === 4) loss = demo.loseDevice()
          await new Promise((ok) => setTimeout(ok, 20))
        }
        await Promise.all([...moves, loss])
        return { recoveries: demo.recoveries, q1: (document.querySelector('[data-param=q1]') as HTMLInputElement).value }
      })
      assert(during.recoveries === 1, `recoveries = ${during.recoveries}`)
      assert(during.q1 === '1.9', `the slider ends at ${during.q1}, not 1.9`)
      const notice = (await page.textContent('#notice')) ?? ''
      assert((await page.isVisible('#notice')) && notice.includes('recovered'), `notice: '${notice}'`)
      assert(await page.isHidden('#error'), `error: ${await page.textContent('#error')}`)
      assert((await page.textContent('#backend'))?.startsWith('webgpu'), `backend: ${await page.textContent('#backend')}`)
      await expectFreshVerified(page, 'after the loss')
      // Once recovered, the old device is gone: this evaluation can only run on the new one.
      await mark(page)
      await page.evaluate(() => (globalThis as unknown as PageGlobals).demo.setParam('q1', 0.5))
      await expectFreshVerified(page, 'a slider move on the new device')
      const lit = await litShare(page)
      assert(lit > 0.9, `only ${(100 * lit).toFixed(1)}% of the canvas is drawn`)
      await page.screenshot({ path: join(SHOTS, 'demo-recovered.png') })
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
  }

  // Without the canvas flags headless Chromium loses the device at the first present, and no new
  // adapter comes after that: the page must end up drawing somewhere, and say what happened.
  const bare = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS })
  try {
    await check('Chromium without the canvas flags: the lost device is recovered or the CPU draws, with a notice', async () => {
      const { page, errors: bareErrors } = await open(bare, url)
      const lost = await page
        .waitForFunction(
          (cpu) => document.getElementById('backend')?.textContent === cpu || (globalThis as unknown as PageGlobals).demo.recoveries > 0,
          CPU_LABEL,
          { timeout: 20_000 },
        )
        .then(
          () => true,
          () => false,
        )
      await settled(page)
      const backend = (await page.textContent('#backend')) ?? ''
      const notice = (await page.textContent('#notice')) ?? ''
      const e = await lastEvaluation(page)
      assert(await page.isHidden('#error'), `error: ${await page.textContent('#error')}`)
      assert(e?.backend === backend, `the last evaluation ran on '${e?.backend}', the page says '${backend}'`)
      if (!lost) {
        // A Chromium that presents without the flags: nothing to recover from.
        console.log(`      the device was not lost here; the page draws on ${backend}`)
        assert(e.maxError !== null && e.maxError < 1e-3, `maxError ${e.maxError}`)
      } else {
        console.log(`      ${notice}`)
        assert(await page.isVisible('#notice'), 'no notice about the lost device')
        assert(notice.includes('lost'), `the notice does not mention the loss: '${notice}'`)
        if (backend === CPU_LABEL) assert(notice.includes('CPU'), `the notice does not say the CPU draws now: '${notice}'`)
        else assert(e.maxError !== null && e.maxError < 1e-3, `recovered, but maxError ${e.maxError}`)
      }
      // Pan and zoom still work on whatever canvas the page draws on now.
      await mark(page)
      const box = await canvasBox(page)
      await page.mouse.move(box.left + box.width / 2, box.top + box.height / 2)
      await page.mouse.wheel(0, HALVING_WHEEL_PX)
      await settled(page)
      const { view } = await views(page)
      assert(Math.abs(view.x1 - view.x0 - 8) < 1e-9, `after a +400 px wheel the x span is ${view.x1 - view.x0}, expected 8 (Rosenbrock's 4, doubled)`)
      assert(await evaluatedSinceMark(page), 'the page did not evaluate after the zoom')
      assert(bareErrors.length === 0, bareErrors.join('\n'))
      await page.screenshot({ path: join(SHOTS, 'demo-without-canvas-flags.png') })
      await page.close()
    })
  } finally {
    await bare.close()
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
