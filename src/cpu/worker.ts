/**
 * A CPU engine worker thread (Node only; see pool.ts). In: a graph as JSON (once per kernel), the
 * batch's inputs and rows as views of SharedArrayBuffers, and a range of bindings. Out: that range
 * of every row, written in place, then a reply naming the request. The kernel is compiled here by
 * the same emitJs as on the main thread, from the same JSON, or (`reference`) run by the same
 * evaluateCpu: either way the numbers of the main thread.
 */
import { parentPort } from 'node:worker_threads'
import { emitJs, type CompiledJs } from '../codegen/js.js'
import { levelize } from '../levelize.js'
import { planKernels, type Plan } from '../plan.js'
import type { Graph } from '../graph.js'
import { evaluateCpu } from '../reference.js'
import { graphFromJSON } from '../serialize.js'
import type { WorkerReply, WorkerRequest } from './pool.js'

/** Kernels kept, least recently used first: compiled code, or a graph the reference engine runs. */
const KEEP = 32
const kernels = new Map<string, CompiledJs>()

/** The reference engine over the batch range [start, start + len), rows in plan order. */
function referenceKernel(graph: Graph, plan: Plan): CompiledJs {
  return (inputs, rows, start, len) => {
    const bindings = Object.fromEntries(graph.inputs.map((name, k) => {
      const v = inputs[k]!
      return [name, typeof v === 'number' ? v : (v as Float64Array).subarray(start, start + len)]
    }))
    const r = evaluateCpu(graph, bindings, { jacobian: plan.jacobian })
    plan.rows.forEach((row, i) => rows[i]!.set(row.kind === 'value' ? r.values[row.output]! : r.jacobian[row.output]![row.input!]!, start))
  }
}

parentPort!.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply
  try {
    let run = kernels.get(req.key)
    if (run) kernels.delete(req.key)
    else if (req.json !== undefined) {
      const graph = graphFromJSON(req.json)
      const levels = levelize(graph)
      const plan = planKernels(levels, { jacobian: req.jacobian })
      run = req.reference ? referenceKernel(graph, plan) : emitJs(levels, plan)
    }
    if (!run) reply = { id: req.id, missing: true }
    else {
      kernels.set(req.key, run)
      if (kernels.size > KEEP) kernels.delete(kernels.keys().next().value!)
      run(req.inputs, req.rows, req.start, req.len)
      reply = { id: req.id }
    }
  } catch (e) {
    reply = { id: req.id, error: e instanceof Error ? e.message : String(e) }
  }
  parentPort!.postMessage(reply)
})
