#!/usr/bin/env bash
# Runs the peer benchmark on the GPU machine from the repository root, with .gpu-runtime/ carried (made by
# make-runtime.sh + bench/peers/pack_gpu.sh): unpacks the bundle and onnxruntime-node to $PEERS_DIR
# (default /tmp/peers), then runs the bundle through enter.sh (carried node, Dawn, Vulkan loader; ONNX
# Runtime's own Dawn finds the GPU through the same Vulkan environment). Arguments go to peer_bench.
#   bash bench/peers/gpu_run.sh --out-dir $OUT
set -euo pipefail
PK=.gpu-runtime/peers
DEST=${PEERS_DIR:-/tmp/peers}
[ -f "$PK/peer_bench.mjs.xz" ] && [ -f "$PK/onnxruntime-node.tar.xz" ] ||
  { echo "[peers] $PK is incomplete: run bash bench/peers/pack_gpu.sh before the call" >&2; exit 2; }
unxz_c() { # decompress to stdout: xz, else python3's lzma
  if command -v xz >/dev/null 2>&1; then xz -dc "$1"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
STAMP=$(cksum "$PK/peer_bench.mjs.xz" "$PK/onnxruntime-node.tar.xz" | awk '{print $1 $2}' | tr -d '\n')
if [ "$(cat "$DEST/.stamp" 2>/dev/null)" != "$STAMP" ]; then
  rm -rf "$DEST"; mkdir -p "$DEST"
  unxz_c "$PK/onnxruntime-node.tar.xz" | tar -x -C "$DEST"
  unxz_c "$PK/peer_bench.mjs.xz" >"$DEST/peer_bench.mjs"
  echo "$STAMP" >"$DEST/.stamp"
  echo "[peers] unpacked to $DEST ($(du -sh "$DEST" | cut -f1))" >&2
fi
export ORT_NODE_DIR=$DEST/node_modules/onnxruntime-node
exec bash .gpu-runtime/enter.sh node "$DEST/peer_bench.mjs" "$@"
