#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: runs the CUDA tests against the reference (the reduced
# zoo's families in parallel processes, one kernel cache) and the fused-vs-unfused
# benchmarks on host-cuda. Usage: scripts/cuda_check.sh [BUILD_DIR] (default build).
set -uo pipefail
build=$(cd "${1:-build}" && pwd)
test=$build/tests/test_cuda_codegen
runtime_test=$build/tests/test_cuda_runtime
strata=$build/strata
for f in "$test" "$runtime_test" "$strata"; do [ -x "$f" ] || { echo "cuda_check: $f is not built" >&2; exit 2; }; done
if ! nvidia-smi -L > /dev/null 2>&1; then
  echo "cuda_check: no NVIDIA GPU answers (nvidia-smi -L); ctest compiles the CUDA kernels without one" >&2
  exit 2
fi
export STRATA_CACHE_DIR=${STRATA_CACHE_DIR:-$(mktemp -d)}
logs=$(mktemp -d)
echo "cuda_check: logs in $logs, kernel cache $STRATA_CACHE_DIR"
pids=()
"$test" "every op has a CUDA schedule that compiles for host-cuda" > "$logs/ops.log" 2>&1 & pids+=($!)
"$test" "kernels with a sibling's second output compile for host-cuda" > "$logs/sibling.log" 2>&1 & pids+=($!)
"$runtime_test" > "$logs/runtime.log" 2>&1 & pids+=($!)
for family in resnet alexnet vgg googlenet inception xception mobilenet_v1 mobilenet_v2 densenet efficientnet; do
  STRATA_TEST_ZOO=$family "$test" "reduced zoo models: every kernel's CUDA schedule compiles" > "$logs/zoo-$family.log" 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
grep -q "GPU present" "$logs/ops.log" || { echo "cuda_check: the tests found no GPU (libcuda.so.1); the kernels were compiled only" >&2; exit 1; }
for f in "$logs"/*.log; do echo "$(basename "$f" .log): $(grep -E '^(All tests passed|test cases:)' "$f" | tail -1)"; done
[ $failed -eq 0 ] || { echo "cuda_check: CUDA tests failed (logs above)" >&2; exit 1; }
# The fused-vs-unfused tables of the README (What fusion buys, on CUDA).
cd "$logs" || exit 1
"$strata" bench resnet50 --target host-cuda --compare-fusion --runs 20
"$strata" bench resnet50 --target host-cuda --compare-fusion --batch 8 --runs 20
"$strata" bench small_resnet --target host-cuda --compare-fusion --train --batch 64 --runs 10
"$strata" bench resnet50 --target host-cuda --compare-fusion --train --batch 8 --runs 5 --warmup 1
