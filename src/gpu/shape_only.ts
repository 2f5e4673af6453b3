/**
 * The device behind a shape-only `GpuContext` (`GpuContext.shapeOnly`),
 * the GPU twin of `ShapeOnlyStore`: buffers that are only sizes, queue writes
 * that check their range and store nothing, and no shader compilation or
 * command encoding at all. Model code runs on it unchanged — the loaders'
 * uploads, the forwards' allocations and releases, weight streaming — so
 * the buffer pool's live and peak bytes are exactly those of a real run,
 * which is how the memory planner (`src/pipeline/memory_plan.ts`) measures a
 * request without a GPU. The context skips dispatches and copies itself;
 * reading data back is an error ({@link ShapeOnlyError}).
 */

/**
 * Storage binding and buffer size a shape-only context assumes when neither
 * an adapter nor the caller gives one: 2 GiB, the top of what desktop
 * adapters report (a lower limit cuts smaller bands and parts, so this errs high).
 */
export const SHAPE_ONLY_BINDING_BYTES = 2 ** 31;

/** Limits of a shape-only context without an adapter: WebGPU's defaults, large buffers. */
const DEFAULT_LIMITS: Readonly<Record<string, number>> = {
  maxBufferSize: SHAPE_ONLY_BINDING_BYTES,
  maxStorageBufferBindingSize: SHAPE_ONLY_BINDING_BYTES,
  minStorageBufferOffsetAlignment: 256,
  minUniformBufferOffsetAlignment: 256,
  maxUniformBufferBindingSize: 65536,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupSizeZ: 64,
  maxComputeWorkgroupsPerDimension: 65535,
};

/** Thrown by whatever needs a real device on a shape-only context (readbacks, pipelines). */
export class ShapeOnlyError extends Error {
  /** `what` names the operation that needs a device. */
  constructor(what: string) {
    super(
      `${what}: this GPU context is shape-only (memory planning: buffers are sizes, no ` +
        "device); it records no work and has no data to read back",
    );
    this.name = "ShapeOnlyError";
  }
}

/** The limits of a shape-only context: the adapter's (or defaults), with `overrides` on top. */
export function shapeOnlyLimits(
  base?: GPUSupportedLimits | Readonly<Record<string, number>>,
  overrides: Readonly<Record<string, number | undefined>> = {},
): GPUSupportedLimits {
  const limits: Record<string, number> = { ...DEFAULT_LIMITS };
  if (base) {
    // GPUSupportedLimits' values are getters on the prototype: copy them by name.
    for (const k of Object.keys(DEFAULT_LIMITS)) {
      const v = (base as Record<string, number>)[k];
      if (typeof v === "number") limits[k] = v;
    }
  }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) limits[k] = v;
  return limits as unknown as GPUSupportedLimits;
}

/** A buffer of a shape-only device: a size and a label, no memory. */
class ShapeOnlyBuffer {
  readonly mapState = "unmapped";
  constructor(readonly size: number, readonly usage: number, readonly label: string) {}
  destroy(): void {}
  mapAsync(): Promise<void> {
    return Promise.reject(new ShapeOnlyError(`mapping buffer '${this.label}'`));
  }
}

/** Checks a queue write's range against the buffer, as WebGPU validation would. */
function writeBuffer(
  buffer: GPUBuffer,
  offset: number,
  data: BufferSource,
  dataOffset = 0,
  size?: number,
): void {
  const unit = ArrayBuffer.isView(data) && "BYTES_PER_ELEMENT" in data
    ? (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT
    : 1;
  const length = ArrayBuffer.isView(data) ? data.byteLength / unit : data.byteLength;
  const bytes = (size ?? length - dataOffset) * unit;
  if (offset % 4 !== 0 || bytes % 4 !== 0 || offset + bytes > buffer.size) {
    throw new Error(
      `writeBuffer: ${bytes} bytes at +${offset} do not fit buffer '${buffer.label}' ` +
        `(${buffer.size} bytes, whole words only)`,
    );
  }
}

/**
 * A stand-in `GPUDevice` with `limits`: `createBuffer` hands out sized
 * handles, the queue checks writes and drops them, and every other member
 * throws {@link ShapeOnlyError} naming itself.
 */
export function shapeOnlyDevice(limits: GPUSupportedLimits): GPUDevice {
  const members: Record<string, unknown> = {
    label: "shape-only",
    limits,
    features: new Set<string>(),
    lost: new Promise<never>(() => {}),
    createBuffer: (d: GPUBufferDescriptor) => new ShapeOnlyBuffer(d.size, d.usage, d.label ?? ""),
    queue: {
      label: "shape-only",
      writeBuffer,
      submit: () => {},
      onSubmittedWorkDone: () => Promise.resolve(),
    },
    addEventListener: () => {},
    destroy: () => {},
  };
  return new Proxy(members, {
    get(target, key) {
      if (typeof key === "symbol" || key === "then" || key in target) return target[key as string];
      return () => {
        throw new ShapeOnlyError(`GPUDevice.${key}`);
      };
    },
  }) as unknown as GPUDevice;
}

/** Adapter info of a shape-only context. */
export const SHAPE_ONLY_ADAPTER_INFO = {
  vendor: "",
  architecture: "",
  device: "",
  description: "shape-only (no device)",
} as unknown as GPUAdapterInfo;
