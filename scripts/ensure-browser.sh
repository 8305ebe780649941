#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (SwiftShader WebGPU) through playwright; no browser is
# ever downloaded. Makes sure /usr/bin/chromium exists: as root, installs it; otherwise prints the
# command. Never skips: the browser tests must run for real.
set -euo pipefail
[[ -x /usr/bin/chromium ]] && exit 0
if [[ $(id -u) -eq 0 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
  /usr/bin/chromium --version && exit 0
fi
echo "ensure-browser: the browser tests need Debian's chromium; run as root: apt-get install -y chromium" >&2
exit 1
