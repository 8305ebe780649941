#!/usr/bin/env bash
# Makes sure Node has a WebGPU adapter before tests, benchmarks or `npm start` run. With none: as
# root, installs the software Vulkan driver (scripts/install-driver.sh); otherwise stops with the
# exact command to run. Never skips: the GPU tests must run for real.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if node "$here/probe-adapter.mjs" 2>/dev/null; then exit 0; fi
echo "ensure-driver: no WebGPU adapter found; wavegrad needs one (a GPU, or the Mesa lavapipe software driver)." >&2
if [[ $(id -u) -eq 0 ]]; then
  bash "$here/install-driver.sh"
  node "$here/probe-adapter.mjs" && exit 0
  echo "ensure-driver: still no adapter after installing the driver" >&2
  exit 1
fi
echo "ensure-driver: run this once as root, then try again:" >&2
echo "  sudo bash $here/install-driver.sh" >&2
exit 1
