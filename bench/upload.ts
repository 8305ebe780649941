/**
 * The engine option `upload` on this adapter: 'writeBuffer' (the default on a software adapter)
 * against 'staging' (a mapped buffer per slot, kept and reused; the default on a GPU), two engines on one device, interleaved runs, the same graphs
 * and inputs. Prints the median end-to-end run and the profiled upload/dispatch/readback split;
 * asserts nothing (the test is test/gpu/upload.test.ts).
 *
 *   tsx bench/upload.ts
 */
import { createGpuEngine, parse } from '../src/index.js'

const REPS = 9
const staging = await createGpuEngine({ upload: 'staging' })
const writeBuffer = await createGpuEngine({ upload: 'writeBuffer', device: staging.device })
console.log(`adapter: ${staging.description}`)
console.log('| graph | B | upload | run ms | upload / dispatch / readback ms (profiled) |')
console.log('|---|---|---|---|---|')
for (const source of ['e = (a*4 + 3)*(a + 2)', 'f = a*b + c*d']) {
  const g = parse(source)
  for (const B of [1 << 16, 1 << 20, 1 << 22]) {
    const bindings = Object.fromEntries(g.inputs.map((n, i) => [n, Float32Array.from({ length: B }, (_, j) => ((j * 7 + i) % 101) / 50 - 1)]))
    const runs: Record<string, number[][]> = { writeBuffer: [], staging: [] }
    for (let rep = 0; rep < REPS; rep++) {
      for (const [name, engine] of [['writeBuffer', writeBuffer], ['staging', staging]] as const) {
        const t = performance.now()
        await engine.evaluate(g, bindings)
        const ms = performance.now() - t
        const p = (await engine.evaluate(g, bindings, { profile: true })).timings!
        runs[name]!.push([ms, p.upload, p.dispatch, p.readback])
      }
    }
    for (const [name, rows] of Object.entries(runs)) {
      // The first two repetitions warm up (pipelines, buffers).
      const med = (i: number) => rows.slice(2).map((r) => r[i]!).sort((x, y) => x - y)[(rows.length - 2) >> 1]!.toFixed(1)
      console.log(`| ${source} | 2^${Math.log2(B)} | ${name} | ${med(0)} | ${med(1)} / ${med(2)} / ${med(3)} |`)
    }
  }
}
writeBuffer.destroy()
staging.destroy()
