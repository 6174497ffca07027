// Environment for Node+Dawn (npm `webgpu`) child processes. With
// `swiftshader` Dawn uses the SwiftShader Vulkan driver from Debian's
// chromium package, so WebGPU runs on the CPU of a machine without a GPU.
import { existsSync } from 'node:fs';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export function dawnEnv({ swiftshader }) {
  const env = { ...process.env };
  if (swiftshader) {
    if (!existsSync(SWIFTSHADER_ICD)) {
      throw new Error(`${SWIFTSHADER_ICD} not found; install Debian's chromium package`);
    }
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    // dawn.node dlopens libvulkan.so.1; chromium ships one if libvulkan1 is absent.
    env.LD_LIBRARY_PATH = [env.LD_LIBRARY_PATH, '/usr/lib/chromium'].filter(Boolean).join(':');
  }
  return env;
}
