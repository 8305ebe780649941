#!/usr/bin/env node
/**
 * The `wavegrad` command. In: argv. Out: values and Jacobians of a program for a batch of input
 * bindings (printed, or written as CSV, .npy or JSON), with throughput, the adapter, and on request
 * the max error against the float64 reference; or the adapter's description, limits and features.
 *
 *   wavegrad eval <program | file> (--batch N | --inputs FILE ...) [--out results.csv|npy|json]
 *                 [--backend gpu|cpu|auto] [--set NAME=X] [--check] ...      eval.ts
 *   wavegrad info                                                            info.ts
 *
 * Node only (file system, process): nothing in src/index.ts imports this folder, so the browser
 * bundle never sees it. Exit codes: 0 done, 1 failed (bad program or file, not enough memory, no
 * device, check above tolerance), 2 bad command line. User errors print one message, no stack.
 */
import { readFileSync } from 'node:fs'
import { WavegradError } from '../index.js'
import { InputError } from './columns.js'
import { evalCommand } from './eval.js'
import { infoCommand } from './info.js'
import { MemoryError } from './memory.js'
import { didYouMean, UsageError, USAGE } from './usage.js'

const COMMANDS = ['eval', 'info', 'help']

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`)
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`)
    return 0
  }
  if (command === 'eval') return evalCommand(rest)
  if (command === 'info') return infoCommand(rest)
  throw new UsageError(`unknown command '${command}' (commands: ${COMMANDS.join(', ')})${didYouMean(command, COMMANDS)}`)
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function report(e: unknown): number {
  const err = process.stderr
  if (e instanceof UsageError) {
    err.write(`wavegrad: ${e.message}\nRun 'wavegrad --help' for usage.\n`)
    return 2
  }
  if (e instanceof InputError || e instanceof MemoryError) {
    err.write(`wavegrad: ${e.message}\n`)
    return 1
  }
  if (e instanceof WavegradError) {
    err.write(`wavegrad: ${e.name}: ${e.message}\n`)
    return 1
  }
  // A typed array or buffer the memory check did not foresee: still no stack for the user.
  if (e instanceof RangeError && /Array buffer allocation failed|Invalid typed array length|Invalid array length|string longer than/i.test(e.message)) {
    err.write(`wavegrad: out of memory: ${e.message} (lower --batch, or see --max-memory)\n`)
    return 1
  }
  err.write(`wavegrad: internal error: ${(e as Error)?.stack ?? String(e)}\n`)
  return 1
}

let code: number
try {
  code = await main(process.argv.slice(2))
} catch (e) {
  code = report(e)
}
// Dawn's instance can keep the event loop alive after destroy(); stdout and stderr are synchronous
// for files, pipes and terminals on Linux, so nothing printed is lost.
process.exit(code)
