/**
 * Compiled compute kernels: one pipeline per kernel, entry point and variant,
 * created once per device and looked up by a short key. Kernels declared with
 * `declareKernel` (`declare_kernel.ts`) carry that key (`NAME/ENTRY/VARIANT`);
 * a hand-built {@link KernelSpec} without one is keyed by its text.
 *
 * Binding convention shared by every shader in `shaders/`:
 *   `@group(0) @binding(0) var<uniform> p: Params;` (when the kernel has params)
 *   `@group(0) @binding(1..n)` storage buffers, in the order of `storage`.
 * The uniform binding uses a dynamic offset into the per-batch uniform arena,
 * so one bind group serves every dispatch over the same buffers.
 */
import type { GpuContext } from "./context.ts";

/**
 * Bytes reserved per dispatch in the uniform arena (`Params` must fit). Here,
 * in the module without imports, so that kernels declared while the context
 * module is still loading (an import cycle through `Tensor`) can read it.
 */
export const PARAMS_SLOT_BYTES = 256;

/** Access of one storage binding. */
export type StorageAccess = "read" | "read_write";

/** What a compute kernel is: WGSL text, entry point and binding layout. */
export interface KernelSpec {
  /** Short name for labels and error messages, e.g. `matmul_nf4`. */
  name: string;
  /** Final WGSL text (header included). */
  code: string;
  /** Entry point; default `main`. */
  entryPoint?: string;
  /** Whether binding 0 is a `Params` uniform. */
  params: boolean;
  /** Storage bindings 1..n. */
  storage: StorageAccess[];
  /**
   * Pipeline cache key: must identify the code, entry point and bindings
   * (`declareKernel` sets `NAME/ENTRY/VARIANT`). Default: all of them, text included.
   */
  key?: string;
}

/** A compiled kernel: pipeline and bind group layout for one {@link KernelSpec}. */
export interface Kernel {
  /** The spec it was compiled from. */
  readonly spec: KernelSpec;
  /** Unique per cache; keys bind groups. */
  readonly id: number;
  /** The compute pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Layout of bind group 0. */
  readonly layout: GPUBindGroupLayout;
}

/** Compiles each distinct kernel once per device and returns the cached one afterwards. */
export class PipelineCache {
  private byKey = new Map<string, Kernel>();
  private nextId = 1;
  /** Compiles performed, for tests that check "compile once". */
  compiles = 0;

  /** A cache for `device`'s pipelines. */
  constructor(private device: GPUDevice) {}

  /** The kernel for `spec`, compiled on first request. */
  get(spec: KernelSpec): Kernel {
    const entry = spec.entryPoint ?? "main";
    const key = spec.key ??
      `${entry}\u0000${spec.params}\u0000${spec.storage.join(",")}\u0000${spec.code}`;
    const hit = this.byKey.get(key);
    if (hit) return hit;
    const entries: GPUBindGroupLayoutEntry[] = [];
    if (spec.params) {
      entries.push({
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "uniform", hasDynamicOffset: true },
      });
    }
    spec.storage.forEach((access, i) =>
      entries.push({
        binding: i + 1,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: access === "read" ? "read-only-storage" : "storage" },
      })
    );
    const layout = this.device.createBindGroupLayout({ label: spec.name, entries });
    const module = this.device.createShaderModule({ label: spec.name, code: spec.code });
    const pipeline = this.device.createComputePipeline({
      label: spec.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: entry },
    });
    this.compiles++;
    const kernel = { spec, id: this.nextId++, pipeline, layout };
    this.byKey.set(key, kernel);
    return kernel;
  }

  /** Number of distinct kernels compiled. */
  get size(): number {
    return this.byKey.size;
  }
}

/**
 * Workgroup counts for `n` workgroups along one logical axis, folded into
 * x·y when `n` exceeds the per-dimension limit. Shaders rebuild the linear
 * index as `wid.x + wid.y * nwg.x` (and skip ids ≥ n).
 */
export function grid(ctx: GpuContext, n: number): [number, number] {
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (n <= max) return [Math.max(1, n), 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}
