import { expect, test } from 'vitest'
import { Value } from '../../src/index.js'

test('seed example through Value', () => {
  const a = new Value(3)
  const e = a.mul(4).add(3).mul(a.add(2))
  e.backward()
  expect(e.data).toBe(75)
  expect(a.grad).toBe(35)
})
