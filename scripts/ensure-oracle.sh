#!/usr/bin/env bash
# The op tests check values and derivatives against sympy/mpmath (an independent oracle). Makes sure
# some python3 has them: as root, installs Debian's python3-sympy; otherwise prints the command.
set -euo pipefail
for py in "${WAVEGRAD_PYTHON:-}" python3 /usr/bin/python3; do
  [[ -n "$py" ]] && "$py" -c 'import sympy, mpmath' 2>/dev/null && exit 0
done
if [[ $(id -u) -eq 0 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq python3-sympy >/dev/null || { apt-get update -qq && apt-get install -y -qq python3-sympy >/dev/null; }
  /usr/bin/python3 -c 'import sympy, mpmath' && exit 0
fi
echo "ensure-oracle: the tests need python3 with sympy; run as root: apt-get install -y python3-sympy" >&2
exit 1
