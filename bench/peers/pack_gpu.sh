#!/usr/bin/env bash
# Prepares what the GPU machine needs for the peer benchmark, in .gpu-runtime/peers/ (ignored; carried with
# .gpu-runtime): the minified peer_bench bundle and the parts of onnxruntime-node that run its CPU and WebGPU
# execution providers on linux-x64 (JS, the N-API binding and libonnxruntime.so.1, which links Dawn in), both
# xz-compressed (x86 filter). bench/peers/gpu_run.sh unpacks them there. Run from the repository root after
# `bash ../shared/gpu/make-runtime.sh`:
#   bash bench/peers/pack_gpu.sh
set -euo pipefail
ROOT=$PWD
RT=$ROOT/.gpu-runtime
OUT=$RT/peers
[ -f "$RT/enter.sh" ] || { echo "no .gpu-runtime/enter.sh: run bash ../shared/gpu/make-runtime.sh first" >&2; exit 2; }
bash bench/peers/setup_ort.sh >/dev/null
SRC=bench/peers/.ort/node_modules
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

# 1. the bundle (onnxruntime-node stays outside it: loaded at run time from ORT_NODE_DIR)
# PEERS_NO_MINIFY=1 keeps function names (for CPU profiles of the cold runs).
if [ -n "${PEERS_NO_MINIFY:-}" ]; then NAMES=--keep-names; else NAMES=--minify; fi
bash ../shared/gpu/bundle.sh bench/peers/peer_bench.ts "$TMP/peer_bench.mjs" -- "$NAMES"
xz -T0 -9 -c "$TMP/peer_bench.mjs" >"$OUT/peer_bench.mjs.xz"
rm -f "$RT/peer_bench.mjs" # an unpacked copy would only add to what travels

# 2. trimmed onnxruntime-node + onnxruntime-common (no other platforms, sources, maps or typings)
ORT_VERSION=$(node -p "require('./$SRC/onnxruntime-node/package.json').version")
STAMP="$ORT_VERSION $(stat -c %s-%Y "$SRC/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1")"
if [ ! -f "$OUT/onnxruntime-node.tar.xz" ] || [ "$(cat "$OUT/.ort.id" 2>/dev/null)" != "$STAMP" ]; then
  S=$TMP/stage/node_modules
  mkdir -p "$S/onnxruntime-node/dist" "$S/onnxruntime-node/bin/napi-v6/linux/x64" "$S/onnxruntime-common/dist/cjs"
  cp "$SRC/onnxruntime-node/package.json" "$SRC/onnxruntime-node/README.md" "$S/onnxruntime-node/"
  cp "$SRC"/onnxruntime-node/dist/*.js "$S/onnxruntime-node/dist/"
  cp "$SRC"/onnxruntime-node/bin/napi-v6/linux/x64/* "$S/onnxruntime-node/bin/napi-v6/linux/x64/"
  cp "$SRC"/onnxruntime-common/package.json "$SRC"/onnxruntime-common/README.md "$S/onnxruntime-common/" 2>/dev/null ||
    cp "$SRC"/onnxruntime-common/package.json "$S/onnxruntime-common/"
  cp "$SRC"/onnxruntime-common/dist/cjs/*.js "$SRC"/onnxruntime-common/dist/cjs/package.json "$S/onnxruntime-common/dist/cjs/"
  echo "[pack] compressing onnxruntime-node $ORT_VERSION (about a minute, once)" >&2
  tar -C "$TMP/stage" -cf - node_modules | xz -T1 --x86 --lzma2=preset=9e,dict=64MiB -c >"$OUT/onnxruntime-node.tar.xz"
  echo "$STAMP" >"$OUT/.ort.id"
fi

# 3. sizes: everything that travels to the device machine must stay under 64 MiB
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r stat -c %s | awk '{s += $1} END {print s + 0}')
runtime=$(du -sb "$RT" | cut -f1)
peers=$(du -sb "$OUT" | cut -f1)
total=$((tracked + untracked + runtime))
echo "[pack] $OUT: $(ls -s --block-size=1 "$OUT" | tail -n +2 | awk '{printf "%s %.2f MiB; ", $2, $1 / 1048576}')"
echo "[pack] travels: tracked $(mib "$tracked") + untracked $(mib "$untracked") + .gpu-runtime $(mib "$runtime")" \
  "(peers $(mib "$peers")) = $(mib "$total") of 64 MiB"
[ "$total" -le $((64 * 1048576)) ] || echo "[pack] WARNING: over 64 MiB: move other bundles out of .gpu-runtime" >&2
