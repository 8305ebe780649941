/**
 * The background build queue (gpu/builds.ts): one build at a time, the most recently asked first;
 * steps wait while a graph waits for its first result and for the quiet period after it; dropped
 * and closed builds never start; an owner taken out runs at once.
 */
import { describe, expect, test } from 'vitest'
import { BuildQueue } from '../../src/gpu/builds.js'

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms))

/** A first run that lasts until `release` is called. */
function heldRun(queue: BuildQueue): { release: () => void; done: Promise<void> } {
  let release!: () => void
  const done = queue.firstRun(() => new Promise<void>((resolve) => (release = resolve)))
  return { release: () => release(), done }
}

describe('BuildQueue', () => {
  test('one build runs at a time, the most recently added first', async () => {
    const queue = new BuildQueue(0)
    const log: string[] = []
    const gates: Record<string, () => void> = {}
    const build = (name: string) => async () => {
      log.push(`start ${name}`)
      await new Promise<void>((resolve) => (gates[name] = resolve))
      log.push(`end ${name}`)
    }
    queue.add({}, build('a'), () => undefined)
    queue.add({}, build('b'), () => undefined)
    queue.add({}, build('c'), () => undefined)
    expect(queue.pending).toBe(3)
    await tick()
    expect(log).toEqual(['start a'])
    gates.a!()
    await tick()
    expect(log).toEqual(['start a', 'end a', 'start c'])
    gates.c!()
    await tick()
    gates.b!()
    await tick()
    expect(log).toEqual(['start a', 'end a', 'start c', 'end c', 'start b', 'end b'])
    expect(queue.pending).toBe(0)
  })

  test('quiet() waits for first runs in flight and the quiet period after the last one', async () => {
    const queue = new BuildQueue(60)
    let quiet = false
    const run = heldRun(queue)
    void queue.quiet().then(() => (quiet = true))
    await tick(100)
    expect(quiet).toBe(false) // a first run is in flight
    run.release()
    await run.done
    await tick(20)
    expect(quiet).toBe(false) // within the quiet period
    await tick(80)
    expect(quiet).toBe(true)
    // Quiet now: at once.
    await expect(Promise.race([queue.quiet().then(() => 'quiet'), tick(5).then(() => 'waiting')])).resolves.toBe('quiet')
  })

  test('a first run that fails still ends (builds are not held forever)', async () => {
    const queue = new BuildQueue(0)
    await expect(queue.firstRun(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    await expect(Promise.race([queue.quiet().then(() => 'quiet'), tick(50).then(() => 'waiting')])).resolves.toBe('quiet')
  })

  test('dropped builds never start and are cancelled; take() hands a queued build to the caller; close() cancels what waits, starts nothing more and releases waiters', async () => {
    const queue = new BuildQueue(0)
    const started: string[] = []
    let releaseFirst!: () => void
    const a = {}
    const b = {}
    const c = {}
    const cancelled: string[] = []
    queue.add(a, () => new Promise<void>((resolve) => ((releaseFirst = resolve), started.push('a'))), () => cancelled.push('a'))
    queue.add(b, async () => void started.push('b'), () => cancelled.push('b'))
    queue.add(c, async () => void started.push('c'), () => cancelled.push('c'))
    queue.drop(b)
    queue.drop(a) // running: not dropped
    expect(cancelled).toEqual(['b'])
    const taken = queue.take(c)
    expect(taken).toBeDefined()
    expect(queue.take(c)).toBeUndefined()
    await taken!()
    expect(started).toEqual(['a', 'c'])
    releaseFirst()
    await tick()
    expect(started).toEqual(['a', 'c'])
    expect(queue.pending).toBe(0)
    expect(cancelled).toEqual(['b'])

    const closing = new BuildQueue(10_000)
    const run = heldRun(closing)
    let released = false
    let releaseRunning!: () => void
    closing.add({}, () => new Promise<void>((resolve) => (releaseRunning = resolve)), () => cancelled.push('running'))
    closing.add({}, async () => void started.push('never'), () => cancelled.push('waiting'))
    void closing.quiet().then(() => (released = true))
    closing.close()
    await tick()
    expect(released).toBe(true)
    releaseRunning()
    await tick()
    closing.add({}, async () => void started.push('never'), () => cancelled.push('after close'))
    await tick()
    expect(started).not.toContain('never')
    expect(cancelled).toEqual(['b', 'waiting', 'after close'])
    run.release()
    await run.done
  })
})
