/**
 * GroupNorm over channels-last activations `[H, W, C]` (or `[pixels, C]`),
 * computed in f32 (`shaders/group_norm.wgsl`). CPU reference: `group_norm_ref.ts`.
 *
 * `y = (x - mean_g) / sqrt(var_g + eps) * gamma[c] + beta[c]` with the biased
 * variance of group `g = c / (C / groups)` over all pixels, as PyTorch's
 * `GroupNorm`. The VAE decoder uses 32 groups, eps 1e-6, and follows every
 * GroupNorm but the attention's with SiLU, which {@link groupNormApply} fuses.
 *
 * Two phases, so a 2048² image processed in row bands is normalised with the
 * statistics of the whole image: {@link groupNormStats} accumulates each band's
 * moments into one {@link GroupNormStats} (`acc`), then {@link groupNormApply}
 * normalises each band with them:
 *
 *     let stats;
 *     for (const b of bands) stats = groupNormStats(ctx, b.x, 32, stats, { rows: b.ownRows });
 *     for (const b of bands) b.y = groupNormApply(ctx, b.x, stats, gamma, beta, 1e-6, {silu: true});
 *
 * (`rows` leaves out halo rows that another band also holds.) Moments are
 * merged pairwise (count, mean, M2) in f32, so large groups (a 2048² ×
 * 128-channel map has 2²⁴ values per group) with large means keep their
 * precision.
 *
 * `gamma` and `beta` are f32 `[C]` tensors whatever the activation dtype.
 */
import groupNormWgsl from "../../shaders/group_norm.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

/** Per-group moments: a `[groups, 4]` u32 tensor of (count, mean bits, M2 bits, unused). */
export interface GroupNormStats {
  readonly tensor: Tensor;
  readonly groups: number;
  readonly channels: number;
}

export interface GroupNormStatsOptions {
  /** Count only rows `[start, end)` of `x`'s first axis (e.g. leave out a band's halo rows). */
  rows?: readonly [number, number];
}

export interface GroupNormApplyOptions {
  /** Apply SiLU after the affine (the resnet's GroupNorm → SiLU). */
  silu?: boolean;
}

/** Values per workgroup in the statistics pass (≈128 per thread). */
const VALUES_PER_WORKGROUP = 32768;

const GROUP_NORM = /* @__PURE__ */ declareKernel({
  name: "group_norm",
  source: groupNormWgsl,
  // One struct for the three entry points; each reads the fields it names.
  params: {
    pix0: "u32", // first pixel counted (partial_stats)
    npix: "u32", // pixels counted (partial_stats)
    channels: "u32",
    groups: "u32",
    chunk: "u32", // pixels per workgroup (partial_stats)
    parts: "u32", // chunks (partial_stats, merge_stats)
    accumulate: "u32", // merge into acc's moments instead of overwriting them (merge_stats)
    count: "u32", // elements (apply)
    eps: "f32", // (apply)
  },
  entries: {
    partial_stats: {
      x: "read array<act_t>",
      moments_out: "read_write array<GroupMoments>", // [parts, groups], or the [groups] total
    },
    merge_stats: {
      moments_in: "read array<GroupMoments>", // [parts, groups]
      moments_out: "read_write array<GroupMoments>",
    },
    apply: {
      x: "read array<act_t>",
      stats: "read array<GroupMoments>", // [groups]
      gamma: "read array<f32>",
      beta: "read array<f32>",
      out: "read_write array<act_t>",
    },
  },
  workgroupSize: 256,
  // SLOTS: per-channel moments a workgroup holds (max(WG, C) for partial_stats).
  variant: (v: { act_t: ActDType; slots: number; silu: boolean }) => ({
    aliases: { act_t: v.act_t },
    consts: { SLOTS: v.slots, SILU: v.silu },
  }),
});

/** Params of one dispatch: the fields its entry point reads, the others zero. */
function params(v: Partial<Parameters<typeof GROUP_NORM.pack>[0]>) {
  return {
    pix0: 0,
    npix: 0,
    channels: 0,
    groups: 0,
    chunk: 0,
    parts: 0,
    accumulate: 0,
    count: 0,
    eps: 0,
    ...v,
  };
}

/** Channels (last axis) and pixels per row of the first axis. */
function geometry(op: string, x: Tensor, groups: number): { channels: number; rowPixels: number } {
  assertActivation(x, op);
  const channels = x.shape[x.shape.length - 1];
  if (x.shape.length < 2 || !(groups > 0) || channels % groups !== 0) {
    throw new Error(
      `${op}: '${x.label}' ${shapeStr(x.shape)} does not split its last axis into ${groups} groups`,
    );
  }
  return { channels, rowPixels: x.numel / (x.shape[0] * channels) };
}

