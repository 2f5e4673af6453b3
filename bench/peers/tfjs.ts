/**
 * TensorFlow.js's WebGPU backend as a benchmark peer, on its own device of
 * the same adapter. Weights and inputs are tfjs tensors made resident by a
 * warm-up run; each run enqueues the op and disposes its output.
 */
import * as tf from "@tensorflow/tfjs-core";
import { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { filler } from "./random.ts";
import { checkOutput, type Runner } from "./runner.ts";

export const TFJS_VERSION = tf.version_core;

let backend: WebGPUBackend | undefined;

/** Registers the WebGPU backend on a device with the adapter's highest buffer limits. */
async function ready(adapter: GPUAdapter): Promise<WebGPUBackend> {
  if (backend) return backend;
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxBufferSize: l.maxBufferSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    },
  });
  const b = new WebGPUBackend(device, adapter.info);
  // The backend's kernels are registered under "webgpu": replace the default one.
  tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () => b);
  if (!await tf.setBackend("webgpu")) throw new Error("tfjs: the WebGPU backend did not start");
  backend = b;
  return b;
}

function runner(b: WebGPUBackend, tensors: tf.Tensor[], op: () => tf.Tensor): Runner {
  return {
    run() {
      op().dispose();
    },
    async check() {
      const y = op();
      checkOutput(await y.data() as Float32Array, "tfjs");
      y.dispose();
    },
    async sync() {
      // Close tfjs's open compute pass and submit its encoder, as its own readbacks do.
      b.ensureCommandEncoderReady();
      b.endComputePassEncoder();
      b.submitQueue();
      await b.device.queue.onSubmittedWorkDone();
    },
    release() {
      for (const t of tensors) t.dispose();
    },
  };
}

/** `matMul(X, W, transposeB)`: Y[M,N] = X[M,K] · W[N,K]ᵀ in f32. */
export async function tfjsMatMul(
  adapter: GPUAdapter,
  m: number,
  n: number,
  k: number,
): Promise<Runner> {
  const b = await ready(adapter);
  const x = tf.tensor2d(filler(m * k), [m, k]);
  const w = tf.tensor2d(filler(n * k, 1 / Math.sqrt(k)), [n, k]);
  return runner(b, [x, w], () => tf.matMul(x, w, false, true));
}

/** `conv2d` 3×3, 'same' padding, NHWC f32. */
export async function tfjsConv(
  adapter: GPUAdapter,
  hw: number,
  cin: number,
  cout: number,
): Promise<Runner> {
  const b = await ready(adapter);
  const x = tf.tensor4d(filler(hw * hw * cin), [1, hw, hw, cin]);
  const w = tf.tensor4d(filler(9 * cin * cout, 0.05), [3, 3, cin, cout]);
  return runner(b, [x, w], () => tf.conv2d(x, w, 1, "same"));
}
