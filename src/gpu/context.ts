/**
 * The GPU context: adapter and device with the features and limits the
 * adapter offers, the pipeline cache, the buffer pool, and the command
 * recorder that batches a whole forward pass into few command buffers.
 *
 * Ops never submit or wait. They call {@link GpuContext.dispatch}, which
 * appends to one open compute pass. Work reaches the GPU on {@link flush}
 * (when a readback needs it, or when the uniform arena fills after a few
 * thousand dispatches), and the CPU waits only in {@link readBuffer} /
 * {@link sync}.
 *
 * {@link GpuContext.shapeOnly} makes the same context without a device:
 * buffers are sizes, dispatches and copies are skipped, so model code runs
 * unchanged and the pool measures what a request would hold (memory planning).
 */
import { BufferPool } from "./buffer_pool.ts";
import { grid, type Kernel, type KernelSpec, PARAMS_SLOT_BYTES, PipelineCache } from "./kernel.ts";
import { TensorScopes } from "./scope.ts";
import {
  SHAPE_ONLY_ADAPTER_INFO,
  shapeOnlyDevice,
  ShapeOnlyError,
  shapeOnlyLimits,
} from "./shape_only.ts";

export { grid, PARAMS_SLOT_BYTES };

/** Optional WebGPU features the device was created with. */
export interface GpuFeatures {
  /** `shader-f16`: f16 arithmetic and storage in WGSL. */
  f16: boolean;
  /** `subgroups`: subgroup operations in WGSL. */
  subgroups: boolean;
  /** `timestamp-query`: GPU-side timing of passes. */
  timestamps: boolean;
}

/** How {@link createGpu} picks and configures the adapter. */
export interface GpuOptions {
  /** Passed to `navigator.gpu.requestAdapter` (e.g. `"high-performance"`). */
  powerPreference?: GPUPowerPreference;
  /** Set false to ignore `shader-f16` even where the adapter has it (f32-only runs). */
  f16?: boolean;
  /** Use this adapter instead of asking `navigator.gpu`. */
  adapter?: GPUAdapter;
}

const ARENA_SLOTS = 4096;

/** The limits we raise to the adapter's maximum. */
const WANTED_LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
] as const;

/** The error text when no WebGPU adapter exists: how to get one on each system. */
export const NO_ADAPTER_HELP: string = "No WebGPU adapter was found. Install your GPU's driver " +
  "(Vulkan on Linux/Windows, Metal on macOS, D3D12 on Windows). Without a GPU, Mesa's " +
  "software rasterisers work: `apt-get install mesa-vulkan-drivers` (lavapipe, Vulkan, " +
  "has shader-f16) or `libgl1-mesa-dri` (llvmpipe, GL, f32 only); in Deno, " +
  "DENO_WEBGPU_BACKEND=vulkan|gl picks the backend. In a browser, use one with WebGPU " +
  "enabled (Chrome/Edge 113+, or --enable-unsafe-webgpu).";

/** What {@link GpuContext.shapeOnly} assumes about the device it stands for. */
export interface ShapeOnlyOptions {
  /**
   * The adapter's limits (a real context's `limits`); default: WebGPU's
   * defaults with 2 GiB storage bindings and buffers.
   */
  limits?: GPUSupportedLimits | Readonly<Record<string, number>>;
  /** Single limits on top of `limits` (e.g. `maxStorageBufferBindingSize`). */
  overrides?: Readonly<Record<string, number | undefined>>;
  /** The adapter's optional features (default: f16 only). */
  features?: GpuFeatures;
  /**
   * The adapter it stands for (default: none in particular). Ops that pick
   * their path by adapter (on CPU rasterisers, attention splits long key
   * ranges through scratch buffers) then allocate as they will there.
   */
  adapterInfo?: GPUAdapterInfo;
}

/** A storage range to bind: a whole tensor or any part of a buffer. */
export interface BufferBinding {
  /** The buffer to bind. */
  buffer: GPUBuffer;
  /** Bytes; must be a multiple of the device's `minStorageBufferOffsetAlignment`. */
  offset?: number;
  /** Bytes; defaults to the rest of the buffer. */
  size?: number;
}

