# shellcheck shell=sh
# WebGPU in Node without a GPU: Dawn (the `webgpu` npm package) on SwiftShader's Vulkan driver.
#
# Source it (do not execute it) before running anything that calls useBackend('webgpu'):
#
#   . tools/webgpu-env.sh
#   cd packages/diffusion-core && ADX_TEST_BACKENDS=webgpu npx vitest run src/models   # parity suites on webgpu
#   npm run bench -w @adx/diffusion-core                                             # includes webgpu
#
# or, sourcing it for you: `npm run test:webgpu -w @adx/diffusion-core [-- <test files>]`.
# The whole diffusion-core suite takes ~8 min on SwiftShader (2 shared CPU cores). All network
# parity fixtures pass at the cpu/wasm tolerances; known webgpu deviations: WGSL sin/cos of large
# arguments (timestep embedding, ~2e-4 vs 2e-6 expected) and 6e-6 instead of 1e-6 in a
# broadcast-vs-per-sample self-consistency check.
#
# SwiftShader and a Vulkan loader come with Debian's `chromium` package
# (/usr/lib/chromium/vk_swiftshader_icd.json, /usr/lib/chromium/libvulkan.so.1). If they are missing and
# we are root with apt-get, they are installed (set ADX_WEBGPU_NO_INSTALL=1 to skip that).
# On a machine with a real GPU and Vulkan drivers, do not source this file.

ADX_SWIFTSHADER_DIR="${ADX_SWIFTSHADER_DIR:-/usr/lib/chromium}"
if [ ! -f "$ADX_SWIFTSHADER_DIR/vk_swiftshader_icd.json" ] && [ "${ADX_WEBGPU_NO_INSTALL:-0}" != 1 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "webgpu-env: installing chromium (SwiftShader Vulkan ICD)..." >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "webgpu-env: $ADX_SWIFTSHADER_DIR/vk_swiftshader_icd.json not found; install chromium (apt-get install chromium)" >&2
  fi
fi

if [ -f "$ADX_SWIFTSHADER_DIR/vk_swiftshader_icd.json" ]; then
  export VK_ICD_FILENAMES="$ADX_SWIFTSHADER_DIR/vk_swiftshader_icd.json"
  # Dawn dlopens libvulkan.so.1; use chromium's copy unless the system has a loader (libvulkan1).
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    export LD_LIBRARY_PATH="$ADX_SWIFTSHADER_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi
# Dawn/Vulkan want a runtime dir; containers often have none.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
