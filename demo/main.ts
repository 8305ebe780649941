/**
 * The gradient-field explorer's wiring: editor, example picker, sliders, toggles and the view
 * (pan, zoom, range inputs) in; one backend (WebGPU, or the CPU reference where the browser has
 * none) evaluates and draws. Edits are debounced, slider moves and view changes coalesced: at most
 * one evaluation runs, and the next one starts from the latest state. A new program stops the
 * evaluation in flight (its compile and run, by AbortSignal; the page drops that rejection quietly).
 * Programs are parsed with UNTRUSTED_TEXT's limits.
 *
 * Device loss: a lost WebGPU device is replaced by a new engine on the same canvas, and the pass
 * it broke runs again there; after RECOVERY_LIMIT recoveries within RECOVERY_WINDOW_MS the page
 * gives up on WebGPU and draws with the CPU reference, and says so.
 *
 * Test hooks: `globalThis.wavegrad` is the library itself; `globalThis.demo` has `ready` (the first
 * draw), `lastEvaluation`, `view`, `recoveries`, `setProgram(source)`, `setExample(name)`,
 * `setParam(name, value)` (each resolving after the redraw), `settled()` (resolves when nothing is
 * left to evaluate, recoveries included) and `loseDevice()` (destroys the current device; resolves
 * once the page has recovered and drawn again).
 */
import * as wavegrad from 'wavegrad'
import { DeviceError, evaluateCpu, parse, UNTRUSTED_TEXT, type Graph } from 'wavegrad'
import { isAbort, parameterNames, type Backend, type Evaluation } from './backend.js'
import { clearError, ParamSliders, showError } from './controls.js'
import { CPU_LABEL, createCpuBackend } from './cpu-fallback.js'
import { EXAMPLES, type Example, type View } from './examples.js'
import { createGpuBackend, GpuBackend } from './gpu-backend.js'
import type { Shading } from './shading.js'
import { ViewControls } from './view-controls.js'

/** Below this max scaled error (GPU vs float64 on the sample) the badge says "verified". */
const VERIFIED_BELOW = 1e-3
const TYPING_DEBOUNCE_MS = 150
/** At most this many new devices within RECOVERY_WINDOW_MS; the next loss falls back to the CPU. */
const RECOVERY_LIMIT = 3
const RECOVERY_WINDOW_MS = 10_000
/** How long a failed GPU call waits for device.lost before it counts as an ordinary error. */
const LOSS_GRACE_MS = 250

interface DemoHooks {
  ready: Promise<void>
  lastEvaluation: Evaluation | null
  readonly view: View
  recoveries: number
  setProgram(source: string): Promise<void>
  setExample(name: string): Promise<void>
  setParam(name: string, value: number): Promise<void>
  settled(): Promise<void>
  loseDevice(): Promise<void>
}

const page = globalThis as unknown as { wavegrad: typeof wavegrad; demo: DemoHooks }
page.wavegrad = wavegrad

function element<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id)
  if (!e) throw new Error(`the page has no #${id}`)
  return e as T
}

const program = element<HTMLTextAreaElement>('program')
const errorBox = element('error')
const picker = element<HTMLSelectElement>('example')
const toggles = { contours: element<HTMLInputElement>('contours'), arrows: element<HTMLInputElement>('arrows'), logScale: element<HTMLInputElement>('log-scale') }
const sliders = new ParamSliders(element('params'), () => void schedule('evaluate'))
const range = { x0: element<HTMLInputElement>('x-min'), x1: element<HTMLInputElement>('x-max'), y0: element<HTMLInputElement>('y-min'), y1: element<HTMLInputElement>('y-max') }
const viewControls = new ViewControls(element('stage'), range, element('view-error'), element('reset-view'), () => void schedule('evaluate'))

let backend: Backend
/** The WebGPU backend while the page uses one. */
let gpu: GpuBackend | undefined
/** A recovery in progress (else resolved): passes wait for it. */
let recovering: Promise<void> = Promise.resolve()
/** performance.now() of the recent recoveries. */
const recoveryTimes: number[] = []
/** The last program that evaluated, and its view, for the hover readout. */
let shown: { graph: Graph; params: Record<string, number>; view: View } | undefined
let typing: ReturnType<typeof setTimeout> | undefined
/** Stops the evaluation in flight (its compile and run), if any: a new program makes it stale. */
let inFlight: AbortController | undefined

/** The program changed: the evaluation in flight is of an old one, stop it. */
function programChanged(): void {
  inFlight?.abort()
  inFlight = undefined
}

function shading(): Shading {
  return { contours: toggles.contours.checked, arrows: toggles.arrows.checked, logScale: toggles.logScale.checked }
}

// Scheduler: flags say what is stale; `pump` runs until nothing is, resolving each caller's promise
// after the first pass that started after its request.
let running = false
let evaluateStale = false
let renderStale = false
const waiting: (() => void)[] = []
const idle: (() => void)[] = []

