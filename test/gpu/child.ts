/**
 * Child processes for the tests that run what users run (README blocks, examples): Node only, so
 * apart from setup.ts, which the browser project imports too.
 */
import { spawn } from 'node:child_process'

/** A child process's exit code and output, awaited without blocking the event loop. */
export function runChild(command: string, args: readonly string[], options: { readonly cwd: string; readonly timeoutMs: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}
