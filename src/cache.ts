/**
 * Caches of what is derived from a Graph: its levels, the programs engines evaluate, transformed
 * graphs, an engine's kernels. In: a graph, a key, and how to build the entry. Out: the entry built
 * for the graph as it is now.
 *
 * Invariants: an entry lives as long as its graph (a WeakMap) and is rebuilt once the graph changed
 * since it was built (Graph.version); a build that throws leaves nothing behind.
 */
import type { Graph } from './graph.js'

/** `cache(graph, key, build)`: the entry for (graph, key), built now if missing or stale. */
export type PerGraph<T> = (graph: Graph, key: string, build: () => T) => T

/**
 * A new per-graph cache.
 *
 * @example
 * const programs = perGraph<Program>()
 * programs(g, 'jacobian', () => buildProgram(g))   // built once per version of g
 */
export function perGraph<T>(): PerGraph<T> {
  const entries = new WeakMap<Graph, Map<string, { version: number; value: T }>>()
  return (graph, key, build) => {
    let byKey = entries.get(graph)
    const hit = byKey?.get(key)
    if (hit && hit.version === graph.version) return hit.value
    const version = graph.version
    const value = build()
    if (!byKey) entries.set(graph, (byKey = new Map()))
    byKey.set(key, { version, value })
    return value
  }
}
