#!/usr/bin/env bash
# Installs onnxruntime-node (exact version) into bench/peers/.ort/ for the peer scripts, outside this
# package's dependencies: its install script would download CUDA files, so it runs with --ignore-scripts
# (the CPU and WebGPU execution providers are in the npm tarball itself). Idempotent.
#   bash bench/peers/setup_ort.sh
set -euo pipefail
ORT_VERSION=${ORT_VERSION:-1.30.0}
DIR=bench/peers/.ort
[ -f package.json ] && [ -d bench/peers ] || { echo "run from the repository root" >&2; exit 2; }
have=$(node -p "try{require('./$DIR/node_modules/onnxruntime-node/package.json').version}catch(e){''}")
if [ "$have" != "$ORT_VERSION" ]; then
  mkdir -p "$DIR"
  [ -f "$DIR/package.json" ] || echo '{"name":"peers-ort","private":true}' >"$DIR/package.json"
  npm install --prefix "$DIR" --ignore-scripts --no-audit --no-fund --save-exact "onnxruntime-node@$ORT_VERSION" >&2
fi
echo "$DIR/node_modules/onnxruntime-node $(node -p "require('./$DIR/node_modules/onnxruntime-node/package.json').version")"
