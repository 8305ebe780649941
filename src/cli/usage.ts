/**
 * The command line of `wavegrad`. In: argv after the command. Out: typed option values, or a
 * UsageError (exit code 2) that names the mistake and, for a misspelt option, command or input
 * name, the closest known one ("did you mean '--batch'?"). Also the --help text.
 */
import { parseArgs } from 'node:util'

/** A command line that cannot be run as written (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError'
}

export const USAGE = `wavegrad — values and Jacobians of expression programs for many input bindings, on WebGPU

Usage:
  wavegrad eval <program | file> --batch N [options]      generated inputs
  wavegrad eval <program | file> --inputs FILE [--inputs NAME=FILE ...] [options]
  wavegrad info                                            the WebGPU adapter, its limits and features
  wavegrad help | --help | --version

The program is text ("f = (1-x)^2 + 100*(y-x^2)^2"; lines or ';' separate assignments) or the
path of a file holding it ('-' reads standard input). Names never assigned are inputs; names
declared with 'param' are parameters (one number for the whole batch, gradients summed over it).

eval options:
  -b, --batch N          evaluate N bindings (1000, 1e6, 2^20) of generated inputs: each input is
                         uniform in [-1, 1] unless --range says otherwise, float32, from a seeded
                         generator (the same --seed gives the same numbers everywhere)
      --range SPEC       name=lo:hi for one input, lo:hi (write --range=-2:2) for all others;
                         repeatable. lo:lo fixes an input at lo
      --seed N           seed of the generated inputs (default 1)
  -i, --inputs FILE      bindings from files instead (repeatable; the columns of all of them):
                           .csv   a header of input names, then rows: x,y / 1,2 / 3,4
                           .json  columns {"x": [1, 3], "a": 0.5} (a number is shared by every
                                  binding), rows [{"x": 1, "y": 2}, ...], or a results file of --out
                           .npy   a structured array, a field per input (what --out x.npy writes)
                           NAME=FILE  one input from a 1-D .npy ('<f4' or '<f8') or raw .f32 file
                                  (little-endian float32): --inputs x=x.npy --inputs y=y.f32
                           -      standard input: .npy, JSON or CSV, told apart by their first bytes
                         A results file (--out) reads back as inputs: its result columns are skipped
      --set NAME=X       bind input NAME to the number X for every binding (parameters, constants);
                         repeatable; overrides a column of the same name in --inputs files
      --allow-nan        let NaN and ±Infinity in input files through (default: an error naming
                         the file, line and column); the engines propagate them per binding
  -o, --out FILE         write inputs, values and Jacobians to FILE, by extension:
                           .csv   columns x, y, f, df/dx, df/dy (float32 numbers in their shortest
                                  round-trip form)
                           .npy   one structured array, a field per column ('<f4' from float32
                                  backends, '<f8' from --backend cpu): r = np.load('r.npy'); r['df/dx']
                           .json  {backend, size, inputs, values, jacobian, gradients}
                         without --out the first rows are printed. Parameter gradients (sums over
                         the batch) are printed, and written to .json files
      --show N           rows to print without --out (default 10)
      --backend B        gpu (default: WebGPU, float32), cpu (compiled JavaScript, float64) or auto
                         (GPU or CPU threads per run, by a measured cost model; float32)
      --tier T           GPU kernel: fused (default), interpreter or auto
      --check            compare with the float64 reference (evaluateCpu) on up to 65,536 bindings
                         spread evenly over the batch; prints the max scaled error
      --check-all        the same on every binding (the reference is slow: ~10^5-10^6 bindings/s)
      --tolerance X      --check fails (exit 1) above this error (default 1e-3 gpu/auto, 1e-9 cpu)
      --max-memory M     refuse (exit 1) a run whose inputs, results and buffers need more host
                         memory than M: bytes, 512M, 12G, or 50% of the total (default: 3/4 of
                         the memory available when the run starts)
      --progress         always draw the progress bar (default: on a terminal, after 1 s)
      --no-progress      never draw it

Examples:
  wavegrad eval "f = (1-x)^2 + 100*(y-x^2)^2" --batch 2^20 --range x=-2:2 --range y=-1:3 --check
  wavegrad eval model.wg --inputs points.csv --out results.npy --backend cpu
  wavegrad eval model.wg --inputs x=x.npy --inputs y=y.f32 --set w=0.5 --out results.csv
  wavegrad info`

export const EVAL_OPTIONS = {
  batch: { type: 'string', short: 'b' },
  range: { type: 'string', multiple: true },
  seed: { type: 'string' },
  inputs: { type: 'string', short: 'i', multiple: true },
  set: { type: 'string', multiple: true },
  'allow-nan': { type: 'boolean' },
  out: { type: 'string', short: 'o' },
  show: { type: 'string' },
  backend: { type: 'string' },
  tier: { type: 'string' },
  check: { type: 'boolean' },
  'check-all': { type: 'boolean' },
  tolerance: { type: 'string' },
  'max-memory': { type: 'string' },
  progress: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

type Options = Parameters<typeof parseArgs>[0] & { options: Record<string, { type: 'string' | 'boolean' }> }

/** What parseCommandLine returns for options O: their values, and the positionals. */
export type CommandLine<O extends Options['options']> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>>

/**
 * parseArgs, with a misspelt option answered by the closest known one.
 *
 * @example
 * parseCommandLine(['--bach', '3'], EVAL_OPTIONS)   // UsageError: unknown option '--bach'; did you mean '--batch'?
 */
export function parseCommandLine<O extends Options['options']>(args: string[], options: O, allowPositionals = true): CommandLine<O> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true })
  } catch (e) {
    const code = (e as { code?: string }).code
    const unknown = /Unknown option '(-{1,2}[^']*)'/.exec((e as Error).message)?.[1]
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== undefined) {
      const names = Object.keys(options).map((n) => `--${n}`)
      throw new UsageError(`unknown option '${unknown}'${didYouMean(unknown.split('=')[0]!, names)}`)
    }
    if (code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message)
    throw e
  }
}

/** `; did you mean 'x'?` when a known name is a likely typo of `name`; '' otherwise. */
export function didYouMean(name: string, known: readonly string[]): string {
  const best = closest(name, known)
  return best === undefined ? '' : `; did you mean '${best}'?`
}

/**
 * The known name nearest to `name` by edit distance, if it is near enough to be a typo (at most
 * 2 edits, fewer for short names, never the whole name).
 *
 * @example
 * closest('--bach', ['--batch', '--backend'])   // '--batch'
 */
export function closest(name: string, known: readonly string[]): string | undefined {
  const core = name.replace(/^-+/, '')
  const limit = Math.min(2, Math.max(1, Math.floor(core.length / 3)))
  let best: string | undefined
  let bestDistance = Infinity
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase())
    if (d < bestDistance) [best, bestDistance] = [k, d]
  }
  return bestDistance <= limit && bestDistance < core.length ? best : undefined
}

/** Levenshtein distance with adjacent transpositions counted as one edit. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}
