/**
 * Node only (pool.ts loads it through node-only.ts, never a bundler): the machine's cores and the
 * CPU engine's worker threads. From the built package a thread runs worker.js. From source (tests,
 * tsx) it runs worker.ts, which a thread can load only after registering tsx's loader in it
 * (Node 20 threads do not inherit the main thread's loader hooks).
 */
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { NodeWorker } from './pool.js'

export function availableCores(): number {
  return availableParallelism()
}

const fromSource = import.meta.url.endsWith('.ts')

export function startWorker(): NodeWorker {
  if (!fromSource) return new Worker(new URL('./worker.js', import.meta.url)) as unknown as NodeWorker
  const api = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href
  const worker = new URL('./worker.ts', import.meta.url).href
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(worker)}) })`
  return new Worker(code, { eval: true }) as unknown as NodeWorker
}
