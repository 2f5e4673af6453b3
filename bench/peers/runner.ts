/**
 * What every implementation in the peer benchmark provides for one case: a
 * `run` that only enqueues GPU work (weights and inputs already resident, no
 * readback) and a `sync` that waits for the GPU to finish it. The harness
 * times `reps` runs plus one sync by wall clock, the same way for the project
 * and for each peer library, since the peers expose no GPU timestamps.
 */
export interface Runner {
  run(): void | Promise<void>;
  /**
   * Peers only: runs once and reads the output back, throwing unless it is
   * finite and not all zero, so an operation a library silently skipped
   * (e.g. a buffer over its limits) fails instead of timing as fast. A
   * library that reuses an old buffer for the output can pass this check;
   * {@link implausibleRate} then catches the timing.
   */
  check?(): Promise<void>;
  sync(): Promise<void>;
  release(): void;
}

/** One benchmarked operation at one shape, as the project and the peers compute it. */
export interface PeerCase {
  /** Row label, e.g. "linear f32". */
  kernel: string;
  /** Shape label, e.g. "128x4608x4608". */
  shape: string;
  /** Floating-point operations of one run (2 per multiply-add). */
  flops: number;
  /** The project's activation dtype, for the % of FMA ceiling. */
  dtype: "f32" | "f16";
}

/** Throws unless `values` holds finite numbers, not all zero. */
export function checkOutput(values: ArrayLike<number>, what: string): void {
  let nonzero = false;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new Error(`${what}: non-finite output`);
    if (values[i] !== 0) nonzero = true;
  }
  if (!nonzero) throw new Error(`${what}: output is all zero (the operation did not run)`);
}

/**
 * How far above the adapter's measured f32 FMA ceiling a peer's rate may be
 * before it is taken as an operation that did not run. The peers compute in
 * f32 without matrix units, so even a GPU whose f16 rate is twice its f32 one
 * stays well inside this bound.
 */
export const IMPLAUSIBLE_FACTOR = 4;

/**
 * Why a measured rate cannot be real, or undefined when it can: over
 * {@link IMPLAUSIBLE_FACTOR} × the FMA ceiling (e.g. tfjs timing 0.3 ms for a
 * GEMM of 7.2 GFLOP on lavapipe: its read-back check had passed on a pooled
 * buffer's old contents, and the timed runs did nothing).
 */
export function implausibleRate(
  gflops: number,
  fmaCeiling: number | undefined,
): string | undefined {
  if (!fmaCeiling || !(gflops > IMPLAUSIBLE_FACTOR * fmaCeiling)) return undefined;
  return `${gflops.toPrecision(3)} GFLOP/s is over ${IMPLAUSIBLE_FACTOR}× the adapter's FMA ` +
    `ceiling (${fmaCeiling.toPrecision(3)}): the operation did not run`;
}

/** Milliseconds per run: `reps` runs enqueued back to back, then one sync. */
export async function timeRunner(r: Runner, reps: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await r.run();
  await r.sync();
  return (performance.now() - t0) / reps;
}
