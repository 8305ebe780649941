/**
 * The part every wavegrad compute shader shares: the WGSL helpers it calls (from shaders/*.wgsl)
 * and group 0, the bindings of gpu/buffers.ts (inputs, results, params, steps).
 */
import { CUSTOM_HELPERS } from '../ops.js'
import { SHADERS } from './shaders.gen.js'

export function wgslPrelude(helpers: Iterable<string>): string[] {
  return [
    ...[...new Set(helpers)].sort().map((h) => (SHADERS[h] ?? CUSTOM_HELPERS.get(h)!).trimEnd()),
    'struct Params { n: u32, stride: u32, row: u32, pad: u32 }',
    '@group(0) @binding(0) var<storage, read> inputs: array<f32>;',
    '@group(0) @binding(1) var<storage, read_write> results: array<f32>;',
    '@group(0) @binding(2) var<uniform> params: Params;',
    '@group(0) @binding(3) var<storage, read> steps: array<u32>;',
  ]
}