function schedule(what: 'evaluate' | 'render'): Promise<void> {
  if (what === 'evaluate') evaluateStale = true
  else renderStale = true
  const done = new Promise<void>((resolve) => waiting.push(resolve))
  if (!running) void pump()
  return done
}

async function pump(): Promise<void> {
  running = true
  while (evaluateStale || renderStale) {
    await recovering
    const batch = waiting.splice(0)
    const evaluate = evaluateStale
    evaluateStale = renderStale = false
    const used = backend
    try {
      if (evaluate) await refresh(used)
      else await used.render(shading())
    } catch (e) {
      // Stopped because a newer program came: the pass for that one follows (evaluateStale).
      if (isAbort(e)) {
        for (const resolve of batch) resolve()
        continue
      }
      if (await lostDuring(used)) {
        // recover() is making a new backend: the pass runs again there, for the same callers.
        waiting.unshift(...batch)
        evaluateStale = true
        continue
      }
      // Not the user's typing: a GPU or engine failure, worth its stack in the console.
      console.error(e)
      showError(errorBox, program.value, e)
    }
    for (const resolve of batch) resolve()
  }
  running = false
  for (const resolve of idle.splice(0)) resolve()
}

/**
 * Whether a pass failed because its backend's device was lost. Awaiting `lost` also lets the
 * page's own loss handler (registered first) set `recovering` before the pass is retried.
 */
async function lostDuring(used: Backend): Promise<boolean> {
  if (!(used instanceof GpuBackend)) return false
  // A call that failed as the device went (a DeviceError, a failed mapAsync) may come back before
  // device.lost resolves.
  if (!used.isLost) await Promise.race([used.lost, new Promise((ok) => setTimeout(ok, LOSS_GRACE_MS))])
  if (!used.isLost) return false
  await used.lost
  return true
}

/** Parses the editor's program, evaluates and draws it; on any error the last image stays. */
async function refresh(backend: Backend): Promise<void> {
  const source = program.value
  let graph: Graph
  try {
    // Text from the page's visitor: bounded length, size and nesting (a ParseError, not a hung tab).
    graph = parse(source, UNTRUSTED_TEXT)
  } catch (e) {
    showError(errorBox, source, e)
    return
  }
  if (!graph.inputs.includes('x') && !graph.inputs.includes('y')) {
    showError(errorBox, source, new Error('the program uses neither x nor y: there is no field to draw'))
    return
  }
  sliders.sync(parameterNames(graph))
  const params = sliders.values()
  const view = viewControls.view
  const controller = new AbortController()
  inFlight = controller
  let evaluation: Evaluation
  try {
    evaluation = await backend.evaluate({ source, graph, params, view, signal: controller.signal })
  } finally {
    if (inFlight === controller) inFlight = undefined
  }
  await backend.render(shading())
  clearError(errorBox)
  shown = { graph, params, view }
  report(evaluation, graph.outputs[0]!, backend.size)
}

function report(e: Evaluation, output: string, size: number): void {
  hooks.lastEvaluation = e
  element('timing').textContent = `${e.ms.toFixed(1)} ms for ${e.bindings.toLocaleString('en-US')} bindings (${size} × ${size}), drawing ${output}`
  const badge = element('badge')
  if (e.maxError === null) {
    badge.className = 'badge neutral'
    badge.textContent = 'float64 reference'
  } else {
    const ok = e.maxError < VERIFIED_BELOW
    badge.className = `badge ${ok ? 'ok' : 'bad'}`
    badge.textContent = `${ok ? 'verified' : 'MISMATCH'} · max scaled error ${e.maxError.toExponential(2)} vs float64 (256 points)`
    badge.title = e.where
  }
}

function loadExample(example: Example): Promise<void> {
  programChanged()
  program.value = example.source
  viewControls.home(example.view)
  toggles.logScale.checked = example.logScale
  sliders.reset(example.params)
  clearTimeout(typing)
  return schedule('evaluate')
}

function findExample(name: string): Example {
  const example = EXAMPLES.find((e) => e.name.toLowerCase() === name.toLowerCase())
  if (!example) throw new Error(`no example '${name}' (examples: ${EXAMPLES.map((e) => e.name).join(', ')})`)
  return example
}

/** Hover: the point under the cursor, and f with its gradient there from the float64 reference. */
function readout(event: MouseEvent): void {
  const canvas = element('canvas')
  const box = canvas.getBoundingClientRect()
  const u = (event.clientX - box.left - canvas.clientLeft) / canvas.clientWidth
  const v = (event.clientY - box.top - canvas.clientTop) / canvas.clientHeight
  if (u < 0 || u > 1 || v < 0 || v > 1) return
  const view = shown?.view ?? viewControls.view
  const x = view.x0 + u * (view.x1 - view.x0)
  const y = view.y1 - v * (view.y1 - view.y0)
  let text = `x = ${x.toFixed(3)}, y = ${y.toFixed(3)}`
  if (shown) {
    const bindings: Record<string, number[]> = {}
    for (const name of shown.graph.inputs) bindings[name] = [name === 'x' ? x : name === 'y' ? y : shown.params[name] ?? 0]
    const r = evaluateCpu(shown.graph, bindings)
    const out = shown.graph.outputs[0]!
    const d = (input: string) => r.jacobian[out]![input]?.[0] ?? 0
    text += `: ${out} = ${r.values[out]![0]!.toPrecision(5)}, ∇${out} = (${d('x').toPrecision(4)}, ${d('y').toPrecision(4)})`
  }
  element('readout').textContent = text
}

