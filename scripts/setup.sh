#!/usr/bin/env bash
# Prepares a Debian/Ubuntu machine to build, demo and test this package:
# installs Chromium (its SwiftShader gives WebGPU on the CPU when there is no
# GPU; it is also the karma test browser) and the Vulkan loader for Node+Dawn
# if they are missing, then the npm dependencies from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || [ -n "${CHROME_BIN:-}" ] || need+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || need+=(libvulkan1)
if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: please install ${need[*]} (no apt-get here)" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3; do
    if $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"; then
      break
    fi
    [ "$attempt" -eq 3 ] && { echo "setup: apt-get install ${need[*]} failed" >&2; exit 1; }
    sleep 5
  done
fi

# npm ci when node_modules is missing or older than the lockfile.
if [ ! node_modules/.package-lock.json -nt package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
