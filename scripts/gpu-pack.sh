#!/usr/bin/env bash
# Prepares what scripts/gpu-check.sh carries to a lent GPU machine (no Node, no network there):
# .gpu/node.xz (this Node binary), .gpu/nm.tar.xz (node_modules without source maps, .d.ts,
# typescript and other platforms' Dawn) and .gl/*.deb (the Vulkan loader and glvnd, amd64). Both
# folders are listed in .git/info/exclude. Together ~55 MiB of the device tool's 64 MiB.
# Then: device run with carry [".gl", ".gpu"] and command "bash scripts/gpu-check.sh".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for d in /.gl/ /.gpu/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude; done
mkdir -p .gpu .gl /tmp/amd64/partial
xz -T0 -6 -c "$(command -v node)" >.gpu/node.xz
tar -c --exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' \
  --exclude='node_modules/webgpu/dist/darwin*' --exclude='node_modules/webgpu/dist/win32*' \
  --exclude='node_modules/webgpu/dist/linux-arm64' --exclude='node_modules/typescript' \
  --exclude='node_modules/.cache' node_modules | xz -T0 -6 >.gpu/nm.tar.xz
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
apt-get "${o[@]}" update >/dev/null
(cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>&1 | grep -v unsandboxed || true)
du -sh .gpu .gl
