/**
 * The gradient-field explorer's wiring: editor, example picker, sliders and toggles in; one backend
 * (WebGPU, or the CPU reference where the browser has none) evaluates and draws. Edits are debounced,
 * slider moves coalesced: at most one evaluation runs, and the next one starts from the latest state.
 *
 * Test hooks: `globalThis.wavegrad` is the library itself; `globalThis.demo` has `ready` (the first
 * draw), `lastEvaluation`, `setProgram(source)`, `setExample(name)` and `setParam(name, value)` (each
 * resolving after the redraw).
 */
import * as wavegrad from 'wavegrad'
import { evaluateCpu, parse, type Graph } from 'wavegrad'
import { parameterNames, type Backend, type Evaluation } from './backend.js'
import { clearError, ParamSliders, showError } from './controls.js'
import { CPU_LABEL, createCpuBackend } from './cpu-fallback.js'
import { EXAMPLES, type Example, type View } from './examples.js'
import { createGpuBackend } from './gpu-backend.js'
import type { Shading } from './shading.js'

/** Below this max scaled error (GPU vs float64 on the sample) the badge says "verified". */
const VERIFIED_BELOW = 1e-3
const TYPING_DEBOUNCE_MS = 150

interface DemoHooks {
  ready: Promise<void>
  lastEvaluation: Evaluation | null
  setProgram(source: string): Promise<void>
  setExample(name: string): Promise<void>
  setParam(name: string, value: number): Promise<void>
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

let backend: Backend
let view: View = EXAMPLES[0]!.view
/** The last program that evaluated, for the hover readout. */
let shown: { graph: Graph; params: Record<string, number> } | undefined
let typing: ReturnType<typeof setTimeout> | undefined

function shading(): Shading {
  return { contours: toggles.contours.checked, arrows: toggles.arrows.checked, logScale: toggles.logScale.checked }
}

// Scheduler: flags say what is stale; `pump` runs until nothing is, resolving each caller's promise
// after the first pass that started after its request.
let running = false
let evaluateStale = false
let renderStale = false
const waiting: (() => void)[] = []

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
    const batch = waiting.splice(0)
    const evaluate = evaluateStale
    evaluateStale = renderStale = false
    try {
      if (evaluate) await refresh()
      else await backend.render(shading())
    } catch (e) {
      // Not the user's typing: a GPU or engine failure, worth its stack in the console.
      console.error(e)
      showError(errorBox, program.value, e)
    }
    for (const resolve of batch) resolve()
  }
  running = false
}

/** Parses the editor's program, evaluates and draws it; on any error the last image stays. */
async function refresh(): Promise<void> {
  const source = program.value
  let graph: Graph
  try {
    graph = parse(source)
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
  const evaluation = await backend.evaluate({ source, graph, params, view })
  await backend.render(shading())
  clearError(errorBox)
  shown = { graph, params }
  report(evaluation, graph.outputs[0]!)
}

function report(e: Evaluation, output: string): void {
  hooks.lastEvaluation = e
  element('timing').textContent = `${e.ms.toFixed(1)} ms for ${e.bindings.toLocaleString('en-US')} bindings (${backend.size} × ${backend.size}), drawing ${output}`
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
  program.value = example.source
  view = example.view
  toggles.logScale.checked = example.logScale
  element('view').textContent = `x ∈ [${view.x0}, ${view.x1}], y ∈ [${view.y0}, ${view.y1}]`
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
  const box = element('canvas').getBoundingClientRect()
  const u = (event.clientX - box.left) / box.width
  const v = (event.clientY - box.top) / box.height
  if (u < 0 || u > 1 || v < 0 || v > 1) return
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
  const old = element<HTMLCanvasElement>('canvas')
  const fresh = old.cloneNode() as HTMLCanvasElement
  old.replaceWith(fresh)
  backend = createCpuBackend(fresh)
  element('backend').textContent = backend.label
  const notice = element('notice')
  notice.hidden = false
  notice.textContent = `${why}, so the field is computed on the CPU by wavegrad's float64 reference, on a ${backend.size} × ${backend.size} grid.`
}

async function start(): Promise<void> {
  try {
    const gpu = await createGpuBackend(element<HTMLCanvasElement>('canvas'))
    backend = gpu
    element('backend').textContent = backend.label
    void gpu.lost.then((reason) => {
      useCpu(`The WebGPU device was lost (${reason})`)
      void schedule('evaluate')
    })
  } catch (e) {
    useCpu(`WebGPU is not available here (${(e as Error).message})`)
  }
  element('stage').addEventListener('mousemove', readout)

  for (const example of EXAMPLES) picker.add(new Option(example.name, example.name))
  picker.addEventListener('change', () => void loadExample(findExample(picker.value)))
  program.addEventListener('input', () => {
    clearTimeout(typing)
    typing = setTimeout(() => void schedule('evaluate'), TYPING_DEBOUNCE_MS)
  })
  for (const t of Object.values(toggles)) t.addEventListener('change', () => void schedule('render'))
  await loadExample(EXAMPLES[0]!)
}

const hooks: DemoHooks = {
  ready: Promise.resolve(),
  lastEvaluation: null,
  setProgram(source: string) {
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
}
page.demo = hooks
hooks.ready = start()
