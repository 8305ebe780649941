import { defineConfig } from 'vitest/config'

// Two projects: `unit` needs no GPU; `gpu` runs on a real WebGPU adapter (Dawn in Node). In CI a
// missing adapter fails the gpu project, it never skips it.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/gpu/**'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'gpu',
          include: ['test/gpu/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          // One Dawn instance per worker; GPU tests share the software adapter's two cores.
          fileParallelism: false,
        },
      },
    ],
  },
})
