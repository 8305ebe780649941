/**
 * Worker threads for the CPU engine, Node only. In: a kernel (a key and its graph as JSON) and one
 * part of a batch per thread: its inputs and its slice of the result rows. Out: the rows filled,
 * each thread computing its consecutive range of bindings with the same compiled JavaScript as the
 * main thread (worker.ts), which computes the batch's first part itself meanwhile. Inputs and rows
 * travel as SharedArrayBuffers: nothing is copied back.
 *
 * Why: the compiled kernel is bound by Math.sin/cos/exp/tanh calls, which only more cores make
 * faster. In a browser (no node:worker_threads) createPool resolves to undefined and the engine
 * runs on the calling thread.
 */
import { importNodeOnly, isNode } from '../node-only.js'
import type { GraphJSON } from '../serialize.js'

export interface WorkerRequest {
  readonly id: number
  readonly key: string
  /** Sent once per thread and kernel (or again when the thread has forgotten the kernel). */
  readonly json?: GraphJSON
  readonly jacobian: boolean
  /** Run the reference engine (evaluateProgram) instead of compiled code. */
  readonly reference?: boolean
  readonly inputs: readonly (Float64Array | Float32Array | number)[]
  readonly rows: readonly (Float64Array | Float32Array)[]
  readonly start: number
  readonly len: number
}

/** One thread's share of a batch: its inputs (numbers or shared arrays) and rows, `len` bindings each. */
export interface Part {
  readonly inputs: readonly (Float64Array | Float32Array | number)[]
  readonly rows: readonly (Float64Array | Float32Array)[]
  readonly len: number
}

export interface WorkerReply {
  readonly id: number
  /** The thread no longer holds this kernel: send it with its JSON. */
  readonly missing?: true
  readonly error?: string
}

/** The part of node:worker_threads' Worker used here. */
export interface NodeWorker {
  postMessage(message: WorkerRequest): void
  on(event: 'message', listener: (reply: WorkerReply) => void): void
  on(event: 'error', listener: (error: Error) => void): void
  on(event: 'exit', listener: (code: number) => void): void
  ref(): void
  unref(): void
  terminate(): Promise<number>
}

interface Thread {
  readonly worker: NodeWorker
  /** Kernels this thread was sent. */
  readonly known: Set<string>
  readonly waiting: Map<number, { resolve: (reply: WorkerReply) => void; reject: (e: Error) => void }>
}

/** Below this many bindings per thread, threads cost more than they save (messages, start). */
export const MIN_PER_THREAD = 2048

/** The Node side (node:os, node:worker_threads), loaded only in Node: see node-only.ts. */
const NODE_THREADS = import.meta.url.endsWith('.ts') ? './threads.ts' : './threads.js'

interface NodeThreads {
  availableCores(): number
  startWorker(): NodeWorker
}

function nodeThreads(): Promise<NodeThreads> {
  // Relative to this module, as a URL held in a variable: bundlers neither follow nor rewrite it.
  return importNodeOnly<NodeThreads>(new URL(NODE_THREADS, import.meta.url).href)
}

/** How many threads a pool gets by default: the machine's cores (at most 16), 1 outside Node. */
export async function defaultThreads(): Promise<number> {
  if (!isNode()) return 1
  try {
    return Math.max(1, Math.min(16, (await nodeThreads()).availableCores()))
  } catch {
    return 1
  }
}

/** `workers` worker threads, or undefined where there are none to have (a browser, workers < 1). */
export async function createPool(workers: number): Promise<WorkerPool | undefined> {
  if (workers < 1 || !isNode()) return undefined
  const { startWorker } = await nodeThreads()
  return new WorkerPool(Array.from({ length: workers }, startWorker))
}

export class WorkerPool {
  readonly #threads: Thread[]
  #nextThread = 0
  #nextId = 0
  #broken: Error | undefined
  /** Runs not settled yet (idle() waits for them). */
  readonly #running = new Set<Promise<void>>()

  constructor(workers: NodeWorker[]) {
    this.#threads = workers.map((worker) => {
      const thread: Thread = { worker, known: new Set(), waiting: new Map() }
      worker.on('message', (reply) => {
        const w = thread.waiting.get(reply.id)
        thread.waiting.delete(reply.id)
        if (thread.waiting.size === 0) worker.unref()
        w?.resolve(reply)
      })
      const fail = (e: Error) => {
        this.#broken ??= e
        for (const w of thread.waiting.values()) w.reject(e)
        thread.waiting.clear()
      }
      worker.on('error', fail)
      worker.on('exit', (code) => fail(new Error(`a CPU engine worker thread exited (code ${code})`)))
      // An idle pool does not keep the process alive.
      worker.unref()
      return thread
    })
  }

  get size(): number {
    return this.#threads.length
  }

  /** Why the pool stopped working (a thread died), or undefined. */
  get broken(): Error | undefined {
    return this.#broken
  }

  /**
   * Runs one part of a batch on each of `parts.length` threads (at most size of them): each part's
   * inputs and rows are SharedArrayBuffer views holding just its bindings, filled from index 0.
   */
  run(key: string, json: () => GraphJSON, jacobian: boolean, parts: readonly Part[], reference = false): Promise<void> {
    const running = this.#run(key, json, jacobian, parts, reference)
    this.#running.add(running)
    const settled = () => void this.#running.delete(running)
    running.then(settled, settled)
    return running
  }

  /** Resolves when every run started so far has settled. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#running])
  }

  async #run(key: string, json: () => GraphJSON, jacobian: boolean, parts: readonly Part[], reference: boolean): Promise<void> {
    if (this.#broken) throw this.#broken
    if (parts.length > this.#threads.length) throw new Error(`${parts.length} parts for ${this.#threads.length} threads`)
    await Promise.all(
      parts.map(async ({ inputs, rows, len }) => {
        const thread = this.#threads[this.#nextThread++ % this.#threads.length]!
        const send = (withJson: boolean) => this.#send(thread, { id: this.#nextId++, key, jacobian, reference, inputs, rows, start: 0, len, ...(withJson ? { json: json() } : {}) })
        let reply = await send(!thread.known.has(key))
        if (reply.missing) reply = await send(true)
        thread.known.add(key)
        if (reply.error !== undefined) throw new Error(reply.error)
        if (reply.missing) throw new Error('a CPU engine worker thread lost its kernel')
      }),
    )
  }

  #send(thread: Thread, request: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      thread.waiting.set(request.id, { resolve, reject })
      thread.worker.ref()
      thread.worker.postMessage(request)
    })
  }

  destroy(): void {
    this.#broken ??= new Error('the CPU engine was destroyed')
    for (const t of this.#threads) void t.worker.terminate()
  }
}
