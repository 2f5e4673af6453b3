/**
 * onnxruntime-web's WebGPU execution provider as a benchmark peer: each case
 * is a one-operator ONNX model built in memory (`onnx_proto.ts`), weights as
 * initializers (resident after session creation), inputs as GPU buffers on
 * ORT's own device and outputs left on the GPU, so a run is pure GPU work
 * plus ORT's per-run overhead, as an application would see it.
 */
import * as ort from "onnxruntime-web/webgpu";
import { type OnnxInitializer, onnxModel, type OnnxNode, OnnxType } from "./onnx_proto.ts";
import { filler, fillerBytes } from "./random.ts";
import { checkOutput, type Runner } from "./runner.ts";

/** ORT's version, for the report. */
export const ORT_VERSION = ort.env.versions.web ?? "?";

interface GraphSpec {
  node: OnnxNode;
  /** Activations fed from GPU buffers: name → dims (f32). */
  gpuInputs: Record<string, number[]>;
  /** Small inputs fed from the CPU (e.g. GQA's sequence lengths). */
  cpuInputs?: Record<string, ort.Tensor>;
  outputs: Record<string, number[]>;
  initializers?: OnnxInitializer[];
}

let configured = false;

async function session(spec: GraphSpec): Promise<Runner> {
  if (!configured) {
    // One wasm thread: the work is on the GPU, and workers would compete with lavapipe's.
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = "error";
    configured = true;
  }
  const cpuDims = Object.entries(spec.cpuInputs ?? {}).map(([name, t]) => ({
    name,
    type: t.type === "int32" ? OnnxType.INT32 : OnnxType.FLOAT,
    dims: [...t.dims],
  }));
  const model = onnxModel({
    nodes: [spec.node],
    inputs: [
      ...Object.entries(spec.gpuInputs).map(([name, dims]) => ({
        name,
        type: OnnxType.FLOAT,
        dims,
      })),
      ...cpuDims,
    ],
    outputs: Object.entries(spec.outputs).map(([name, dims]) => ({
      name,
      type: OnnxType.FLOAT,
      dims,
    })),
    initializers: spec.initializers,
    opsets: spec.node.domain ? { "": 17, [spec.node.domain]: 1 } : { "": 17 },
  });
  const s = await ort.InferenceSession.create(model, {
    executionProviders: ["webgpu"],
    preferredOutputLocation: "gpu-buffer",
    graphOptimizationLevel: "all",
  });
  const device = await ort.env.webgpu.device as GPUDevice;
  const buffers: GPUBuffer[] = [];
  const feeds: Record<string, ort.Tensor> = { ...spec.cpuInputs };
  for (const [name, dims] of Object.entries(spec.gpuInputs)) {
    const n = dims.reduce((a, b) => a * b, 1);
    const buf = device.createBuffer({
      size: n * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(buf, 0, filler(n));
    buffers.push(buf);
    feeds[name] = ort.Tensor.fromGpuBuffer(buf, { dataType: "float32", dims });
  }
  return {
    async run() {
      const out = await s.run(feeds);
      for (const t of Object.values(out)) t.dispose();
    },
    async check() {
      const out = await s.run(feeds);
      const first = out[Object.keys(spec.outputs)[0]];
      checkOutput(await first.getData() as Float32Array, "onnxruntime-web");
      for (const t of Object.values(out)) t.dispose();
    },
    sync: () => device.queue.onSubmittedWorkDone(),
    release() {
      s.release();
      for (const b of buffers) b.destroy();
    },
  };
}

function f32Init(name: string, dims: number[], scale: number): OnnxInitializer {
  const data = filler(dims.reduce((a, b) => a * b, 1), scale);
  return { name, dims, type: OnnxType.FLOAT, raw: new Uint8Array(data.buffer) };
}

/** `Gemm(X, W, transB=1)`: Y[M,N] = X[M,K] · W[N,K]ᵀ in f32. */
export function ortGemm(m: number, n: number, k: number): Promise<Runner> {
  return session({
    node: { op: "Gemm", inputs: ["x", "w"], outputs: ["y"], attrs: { transB: 1 } },
    gpuInputs: { x: [m, k] },
    outputs: { y: [m, n] },
    initializers: [f32Init("w", [n, k], 1 / Math.sqrt(k))],
  });
}

/** `com.microsoft.MatMulNBits`, 4-bit weights with f32 scales, one per `block` values. */
export function ortMatMulNBits(m: number, n: number, k: number, block: number): Promise<Runner> {
  const blocks = Math.ceil(k / block);
  const blob = block / 2;
  return session({
    node: {
      op: "MatMulNBits",
      domain: "com.microsoft",
      inputs: ["x", "w", "scales"],
      outputs: ["y"],
      attrs: { K: k, N: n, bits: 4, block_size: block, accuracy_level: 0 },
    },
    gpuInputs: { x: [m, k] },
    outputs: { y: [m, n] },
    initializers: [
      { name: "w", dims: [n, blocks, blob], type: OnnxType.UINT8, raw: fillerBytes(n * k / 2) },
      f32Init("scales", [n * blocks], 0.01),
    ],
  });
}

/** `com.microsoft.MultiHeadAttention`: full attention, `h` heads of `d`, `l` tokens. */
export function ortMha(l: number, h: number, d: number): Promise<Runner> {
  return session({
    node: {
      op: "MultiHeadAttention",
      domain: "com.microsoft",
      inputs: ["q", "k", "v"],
      outputs: ["o"],
      attrs: { num_heads: h },
    },
    gpuInputs: { q: [1, l, h * d], k: [1, l, h * d], v: [1, l, h * d] },
    outputs: { o: [1, l, h * d] },
  });
}

/** `com.microsoft.GroupQueryAttention`: causal prefill of `l` tokens, `h` / `hkv` heads of `d`. */
export function ortGqa(l: number, h: number, hkv: number, d: number): Promise<Runner> {
  return session({
    node: {
      op: "GroupQueryAttention",
      domain: "com.microsoft",
      inputs: ["q", "k", "v", "", "", "seqlens_k", "total_len"],
      outputs: ["o", "present_k", "present_v"],
      attrs: { num_heads: h, kv_num_heads: hkv },
    },
    gpuInputs: { q: [1, l, h * d], k: [1, l, hkv * d], v: [1, l, hkv * d] },
    cpuInputs: {
      seqlens_k: new ort.Tensor("int32", Int32Array.of(l - 1), [1]),
      total_len: new ort.Tensor("int32", Int32Array.of(l), [1]),
    },
    outputs: { o: [1, l, h * d], present_k: [1, hkv, l, d], present_v: [1, hkv, l, d] },
  });
}

/** `Conv` 3×3, pad 1, NCHW f32. */
export function ortConv(hw: number, cin: number, cout: number): Promise<Runner> {
  return session({
    node: {
      op: "Conv",
      inputs: ["x", "w", "b"],
      outputs: ["y"],
      attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    },
    gpuInputs: { x: [1, cin, hw, hw] },
    outputs: { y: [1, cout, hw, hw] },
    initializers: [f32Init("w", [cout, cin, 3, 3], 0.05), f32Init("b", [cout], 0.1)],
  });
}
