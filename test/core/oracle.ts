/**
 * The independent oracle's interpreter for the core suite. Kept apart from helpers.ts because it
 * spawns processes (node:child_process): helpers.ts is also imported by the browser suite, where
 * Node built-ins do not exist.
 */
import { spawnSync } from 'node:child_process'
import { expect } from 'vitest'

/**
 * A Python interpreter with sympy and mpmath (the independent oracle): $WAVEGRAD_PYTHON, python3 on
 * PATH, or Debian's /usr/bin/python3 (apt-get install -y python3-sympy). Fails loudly if none has
 * them: an oracle test that cannot run must not pass.
 *
 * @example
 * spawnSync(oraclePython(), ['-c', 'import sympy; print(sympy.pi.evalf(30))'])
 */
export function oraclePython(): string {
  const candidates = [process.env.WAVEGRAD_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p)
  for (const p of candidates) {
    const r = spawnSync(p, ['-c', 'import sympy, mpmath'], { encoding: 'utf8' })
    if (r.status === 0) return p
  }
  return expect.fail(`no Python with sympy and mpmath among ${candidates.join(', ')}: run scripts/ensure-oracle.sh (apt-get install -y python3-sympy)`)
}