/** One compute dispatch: its uniform parameters, storage bindings and workgroup counts. */
export interface DispatchArgs {
  /** `Params` bytes (≤ {@link PARAMS_SLOT_BYTES}); required iff the kernel has params. */
  params?: ArrayBufferView;
  /** One entry per storage binding of the kernel. */
  bindings: BufferBinding[];
  /** Workgroup counts; see {@link grid} for large 1-D counts. */
  workgroups: [number, number?, number?];
}

/**
 * The GPU context every op and model takes: the device with the adapter's
 * optional features and highest limits, the pipeline cache, the buffer pool
 * and the command recorder that batches dispatches into few submits.
 *
 * @example Create one and read what the adapter offers
 * ```ts
 * import { GpuContext } from "@ideogram4/webgpu";
 *
 * const ctx = await GpuContext.create();
 * console.log(ctx.adapterInfo, ctx.features.f16, ctx.limits.maxStorageBufferBindingSize);
 * ctx.destroy();
 * ```
 */
export class GpuContext {
  /** Compiled kernels, one per distinct WGSL text. */
  readonly pipelines: PipelineCache;
  /** Storage buffers shared by the tensors of this context, with memory statistics. */
  readonly pool: BufferPool;
  /** The open tensor scopes ({@link scope}, {@link pipe}, {@link adopt}, {@link keep}; rules in `scope.ts`). */
  readonly scopes: TensorScopes = new TensorScopes();
  /** The optional features the device has. */
  readonly features: GpuFeatures;
  /** The device's limits (raised to the adapter's maximum where it helps). */
  readonly limits: GPUSupportedLimits;
  /** Fill newly acquired tensors with NaN so an unwritten output cannot pass a test. */
  poisonOutputs = false;
  /** Dispatches recorded since creation, for tests that check batching. */
  dispatchCount = 0;
  /** Command buffers submitted since creation. */
  submitCount = 0;

  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private arena: GPUBuffer;
  private arenaStaging = new Uint8Array(ARENA_SLOTS * PARAMS_SLOT_BYTES);
  private arenaUsed = 0;
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private errors: string[] = [];

