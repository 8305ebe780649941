/**
 * A CPU engine worker thread (Node only; see pool.ts). In: a graph as JSON (once per kernel), the
 * batch's inputs and rows as views of SharedArrayBuffers, and a range of bindings. Out: that range
 * of every row, written in place, then a reply naming the request. The kernel is compiled here by
 * compileProgram (wasm SIMD where the graph is arithmetic only, else generated JavaScript) from the
 * main thread's JSON, or (`reference`) run by the same evaluateProgram: either way the numbers of
 * the main thread, which computes to the last bit the same whichever way it runs.
 */
import { parentPort } from 'node:worker_threads'
import type { CompiledJs } from '../codegen/js.js'
import { compileProgram } from '../codegen/wasm.js'
import { programOf } from '../program.js'
import { evaluateProgram } from '../reference.js'
import { graphFromJSON } from '../serialize.js'
import type { WorkerReply, WorkerRequest } from './pool.js'

/** Kernels kept, least recently used first: compiled code, or a program the reference engine runs. */
const KEEP = 32
const kernels = new Map<string, CompiledJs>()

parentPort!.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply
  try {
    let run = kernels.get(req.key)
    if (run) kernels.delete(req.key)
    else if (req.json !== undefined) {
      const program = programOf(graphFromJSON(req.json), { jacobian: req.jacobian })
      run = req.reference ? (inputs, rows, start, len) => evaluateProgram(program, inputs, rows, start, len) : compileProgram(program).run
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
