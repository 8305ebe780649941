import { playwright } from '@vitest/browser-playwright'
import { defineConfig } from 'vitest/config'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './test/chromium.js'


// Three projects: `unit` needs no GPU; `gpu` runs on a real WebGPU adapter (Dawn in Node);
// `browser` runs in headless Chromium on its SwiftShader adapter (navigator.gpu). In CI a missing
// adapter or browser fails its project, it never skips it.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/gpu/**', 'test/browser/**'],
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
          // Heap bounds are asserted after a full collection.
          execArgv: ['--expose-gc'],
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          // SwiftShader compiles and runs every kernel on the CPU.
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          browser: {
            enabled: true,
            headless: true,
            // The page and its API are served on the loopback interface only.
            api: { host: '127.0.0.1' },
            screenshotFailures: false,
            connectTimeout: 120_000,
            instances: [{ browser: 'chromium' }],
            provider: playwright({ launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS } }),
          },
        },
      },
    ],
  },
})
