/**
 * Debian's Chromium for the browser tests (apt-get install -y chromium; Playwright never downloads a
 * browser here) and its flags for WebGPU without a GPU: SwiftShader (Vulkan on the CPU) as the
 * adapter, and nothing that reaches the network.
 */
export const CHROMIUM_PATH = '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

/**
 * Also needed to draw: without them headless Chromium 156 runs compute shaders but loses the device
 * ("A valid external Instance reference no longer exists") at the first present of a WebGPU canvas.
 */
export const CHROMIUM_CANVAS_ARGS = ['--use-angle=swiftshader', '--use-vulkan=swiftshader']
