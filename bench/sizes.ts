/**
 * npx tsx bench/sizes.ts: how big derivative graphs get. For every program and shape of
 * bench/shapes.ts: live nodes of the graph, of its Jacobian program (the forward nodes plus one
 * reverse sweep per output: what every engine evaluates) and of gradientGraph (the reverse sweeps
 * alone, as users get them), the ratios, and the build time. Writes bench/SIZES.md. Not a test:
 * test/core/shapes.test.ts holds the Jacobian program to 4x the graph per output.
 */
import { writeFileSync } from 'node:fs'
import { gradientGraph, levelize, programOf } from '../src/index.js'
import { PROGRAMS, SHAPES } from './shapes.js'

const header = ['graph', 'outputs', 'nodes', 'Jacobian program', 'ratio', 'per output', 'gradientGraph', 'ratio', 'build ms']
const rows: string[][] = []
let worst = 0
for (const shape of [...PROGRAMS, ...SHAPES]) {
  const g = shape.build()
  const nodes = levelize(g).liveCount
  const t = performance.now()
  const program = programOf(g).levels.liveCount
  const ms = performance.now() - t
  const grad = levelize(gradientGraph(g)).liveCount
  const perOutput = program / nodes / g.outputs.length
  worst = Math.max(worst, perOutput)
  rows.push([shape.name, String(g.outputs.length), String(nodes), String(program), `${(program / nodes).toFixed(2)}x`, `${perOutput.toFixed(2)}x`, String(grad), `${(grad / nodes).toFixed(2)}x`, ms.toFixed(0)])
  console.log(rows[rows.length - 1]!.join('  '))
}
const table = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
writeFileSync(new URL('./SIZES.md', import.meta.url), `# Derivative graph sizes

Written by \`npx tsx bench/sizes.ts\` on ${new Date().toISOString().slice(0, 10)}. "nodes": live nodes of the graph;
"Jacobian program": what every engine evaluates for values and full Jacobians (the graph's nodes,
then one reverse sweep per output as \`gmadd\` chains, partials shared between outputs);
"gradientGraph": the public transformation (the sweeps alone, with the forward nodes they read).
"per output": the program's ratio divided by the number of outputs; the largest here is
${worst.toFixed(2)}x (test/core/shapes.test.ts holds every one of these to 4x). "build ms": programOf,
from the graph to its levelized program.

${table}
`)
