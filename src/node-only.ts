/**
 * The one place wavegrad imports Node-only modules (the `webgpu` package, the CPU engine's worker
 * threads): by a specifier held in a variable, so no bundler follows it and a browser user never
 * downloads Dawn or meets `node:` built-ins. Call it only where isNode() holds.
 */
export function importNodeOnly<T>(specifier: string): Promise<T> {
  return import(/* @vite-ignore */ specifier) as Promise<T>
}

/** Whether this is Node (where `webgpu` and worker threads may exist). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process
  return typeof p?.versions?.node === 'string'
}
