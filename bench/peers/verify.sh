#!/usr/bin/env bash
# ONNX export check on this machine (CPU only): installs onnxruntime-node into bench/peers/.ort/ if needed,
# bundles verify_export.ts and runs it. Arguments go to the script (--models, --batches, --save DIR).
#   bash bench/peers/verify.sh
set -euo pipefail
bash bench/peers/setup_ort.sh >/dev/null
node_modules/.bin/esbuild bench/peers/verify_export.ts --bundle --platform=node --format=esm --target=node20 \
  --main-fields=module,main --external:onnxruntime-node --log-level=warning \
  --banner:js="import {createRequire as __cr} from 'module'; const require = __cr(import.meta.url);" \
  --outfile=bench/peers/.ort/verify_export.mjs
node bench/peers/.ort/verify_export.mjs "$@"