  private constructor(
    readonly device: GPUDevice,
    readonly adapterInfo: GPUAdapterInfo,
    features: GpuFeatures,
    /** Every feature the adapter offers (the device enables only the useful ones). */
    readonly adapterFeatures: ReadonlySet<string>,
    /** Buffers are sizes only and no work is recorded ({@link GpuContext.shapeOnly}). */
    readonly shapeOnly = false,
  ) {
    this.features = features;
    this.limits = device.limits;
    this.pipelines = new PipelineCache(device);
    this.pool = new BufferPool(device);
    this.arena = device.createBuffer({
      label: "uniform arena",
      size: ARENA_SLOTS * PARAMS_SLOT_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.addEventListener("uncapturederror", (e) => {
      this.errors.push((e as GPUUncapturedErrorEvent).error.message);
    });
  }

  /** Asks for an adapter and a device with every useful feature and the highest limits. */
  static async create(opts: GpuOptions = {}): Promise<GpuContext> {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    const adapter = opts.adapter ??
      (gpu ? await gpu.requestAdapter({ powerPreference: opts.powerPreference }) : null);
    if (!adapter) throw new Error(NO_ADAPTER_HELP);
    const has = (f: string) => adapter.features.has(f as GPUFeatureName);
    const features: GpuFeatures = {
      f16: has("shader-f16") && opts.f16 !== false,
      subgroups: has("subgroups"),
      timestamps: has("timestamp-query"),
    };
    const requiredFeatures: GPUFeatureName[] = [];
    if (features.f16) requiredFeatures.push("shader-f16");
    if (features.subgroups) requiredFeatures.push("subgroups" as GPUFeatureName);
    if (features.timestamps) requiredFeatures.push("timestamp-query");
    const requiredLimits: Record<string, number> = {};
    for (const k of WANTED_LIMITS) requiredLimits[k] = adapter.limits[k];
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
    device.lost.then((info) => {
      if (info.reason !== "destroyed") console.error(`WebGPU device lost: ${info.message}`);
    });
    return new GpuContext(device, adapter.info, features, new Set(adapter.features));
  }

  /**
   * A context without a device, for planning: the same pool, tensors and
   * ops, but buffers are only sizes, dispatches, copies and writes do
   * nothing, and reading back throws a {@link ShapeOnlyError}. Works where
   * there is no GPU at all.
   */
  static shapeOnly(opts: ShapeOnlyOptions = {}): GpuContext {
    const limits = shapeOnlyLimits(opts.limits, opts.overrides);
    const features = opts.features ?? { f16: true, subgroups: false, timestamps: false };
    const real = opts.adapterInfo;
    const info = real
      ? {
        vendor: real.vendor,
        architecture: real.architecture,
        device: real.device,
        description: `shape-only, as ${real.description || real.vendor || "an adapter"}`,
      } as GPUAdapterInfo
      : SHAPE_ONLY_ADAPTER_INFO;
    return new GpuContext(
      shapeOnlyDevice(limits),
      info,
      { ...features },
      new Set(),
      true,
    );
  }

  /** One line describing the adapter, for logs and benchmark tables. */
  describe(): string {
    const i = this.adapterInfo;
    const name = i.description || `${i.vendor} ${i.device}`.trim() || "unknown adapter";
    const f = Object.entries(this.features).filter(([, v]) => v).map(([k]) => k);
    return `${name} [${f.join(", ") || "no optional features"}]`;
  }

  /**
   * Whether the adapter is a CPU rasteriser (Mesa's llvmpipe / lavapipe /
   * softpipe, SwiftShader, which Chromium names only by its architecture):
   * ~1000× slower than a GPU, and Mesa's cap long shader loops.
   */
  get isSoftware(): boolean {
    const i = this.adapterInfo;
    return /llvmpipe|lavapipe|softpipe|swiftshader/i.test(
      `${i.vendor} ${i.architecture} ${i.device} ${i.description}`,
    );
  }

  /**
   * Runs `fn` and releases every tensor created on this context inside it
   * that it does not return; what it returns (a Tensor, or arrays and plain
   * objects of them) moves to the enclosing scope, or to the caller. Weights
   * are never recorded. Throwing still releases. Rules: `src/gpu/scope.ts`.
   *
   * @example
   * ```ts ignore
   * const y = ctx.scope(() => linear(ctx, unary(ctx, "silu", linear(ctx, x, w1)), w2));
   * // the two intermediates are released; y is the caller's
   * ```
   */
  scope<T>(fn: () => T): T {
    return this.scopes.scope(fn);
  }

  /**
   * Runs `steps` in turn, each in its own scope, passing each step's result
   * to the next: a step's input is released when that step ends (unless it
   * returns it again), so every intermediate is freed right after its last
   * reader is recorded. Returns the last step's result.
   *
   * @example
   * ```ts ignore
   * const f = ctx.pipe(
   *   () => rmsNorm(ctx, h, w.norm, eps),
   *   (n) => [linear(ctx, n, w.gate), linear(ctx, n, w.up)],
   *   ([g, u]) => binary(ctx, "siluGate", g, u),
   *   (gu) => linear(ctx, gu, w.down),
   * );
   * ```
   */
  pipe<A>(s1: () => A): A;
  /** Two steps. */
  pipe<A, B>(s1: () => A, s2: (a: A) => B): B;
  /** Three steps. */
  pipe<A, B, C>(s1: () => A, s2: (a: A) => B, s3: (b: B) => C): C;
  /** Four steps. */
  pipe<A, B, C, D>(s1: () => A, s2: (a: A) => B, s3: (b: B) => C, s4: (c: C) => D): D;
  /** Five steps. */
  pipe<A, B, C, D, E>(
    s1: () => A,
    s2: (a: A) => B,
    s3: (b: B) => C,
    s4: (c: C) => D,
    s5: (d: D) => E,
  ): E;
  /** Six steps. */
  pipe<A, B, C, D, E, F>(
    s1: () => A,
    s2: (a: A) => B,
    s3: (b: B) => C,
    s4: (c: C) => D,
    s5: (d: D) => E,
    s6: (e: E) => F,
  ): F;
  /** Any number of steps. */
  pipe(...steps: ((input: never) => unknown)[]): unknown {
    return this.scopes.pipe(steps as ((input: unknown) => unknown)[]);
  }

  /**
   * Makes the innermost open scope the owner of the tensors in `value` (made
   * before it, e.g. a loop's carried state): they are released when it ends,
   * unless it returns them. Returns `value`.
   */
  adopt<T>(value: T): T {
    return this.scopes.adopt(value);
  }

  /**
   * Takes the tensors in `value` out of their scope: they are then the
   * caller's to release (caches filled inside a forward). Returns `value`.
   */
  keep<T>(value: T): T {
    return this.scopes.keep(value);
  }

  /** Compiles (once) and returns the kernel for a spec. */
  kernel(spec: KernelSpec): Kernel {
    if (this.shapeOnly) throw new ShapeOnlyError(`compiling kernel '${spec.name}'`);
    return this.pipelines.get(spec);
  }

  /** Records one dispatch into the current batch. Never waits. */
  dispatch(specOrKernel: KernelSpec | Kernel, args: DispatchArgs): void {
    // A shape-only context checks the arguments and records nothing (no pipeline is compiled).
    const k = "pipeline" in specOrKernel || this.shapeOnly
      ? specOrKernel
      : this.kernel(specOrKernel);
    const spec = "pipeline" in k ? k.spec : k;
    if (args.bindings.length !== spec.storage.length) {
      throw new Error(
        `${spec.name}: ${args.bindings.length} buffers bound, the kernel has ${spec.storage.length}`,
      );
    }
    if (spec.params !== !!args.params) {
      throw new Error(
        `${spec.name}: params ${spec.params ? "missing" : "given to a kernel without"}`,
      );
    }
    const [x, y = 1, z = 1] = args.workgroups;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(`${spec.name}: ${x}×${y}×${z} workgroups exceeds ${maxWg} per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    if (args.params && args.params.byteLength > PARAMS_SLOT_BYTES) {
      throw new Error(
        `${spec.name}: params are ${args.params.byteLength} bytes > ${PARAMS_SLOT_BYTES}`,
      );
    }
    if (!("pipeline" in k)) {
      this.dispatchCount++;
      return;
    }
    let dynamicOffset = 0;
    if (args.params) {
      if (this.arenaUsed === ARENA_SLOTS) this.flush();
      dynamicOffset = this.arenaUsed * PARAMS_SLOT_BYTES;
      this.arenaStaging.set(
        new Uint8Array(args.params.buffer, args.params.byteOffset, args.params.byteLength),
        dynamicOffset,
      );
      this.arenaUsed++;
    }
    const pass = this.computePass();
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, this.bindGroup(k, args.bindings), args.params ? [dynamicOffset] : []);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
  }

  /** Records a buffer-to-buffer copy in order with the dispatches. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (this.shapeOnly) {
      if (srcOffset + bytes > src.size || dstOffset + bytes > dst.size) {
        throw new Error(
          `copy of ${bytes} bytes from '${src.label}' +${srcOffset} to '${dst.label}' ` +
            `+${dstOffset} is out of range`,
        );
      }
      return;
    }
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything recorded so far. Does not wait for the GPU. */
  flush(): void {
    this.endPass();
    if (!this.encoder) return;
    if (this.arenaUsed > 0) {
      this.device.queue.writeBuffer(
        this.arena,
        0,
        this.arenaStaging,
        0,
        this.arenaUsed * PARAMS_SLOT_BYTES,
      );
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.submitCount++;
    this.encoder = undefined;
    this.arenaUsed = 0;
    this.pool.afterSubmit();
  }

  /** Whether commands are recorded but not yet submitted. */
  get pending(): boolean {
    return this.encoder !== undefined;
  }

  /** Submits and waits until the GPU is idle; throws any WebGPU error seen. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwErrors();
  }

  /** Copies bytes back to the CPU (flushes first). `offset`/`bytes` multiples of 4. */
  async readBuffer(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    if (this.shapeOnly) throw new ShapeOnlyError(`reading back '${buffer.label}'`);
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      label: "readback",
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.copy(buffer, offset, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange().slice(0, bytes);
    } catch (e) {
      this.throwErrors();
      throw e;
    } finally {
      staging.destroy();
      this.throwErrors();
    }
  }

  /** A stable small id for a buffer (bind group cache keys). */
  bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, id = this.nextBufferId++);
    return id;
  }

  /** Uniform arena buffer and the open compute pass, for the timing helper. */
  beginTimedPass(timestampWrites: GPUComputePassTimestampWrites): void {
    this.endPass();
    this.pass = this.commandEncoder().beginComputePass({ timestampWrites });
  }

  /** Ends the open compute pass, if any (the next dispatch opens a new one). */
  endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  /** The open command encoder, created on first use; submitted by `flush()`. */
  commandEncoder(): GPUCommandEncoder {
    return this.encoder ??= this.device.createCommandEncoder();
  }

  /** Submits pending work, destroys pooled buffers and the device. The context is unusable afterwards. */
  destroy(): void {
    this.flush();
    this.pool.trim();
    this.device.destroy();
  }

  /** The open compute pass, begun on first use. */
  private computePass(): GPUComputePassEncoder {
    return this.pass ??= this.commandEncoder().beginComputePass();
  }

  /** The bind group for `k` over `bindings`, cached by buffer identity, offset and size. */
  private bindGroup(k: Kernel, bindings: BufferBinding[]): GPUBindGroup {
    let key = String(k.id);
    for (const b of bindings) {
      key += `|${this.bufferId(b.buffer)}:${b.offset ?? 0}:${b.size ?? -1}`;
    }
    let bg = this.bindGroups.get(key);
    if (bg) {
      // Refresh recency: Map iteration order is insertion order.
      this.bindGroups.delete(key);
      this.bindGroups.set(key, bg);
      return bg;
    }
    const entries: GPUBindGroupEntry[] = [];
    if (k.spec.params) {
      entries.push({
        binding: 0,
        resource: { buffer: this.arena, offset: 0, size: PARAMS_SLOT_BYTES },
      });
    }
    bindings.forEach((b, i) =>
      entries.push({
        binding: i + 1,
        resource: { buffer: b.buffer, offset: b.offset ?? 0, size: b.size },
      })
    );
    bg = this.device.createBindGroup({ label: k.spec.name, layout: k.layout, entries });
    this.bindGroups.set(key, bg);
    if (this.bindGroups.size > 8192) {
      this.bindGroups.delete(this.bindGroups.keys().next().value!);
    }
    return bg;
  }

  /** Throws the WebGPU validation errors collected since the last check, if any. */
  private throwErrors(): void {
    if (this.errors.length === 0) return;
    const msg = this.errors.join("\n");
    this.errors = [];
    throw new Error(`WebGPU error: ${msg}`);
  }
}

/**
 * The GPU context on the default adapter: the entry point of everything that runs on the GPU.
 * Throws {@link NO_ADAPTER_HELP} when there is no adapter.
 *
 * @example
 * ```ts
 * import { createGpu } from "@ideogram4/webgpu";
 *
 * const ctx = await createGpu();
 * console.log(ctx.features); // { f16, subgroups, timestamps }
 * ctx.destroy();
 * ```
 */
export function createGpu(opts?: GpuOptions): Promise<GpuContext> {
  return GpuContext.create(opts);
}
