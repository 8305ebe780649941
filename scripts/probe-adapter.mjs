// Exits 0 and prints the adapter when Node's `webgpu` package (Dawn) finds a WebGPU adapter; exits
// 1 otherwise. Used by scripts/ensure-driver.sh before tests, benchmarks and `npm start`.
import { create } from 'webgpu'

const gpu = create([])
const adapter = await gpu.requestAdapter()
if (!adapter) {
  console.error('probe-adapter: no WebGPU adapter')
  process.exit(1)
}
const { vendor, architecture, description } = adapter.info
console.log(`probe-adapter: ${[vendor, architecture, description].filter(Boolean).join(' ')}`)
process.exit(0)
