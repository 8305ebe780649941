/**
 * The wavefront-parallel prototype's tables. In: a levelized graph and the batch size B. Out: the
 * records, edges and per-dispatch uniform windows the shader (shader.ts) runs: forward, one or more
 * dispatches per wavefront (level 1 .. depth), workgroups holding nodes of one op; reverse, one or
 * more per level (depth .. 0) over the active nodes, workgroup z = output index.
 *
 * Rows: a live node's row is its index in levels.order (inputs and constants are rows of level 0,
 * so the inputs are uploaded straight into vals and constants written once). A partial row exists
 * for each edge into an active argument whose partial is not zero by definition.
 */
import type { Levels } from '../../src/levelize.js'
import { isZeroPartial, OP_NAMES, type OpName } from '../../src/ops.js'
import { NONE, REVERSE, WAVE_WORKGROUP, WINDOW_BYTES, WINDOW_ENTRIES } from './shader.js'

export interface Dispatch {
  /** Byte offset of this dispatch's window in the windows buffer (a multiple of 256). */
  readonly offset: number
  readonly x: number
  readonly y: number
  readonly z: number
}

export interface Schedule {
  readonly B: number
  /** Live nodes (rows of vals, and of adj per output). */
  readonly N: number
  /** Partial rows. */
  readonly P: number
  readonly recs: Uint32Array<ArrayBuffer>
  readonly edges: Uint32Array<ArrayBuffer>
  readonly windows: Uint32Array<ArrayBuffer>
  readonly forward: readonly Dispatch[]
  readonly reverse: readonly Dispatch[]
  /** Row of each input (graph.inputs order) and of each output's node. */
  readonly inputRows: readonly number[]
  readonly outputRows: readonly number[]
  readonly constants: readonly { readonly row: number; readonly value: number }[]
}

const opCode = new Map<OpName, number>(OP_NAMES.map((n, i) => [n, i]))

export function buildSchedule(levels: Levels, B: number, divergent = false): Schedule {
  const { graph, order, levelStart, consumerStart, consumers, consumerSlot, active, depth } = levels
  const N = order.length
  const row = new Int32Array(graph.nodeCount).fill(-1)
  order.forEach((id, i) => (row[id] = i))
  const shift = Math.min(7, Math.ceil(Math.log2(Math.max(B, 1))))
  const bw = 1 << shift
  const npw = WAVE_WORKGROUP / bw
  const chunksY = Math.ceil(B / bw)
  const K = graph.outputs.length
  if (K > 32) throw new RangeError('the prototype seeds at most 32 outputs')

  // Partial rows per (consumer, slot).
  const prow = new Map<number, number>()
  let P = 0
  for (const id of order) {
    const kind = graph.kind(id)
    if (kind === 'input' || kind === 'const') continue
    graph.args(id).forEach((a, s) => {
      if (active[a] && !isZeroPartial(kind as OpName, s)) prow.set(id * 4 + s, P++)
    })
  }

  const recs: number[] = []
  const edges: number[] = []
  const windows: number[] = []
  const forward: Dispatch[] = []
  const reverse: Dispatch[] = []
  const emitWindows = (list: number[][], z: number, into: Dispatch[]) => {
    for (let at = 0; at < list.length; at += WINDOW_ENTRIES) {
      const part = list.slice(at, at + WINDOW_ENTRIES)
      const offset = windows.length * 4
      windows.push(B, shift, N, 0)
      for (const e of part) windows.push(...e)
      while ((windows.length * 4) % 256) windows.push(0)
      into.push({ offset, x: part.length, y: chunksY, z })
    }
  }

  for (let l = 1; l <= depth; l++) {
    const ids = Array.from(order.subarray(levelStart[l]!, levelStart[l + 1]!))
    const groups = new Map<number, number[]>()
    for (const id of ids) {
      const code = divergent ? 0 : opCode.get(graph.kind(id) as OpName)!
      let g = groups.get(code)
      if (!g) groups.set(code, (g = []))
      g.push(id)
    }
    const entries: number[][] = []
    for (const [code, g] of groups) {
      for (let at = 0; at < g.length; at += npw) {
        const part = g.slice(at, at + npw)
        entries.push([code, recs.length / 4, part.length, 0])
        for (const id of part) {
          const args = graph.args(id).map((a) => row[a]!)
          const p = [0, 1, 2].map((s) => prow.get(id * 4 + s) ?? NONE)
          recs.push(row[id]!, args[0]!, args[1] ?? args[0]!, args[2] ?? args[0]!, p[0]!, p[1]!, p[2]!, opCode.get(graph.kind(id) as OpName)!)
        }
      }
    }
    emitWindows(entries, 1, forward)
  }

  const outputRows = graph.outputs.map((o) => row[graph.outputNode(o)]!)
  for (let l = depth; l >= 0; l--) {
    const ids = Array.from(order.subarray(levelStart[l]!, levelStart[l + 1]!)).filter((id) => active[id])
    const entries: number[][] = []
    for (let at = 0; at < ids.length; at += npw) {
      const part = ids.slice(at, at + npw)
      entries.push([REVERSE, recs.length / 4, part.length, 0])
      for (const id of part) {
        const first = edges.length / 2
        for (let e = consumerStart[id]!; e < consumerStart[id + 1]!; e++) {
          const p = prow.get(consumers[e]! * 4 + consumerSlot[e]!)
          if (p !== undefined) edges.push(row[consumers[e]!]!, p)
        }
        let seeds = 0
        outputRows.forEach((r, k) => {
          if (r === row[id]) seeds |= 1 << k
        })
        recs.push(row[id]!, first, edges.length / 2 - first, seeds >>> 0)
      }
    }
    emitWindows(entries, K, reverse)
  }
  // The last window is bound with WINDOW_BYTES whatever its length.
  const last = Math.max(0, ...[...forward, ...reverse].map((d) => d.offset))
  const windowWords = new Uint32Array((last + WINDOW_BYTES) / 4)
  windowWords.set(windows)

  const constants: { row: number; value: number }[] = []
  for (const id of order) if (graph.kind(id) === 'const') constants.push({ row: row[id]!, value: graph.constValue(id) })
  return {
    B, N, P,
    recs: Uint32Array.from(recs.length ? recs : [0, 0, 0, 0]),
    edges: Uint32Array.from(edges.length ? edges : [0, 0]),
    windows: windowWords,
    forward, reverse,
    inputRows: graph.inputs.map((n) => row[graph.inputNode(n)]!),
    outputRows,
    constants,
  }
}
