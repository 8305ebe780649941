/**
 * `wavegrad info`. In: argv after the command. Out: the WebGPU adapter's description, features and
 * limits next to those of the device wavegrad requests, on stdout.
 */
import { createGpuEngine } from '../index.js'
import { parseCommandLine, USAGE } from './usage.js'

const out = (line = '') => process.stdout.write(`${line}\n`)

/** A GPU object for `info` (navigator.gpu, or Dawn through the optional `webgpu` package). */
async function gpuObject(): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu
  if (nav) return nav
  try {
    const mod = (await import('webgpu')) as { create: (flags: string[]) => GPU }
    return mod.create([])
  } catch {
    return undefined // createGpuEngine reports the missing package with its own message
  }
}

/** Prints the adapter and its limits (exit code 0). */
export async function infoCommand(args: string[]): Promise<number> {
  const { values: opt } = parseCommandLine(args, { help: { type: 'boolean', short: 'h' } }, false)
  if (opt.help) {
    out(USAGE)
    return 0
  }
  // Held until the process exits (Dawn footgun: a collected instance crashes the process).
  const gpu = await gpuObject()
  const engine = await createGpuEngine(gpu ? { gpu } : {})
  try {
    const adapter = gpu ? await gpu.requestAdapter() : null
    const info = adapter?.info ?? engine.device.adapterInfo
    out(`adapter       ${engine.description}`)
    if (info) {
      for (const k of ['vendor', 'architecture', 'device', 'description'] as const) if (info[k]) out(`${k.padEnd(14)}${info[k]}`)
    }
    const fallback = (adapter as { isFallbackAdapter?: boolean } | null)?.isFallbackAdapter ?? (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter
    if (fallback !== undefined) out(`fallback      ${fallback ? 'yes (a software or otherwise limited adapter)' : 'no'}`)
    out(`features      ${adapter ? [...adapter.features].sort().join(', ') || 'none' : '(adapter not available)'}`)
    out()
    const names = limitNames(adapter?.limits ?? engine.device.limits)
    const width = Math.max(...names.map((n) => n.length)) + 2
    out(`${'limit'.padEnd(width)}${'adapter'.padStart(14)}${"wavegrad's device".padStart(20)}`)
    for (const n of names) {
      const a = adapter ? String((adapter.limits as unknown as Record<string, number>)[n]) : '?'
      const d = String((engine.device.limits as unknown as Record<string, number>)[n])
      out(`${n.padEnd(width)}${a.padStart(14)}${d.padStart(20)}`)
    }
    return 0
  } finally {
    engine.destroy()
  }
}

/** Limit names of a GPUSupportedLimits (its getters live on the prototype). */
function limitNames(limits: GPUSupportedLimits): string[] {
  const names = new Set<string>()
  for (const k in limits) names.add(k)
  for (let p = Object.getPrototypeOf(limits); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) if (k !== 'constructor' && typeof (limits as unknown as Record<string, unknown>)[k] === 'number') names.add(k)
  }
  return [...names].sort()
}