/**
 * Switches to the CPU reference for good: where WebGPU is missing, or its device was lost. A canvas
 * that once handed out a WebGPU context cannot give a 2D one, so a fresh canvas replaces it.
 */
function useCpu(why: string): void {
  gpu = undefined
  const old = element<HTMLCanvasElement>('canvas')
  const fresh = old.cloneNode() as HTMLCanvasElement
  old.replaceWith(fresh)
  backend = createCpuBackend(fresh)
  element('backend').textContent = backend.label
  notice(`${why}, so the field is computed on the CPU by wavegrad's float64 reference, on a ${backend.size} × ${backend.size} grid.`)
}

function notice(text: string): void {
  const box = element('notice')
  box.hidden = false
  box.textContent = text
}

/** Draws with a new WebGPU backend from now on, and recovers when its device is lost. */
function useGpu(next: GpuBackend): void {
  backend = gpu = next
  element('backend').textContent = next.label
  void next.lost.then((reason) => {
    recovering = recover(next, reason)
  })
}

/**
 * After a device loss: a new engine and renderer on the same canvas (its WebGPU context is
 * configured again for the new device), unless the recent recoveries used up the limit or no new
 * device comes: then the CPU reference. Either way the field is evaluated again.
 */
async function recover(old: GpuBackend, reason: string): Promise<void> {
  if (old !== gpu) return
  gpu = undefined
  old.destroy()
  const now = performance.now()
  while (recoveryTimes.length && now - recoveryTimes[0]! > RECOVERY_WINDOW_MS) recoveryTimes.shift()
  if (recoveryTimes.length >= RECOVERY_LIMIT) {
    useCpu(`The WebGPU device was lost ${RECOVERY_LIMIT + 1} times within ${RECOVERY_WINDOW_MS / 1000} s (last: ${reason})`)
  } else {
    recoveryTimes.push(now)
    try {
      useGpu(await createGpuBackend(element<HTMLCanvasElement>('canvas')))
      hooks.recoveries++
      notice(`GPU device was lost (${reason}); recovered on a new device.`)
    } catch (e) {
      // The library's no-adapter message is about installing drivers, which a page visitor cannot do.
      const why = e instanceof DeviceError && e.reason === 'no-adapter' ? 'the browser offers no WebGPU adapter any more' : (e as Error).message
      useCpu(`The WebGPU device was lost (${reason}) and no new one could be started (${why})`)
    }
  }
  void schedule('evaluate')
}

async function start(): Promise<void> {
  try {
    useGpu(await createGpuBackend(element<HTMLCanvasElement>('canvas')))
  } catch (e) {
    useCpu(`WebGPU is not available here (${(e as Error).message})`)
  }
  element('stage').addEventListener('mousemove', readout)

  for (const example of EXAMPLES) picker.add(new Option(example.name, example.name))
  picker.addEventListener('change', () => void loadExample(findExample(picker.value)))
  program.addEventListener('input', () => {
    programChanged()
    clearTimeout(typing)
    typing = setTimeout(() => void schedule('evaluate'), TYPING_DEBOUNCE_MS)
  })
  for (const t of Object.values(toggles)) t.addEventListener('change', () => void schedule('render'))
  await loadExample(EXAMPLES[0]!)
}

const hooks: DemoHooks = {
  ready: Promise.resolve(),
  lastEvaluation: null,
  get view() {
    return viewControls.view
  },
  recoveries: 0,
  setProgram(source: string) {
    programChanged()
    program.value = source
    clearTimeout(typing)
    return schedule('evaluate')
  },
  setExample(name: string) {
    const example = findExample(name)
    picker.value = example.name
    return loadExample(example)
  },
  setParam(name: string, value: number) {
    sliders.set(name, value)
    return schedule('evaluate')
  },
  async settled() {
    for (;;) {
      const pending = recovering
      await pending
      if (running) await new Promise<void>((resolve) => idle.push(resolve))
      if (pending === recovering && !running) return
    }
  },
  async loseDevice() {
    if (!gpu) throw new Error(`the page is not on WebGPU (backend: ${backend.label})`)
    const lost = gpu.lost
    gpu.loseDevice()
    await lost
    await hooks.settled()
  },
}
page.demo = hooks
hooks.ready = start()