/**
 * Adds the moments of `x` (rows `opts.rows` of it, default all) to `acc`, or to
 * fresh statistics when `acc` is absent; returns the statistics (`acc` itself
 * when given, updated in place in command order).
 */
export function groupNormStats(
  ctx: GpuContext,
  x: Tensor,
  groups: number,
  acc?: GroupNormStats,
  opts: GroupNormStatsOptions = {},
): GroupNormStats {
  const op = "groupNormStats";
  const { channels, rowPixels } = geometry(op, x, groups);
  if (acc && (acc.groups !== groups || acc.channels !== channels)) {
    throw new Error(
      `${op}: statistics of ${acc.groups} groups over ${acc.channels} channels cannot take ` +
        `'${x.label}' ${shapeStr(x.shape)} in ${groups} groups`,
    );
  }
  const [r0, r1] = opts.rows ?? [0, x.shape[0]];
  if (!(Number.isInteger(r0) && Number.isInteger(r1) && 0 <= r0 && r0 < r1 && r1 <= x.shape[0])) {
    throw new Error(
      `${op}: rows [${r0}, ${r1}) are empty or outside '${x.label}' ` +
        shapeStr(x.shape),
    );
  }
  const npix = (r1 - r0) * rowPixels;
  const chunk = Math.max(1, Math.floor(VALUES_PER_WORKGROUP / channels));
  const parts = Math.ceil(npix / chunk);
  const stats = acc ??
    { tensor: Tensor.empty(ctx, [groups, 4], "u32", "groupnorm stats"), groups, channels };
  const partials = Tensor.empty(ctx, [parts, groups, 4], "u32", "groupnorm partials");
  const act_t = actType(x.dtype);
  GROUP_NORM.dispatch(ctx, {
    entry: "partial_stats",
    variant: { act_t, slots: Math.max(GROUP_NORM.workgroupSize, channels), silu: false },
    params: params({ pix0: r0 * rowPixels, npix, channels, groups, chunk, parts }),
    bindings: { x: x.binding, moments_out: partials.binding },
    workgroups: grid(ctx, parts),
  });
  GROUP_NORM.dispatch(ctx, {
    entry: "merge_stats",
    variant: { act_t, slots: GROUP_NORM.workgroupSize, silu: false },
    params: params({ channels, groups, parts, accumulate: acc ? 1 : 0 }),
    bindings: { moments_in: partials.binding, moments_out: stats.tensor.binding },
    workgroups: [groups],
  });
  // Safe to recycle now: later commands that reuse the buffer run after these.
  partials.release();
  return stats;
}

function checkAffine(op: string, t: Tensor, channels: number, role: string): void {
  if (t.dtype !== "f32" || t.numel !== channels) {
    throw new Error(
      `${op}: ${role} '${t.label}' is ${shapeStr(t.shape)} ${t.dtype}; expected [${channels}] f32`,
    );
  }
}

/** Normalises `x` with `stats` (from {@link groupNormStats}), then the affine and optional SiLU. */
export function groupNormApply(
  ctx: GpuContext,
  x: Tensor,
  stats: GroupNormStats,
  gamma: Tensor,
  beta: Tensor,
  eps: number,
  opts: GroupNormApplyOptions = {},
): Tensor {
  const op = "groupNormApply";
  const { channels } = geometry(op, x, stats.groups);
  if (channels !== stats.channels) {
    throw new Error(
      `${op}: '${x.label}' ${shapeStr(x.shape)} has ${channels} channels, the statistics ` +
        `${stats.channels}`,
    );
  }
  checkAffine(op, gamma, channels, "gamma");
  checkAffine(op, beta, channels, "beta");
  const out = Tensor.empty(ctx, x.shape, x.dtype, "groupnorm");
  GROUP_NORM.dispatch(ctx, {
    entry: "apply",
    variant: { act_t: actType(x.dtype), slots: GROUP_NORM.workgroupSize, silu: !!opts.silu },
    params: params({ channels, groups: stats.groups, count: x.numel, eps }),
    bindings: {
      x: x.binding,
      stats: stats.tensor.binding,
      gamma: gamma.binding,
      beta: beta.binding,
      out: out.binding,
    },
    workgroups: GROUP_NORM.grid(ctx, x.numel),
  });
  return out;
}
