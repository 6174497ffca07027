#!/usr/bin/env bash
# The whole GPU benchmark suite under Node+Dawn, in three steps (see bench/README.md):
#
#   bash scripts/gpu-bench-all.sh bundle                 # here: runtime + one bundle per benchmark and the specs
#   bash scripts/gpu-bench-all.sh run OUT [BENCH...]     # on the GPU machine (repo root, .gpu-runtime/ and models/ there)
#   bash scripts/gpu-bench-all.sh collect OUT            # here: results into bench/results/, then bench/REPORT.md
#
# BENCH is any of: calibrate layers models first planner specs (default: all, in that order).
# `run` keeps going when one benchmark fails and exits non-zero at the end if any did.
# Environment: GPU_TOOLS (default ../shared/gpu: make-runtime.sh, bundle.sh), BENCH_TAG (the device
# part of result names, default from nvidia-smi, e.g. h100), BENCH_ARGS_<BENCH> (extra options).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
GPU_TOOLS=${GPU_TOOLS:-$ROOT/../shared/gpu}
RT=.gpu-runtime
ALL=(calibrate layers models first planner specs)
die() { echo "gpu-bench-all: $*" >&2; exit 1; }

entry() {
  case $1 in
    calibrate) echo bench/calibrate/calibrate_bench.ts ;;
    layers) echo bench/layers/layers_bench.ts ;;
    models) echo bench/models/model_bench.ts ;;
    first) echo bench/models/first_inference_bench.ts ;;
    planner) echo bench/planner/planner_bench.ts ;;
    *) die "unknown benchmark '$1' (one of: ${ALL[*]})" ;;
  esac
}

# Result file prefix and default options of each benchmark.
prefix() { case $1 in calibrate) echo profile ;; first) echo first-inference ;; *) echo "$1" ;; esac; }
defaults() {
  case $1 in
    layers) echo "--batches 1,8,32" ;;
    models) echo "--batches 1,8 --plans all,auto,tuned" ;;
    first) echo "--rounds 5" ;;
    *) echo "" ;;
  esac
}

cmd=${1:-}
shift || true
case $cmd in
  bundle)
    [ -f "$GPU_TOOLS/bundle.sh" ] || die "no $GPU_TOOLS/bundle.sh (set GPU_TOOLS)"
    bash "$GPU_TOOLS/make-runtime.sh" || die "make-runtime.sh failed"
    for b in calibrate layers models first planner; do
      bash "$GPU_TOOLS/bundle.sh" "$(entry $b)" || die "bundling $b failed"
    done
    node scripts/node-test.mjs --bundle-only "$RT/specs.mjs" || die "bundling the specs failed"
    echo "gpu-bench-all: bundles in $RT/; on the GPU machine run: bash scripts/gpu-bench-all.sh run \$OUT"
    ;;
  run)
    out=${1:-}
    [ -n "$out" ] || die "usage: gpu-bench-all.sh run OUT [BENCH...]"
    shift
    [ -f "$RT/enter.sh" ] || die "$RT/enter.sh missing: run 'bash scripts/gpu-bench-all.sh bundle' first"
    mkdir -p "$out"
    benches=("$@")
    [ ${#benches[@]} -gt 0 ] || benches=("${ALL[@]}")
    tag=${BENCH_TAG:-$( (nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo gpu) | head -1 |
      tr 'A-Z' 'a-z' | grep -oE '[a-z][0-9]{2,4}[a-z]*' | head -1)}
    stamp="$(date -u +%Y-%m-%d)-${tag:-gpu}"
    failed=()
    for b in "${benches[@]}"; do
      if [ "$b" = specs ]; then
        echo "== specs"
        bash "$RT/enter.sh" node "$RT/specs.mjs" 2>&1 | tee "$out/specs-$stamp.log" || failed+=(specs)
        continue
      fi
      entry "$b" >/dev/null
      name="$(prefix "$b")-$stamp"
      extra_var="BENCH_ARGS_${b^^}"
      # shellcheck disable=SC2046 # default options are words
      echo "== $b -> $out/$name.json"
      # The driver's shader disk cache would make the "cold" first inference warm.
      env __GL_SHADER_DISK_CACHE=0 bash "$RT/enter.sh" node "$RT/$(basename "$(entry "$b")" .ts).mjs" \
        $(defaults "$b") ${!extra_var:-} --out "$out/$name.json" 2>&1 | tee "$out/$name.log" || failed+=("$b")
    done
    if [ ${#failed[@]} -gt 0 ]; then die "failed: ${failed[*]} (logs in $out)"; fi
    echo "gpu-bench-all: results in $out; here run: bash scripts/gpu-bench-all.sh collect $out"
    ;;
  collect)
    out=${1:-}
    [ -d "$out" ] || die "usage: gpu-bench-all.sh collect OUT (a folder written by 'run')"
    shopt -s nullglob
    files=("$out"/*.json "$out"/*.log)
    [ ${#files[@]} -gt 0 ] || die "no results in $out"
    cp "${files[@]}" bench/results/
    node scripts/bench-tables.mjs $(for f in "$out"/*.json; do echo "bench/results/$(basename "$f")"; done)
    node scripts/bench-report.mjs
    ;;
  *)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = "-h" ] || [ "$cmd" = "--help" ] || exit 2
    ;;
esac
