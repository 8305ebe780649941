#!/usr/bin/env bash
# Installs the software WebGPU driver for Node (Dawn over Mesa lavapipe): the Vulkan loader and
# mesa-vulkan-drivers 25.x from bookworm-backports, on the same Debian mirror apt already uses.
# Idempotent: does nothing when a 25.x (or newer) driver is already installed. Needs root.
set -euo pipefail

have_driver() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [[ -n "$v" && "${v%%.*}" =~ ^[0-9]+$ && "${v%%.*}" -ge 25 ]] && dpkg-query -W libvulkan1 >/dev/null 2>&1
}

if have_driver; then
  echo "install-driver: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-driver: must run as root: sudo bash scripts/install-driver.sh" >&2
  exit 1
fi

# The mirror the machine already uses (deb822 first, then the one-line format).
mirror=""
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
fi
if [[ -z "$mirror" && -f /etc/apt/sources.list ]]; then
  mirror=$(awk '/^deb / && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)
fi
if [[ -z "$mirror" ]]; then
  echo "install-driver: cannot find the Debian mirror in /etc/apt/sources.list(.d)" >&2
  exit 1
fi

list=/etc/apt/sources.list.d/wavegrad-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > "$list" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq libvulkan1 >/dev/null
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
echo "install-driver: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
