#!/usr/bin/env bash
# One call on a lent GPU machine (the workplace's `device` tool, which has no Node and no network):
# the GPU test project (the shape catalogue's fused plans built and run up to SHAPES_RUN_COST), an
# A/B of this tree against an earlier one (.old/, when carried), `npm run bench`, the peers race and
# the segmented compile of big graphs, each time-boxed, on the real card. Logs and the written
# tables land in $OUT.
#
# Prepared here first by scripts/gpu-pack.sh (ignored paths, sent with the call's `carry`: .gl .gpu):
#   .gl/*.deb         the Vulkan loader and glvnd (apt-get download libvulkan1 libegl1 libglvnd0
#                     libopengl0 libgl1 libglx0 libgles2, amd64)
#   .gpu/node.xz      this machine's Node 20 binary, xz-compressed
#   .gpu/nm.tar.xz    node_modules without source maps, .d.ts, typescript and other platforms' Dawn
#   .old/             optional: an earlier tree's src/ and bench/graphs.ts, and .old/ab.mts (the A/B
#                     script), for the 'ab' stage (ignored, carried)
# From the environment: STAGES (default "extreme tests ab bench peers"; also "upload", "compile", "huge"),
# each stage's budget in seconds (TESTS_S AB_S UPLOAD_S BENCH_S COMPILE_S HUGE_S PEERS_S), SHAPES_RUN_COST (default
# 60000; SHAPES_MAX_KERNELS, default 100), HUGE_ARGS (bench/huge-compile.ts's arguments), PEERS_SIZES.
set -uo pipefail
STAGES=" ${STAGES:-extreme tests ab bench peers} "
has() { [[ $STAGES == *" $1 "* ]]; }
# Cold compiles: no driver shader cache (NVIDIA's, Mesa's) carries pipelines from run to run.
export __GL_SHADER_DISK_CACHE=0 MESA_SHADER_CACHE_DISABLE=true
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
t0=$(date +%s)
stamp() { echo "== $(( $(date +%s) - t0 )) s: $*"; }

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
mkdir -p /tmp/nodebin
xz -dc .gpu/node.xz >/tmp/nodebin/node && chmod +x /tmp/nodebin/node
export PATH=/tmp/nodebin:$PATH
[[ -d node_modules ]] || tar -xJf .gpu/nm.tar.xz
[[ -d /usr/local/nvidia/lib64 ]] && export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
stamp "unpacked; node $(node --version)"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
if ! node scripts/probe-adapter.mjs; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [[ -f $icd ]] || continue
    export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
    node scripts/probe-adapter.mjs && break
    unset VK_DRIVER_FILES VK_ICD_FILENAMES
  done
fi
node scripts/probe-adapter.mjs | tee -a "$OUT/gpu.txt" || {
  echo "no WebGPU adapter"; ls -l /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
  VK_LOADER_DEBUG=error,warn node scripts/probe-adapter.mjs 2>&1 | tail -30; exit 1; }
stamp "adapter found"

# First: the extreme-constant, signed-zero and NaN forms every tier must get right (issue 21, item 0:
# an H200 got the 600-line program wrong where the software adapter did not).
if has extreme; then
  timeout "${EXTREME_S:-60}" node node_modules/vitest/vitest.mjs run --project gpu test/gpu/extreme.test.ts 2>&1 | tee "$OUT/extreme.log" | grep -E "×|FAIL|AssertionError|Test Files|Tests  " | head -40
  stamp "extreme forms done"
fi

if has tests; then
  # (The soak's 10^5 calls would take the stage's whole budget: a real card gets a short one.)
  WAVEGRAD_SOAK_RUNS=${SOAK_RUNS:-5000} WAVEGRAD_SHAPES_RUN_COST=${SHAPES_RUN_COST:-60000} WAVEGRAD_SHAPES_MAX_KERNELS=${SHAPES_MAX_KERNELS:-100} timeout "${TESTS_S:-150}" node node_modules/vitest/vitest.mjs run --project gpu 2>&1 | tee "$OUT/tests.log" | grep -E "×|FAIL|Error|Test Files|Tests  " | tail -40
  grep -E "fused at budget .*(built and run|validated)" "$OUT/tests.log" | sed 's/\x1b\[[0-9;]*m//g' | grep -oE "[0-9]+ms$" | wc -l | sed 's/^/shape tests with a time: /'
  stamp "gpu tests done"
fi

if has ab && [[ -f .old/ab.mts ]]; then
  for pass in 1 2; do
    for tree in .old .; do timeout "${AB_S:-70}" node --import tsx .old/ab.mts "$PWD/$tree" 2>&1 | grep -E "^\[(old|new)\]" | tee -a "$OUT/ab.log"; done
  done
  stamp "A/B done"
fi

if has upload; then
  timeout "${UPLOAD_S:-60}" node --import tsx bench/upload.ts 2>&1 | grep -v "artificially reduced" | tee "$OUT/upload.log"
  stamp "upload A/B done"
fi

if has bench; then
  timeout "${BENCH_S:-200}" node --import tsx bench/run.ts 2>&1 | tee "$OUT/bench.log" | tail -3
  git diff --quiet bench/RESULTS.md || cp bench/RESULTS.md "$OUT/RESULTS.md"
  stamp "bench done"
fi

if has compile; then
  # The compile model's table on the card (the model is fitted on the software adapter).
  BENCH_QUICK=${COMPILE_QUICK:-1} timeout "${COMPILE_S:-120}" node --import tsx bench/compile-model.ts 2>&1 | grep -v "artificially reduced" | tee "$OUT/compile.log" | tail -3
  git diff --quiet bench/COMPILE.md || cp bench/COMPILE.md "$OUT/COMPILE.md"
  stamp "compile model done"
fi

if has huge; then
  # shellcheck disable=SC2086
  timeout "${HUGE_S:-110}" node --import tsx bench/huge-compile.ts ${HUGE_ARGS:-10000 100000} 2>&1 | grep -v "artificially reduced" | tee "$OUT/huge.log"
  stamp "huge compile done"
fi

if has peers; then
  PEERS_SIZES=${PEERS_SIZES:-16,20} timeout "${PEERS_S:-80}" node --expose-gc --import tsx bench/peers.ts 2>&1 | grep -v "artificially reduced" | tee "$OUT/peers.log" | tail -40
  git diff --quiet bench/PEERS.md || cp bench/PEERS.md "$OUT/PEERS.md"
  stamp "peers done"
fi
