/**
 * Device acquisition. In: options (a caller's GPUDevice, or adapter preferences). Out: a GPUDevice
 * with the largest buffer limits its adapter offers, a description of the adapter, and a keep-alive
 * reference to whatever owns the adapter.
 *
 * Where: a caller's device first; else navigator.gpu (browsers, Deno); else, in Node, the optional
 * `webgpu` package (Dawn), loaded by a dynamic import that bundlers leave alone, so a browser user
 * never downloads it. The object `create()` returns is kept for the device's lifetime: if it is
 * garbage-collected, Dawn tears its instance down under running work and the process crashes.
 */
import { importNodeOnly, isNode } from '../node-only.js'
import { DeviceError } from './errors.js'

export interface DeviceOptions {
  /** Use this device (the caller keeps ownership; destroy() will not destroy it). */
  readonly device?: GPUDevice
  readonly powerPreference?: GPUPowerPreference
  /** Dawn toggles etc. passed to the `webgpu` package's create() in Node. */
  readonly dawnFlags?: readonly string[]
  /** Use this GPU object instead of navigator.gpu / the `webgpu` package (e.g. another Dawn instance). */
  readonly gpu?: GPU
}

export interface AcquiredDevice {
  readonly device: GPUDevice
  /** e.g. "webgpu: mesa software llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)". */
  readonly description: string
  readonly owned: boolean
  /** A CPU implementation of WebGPU (lavapipe/llvmpipe, SwiftShader, WARP): see isSoftwareAdapter. */
  readonly software: boolean
  /** Held only so the garbage collector cannot reclaim it (see the Dawn note above). */
  readonly keepAlive: unknown
}

/** The command that installs the software driver on Debian (see scripts/install-driver.sh). */
export const INSTALL_HINT = 'sudo bash node_modules/wavegrad/scripts/install-driver.sh  (or, in the wavegrad repo: sudo bash scripts/install-driver.sh)'

const NODE_PACKAGE = 'webgpu'

export async function acquireDevice(options: DeviceOptions = {}): Promise<AcquiredDevice> {
  if (options.device) {
    const info = options.device.adapterInfo
    return { device: options.device, description: `webgpu: ${describeAdapterInfo(info) || "caller's device"}`, owned: false, software: isSoftwareAdapter(info), keepAlive: undefined }
  }
  let gpu: GPU | undefined = options.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu
  let keepAlive: unknown = gpu
  if (!gpu && isNode()) {
    let mod: { create: (flags: string[]) => GPU }
    try {
      mod = await importNodeOnly<typeof mod>(NODE_PACKAGE)
    } catch (e) {
      throw new DeviceError(`WebGPU in Node needs the optional 'webgpu' package (Dawn): npm install webgpu (${(e as Error).message})`, 'no-adapter')
    }
    gpu = mod.create([...(options.dawnFlags ?? [])])
    keepAlive = gpu
  }
  if (!gpu) throw new DeviceError('this environment has no WebGPU (navigator.gpu is undefined); use a browser with WebGPU enabled, or Node with the webgpu package', 'no-adapter')
  const adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {})
  if (!adapter) {
    // The software driver is a Node-on-Linux remedy; a browser's user can only change browser or settings.
    const remedy = isNode()
      ? `Without a GPU, install the software Vulkan driver (Mesa lavapipe 25 from bookworm-backports): ${INSTALL_HINT}`
      : 'The browser offers WebGPU but no adapter: its GPU may be blocklisted or hardware acceleration turned off (chrome://gpu says which); another browser or machine may have one'
    throw new DeviceError(`no WebGPU adapter found. ${remedy}`, 'no-adapter')
  }
  const wanted = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension', 'maxComputeInvocationsPerWorkgroup'] as const
  const requiredLimits: Record<string, number> = {}
  for (const k of wanted) requiredLimits[k] = adapter.limits[k]
  const device = await adapter.requestDevice({ requiredLimits })
  return { device, description: `webgpu: ${describeAdapterInfo(adapter.info)}`, owned: true, software: isSoftwareAdapter(adapter.info), keepAlive: [gpu, adapter, keepAlive] }
}

/**
 * Whether an adapter runs WebGPU on the CPU: the fallback adapter, or Mesa's llvmpipe/lavapipe,
 * SwiftShader or WARP by name (Dawn reports llvmpipe as architecture "software", Chromium reports
 * SwiftShader as architecture "swiftshader"). Its compiles are slow per pipeline, so it gets
 * bigger fused kernels (plan.ts COST_BUDGET against HARDWARE_COST_BUDGET).
 */
export function isSoftwareAdapter(info: GPUAdapterInfo | undefined): boolean {
  if (!info) return false
  if ((info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true) return true
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ')
  return /software|llvmpipe|lavapipe|swiftshader|\bwarp\b|microsoft basic render/i.test(text)
}

function describeAdapterInfo(info: GPUAdapterInfo | undefined): string {
  if (!info) return ''
  const parts = [info.vendor, info.architecture, info.description].filter((s) => typeof s === 'string' && s.length > 0)
  return parts.join(' ')
}

