/**
 * RMSNorm and LayerNorm over the last axis of f32/f16 activations, computed
 * in f32 with one workgroup per row (`shaders/norm.wgsl`), plus the fusions
 * the DiT block uses around them. CPU reference: `norm_ref.ts`.
 *
 * Formulas (checked against the reference code: PyTorch's `F.rms_norm` in
 * the DiT and transformers' Qwen3 `RMSNorm`): RMSNorm is
 * `x / sqrt(mean(x²) + eps) * weight` — eps inside the square root, the
 * weight multiplied as is (not `1 + weight`). LayerNorm is
 * `(x - mean) / sqrt(var + eps)` with the biased variance.
 *
 * Weights are f32 `[cols]` tensors whatever the activation dtype: they are
 * tiny, and the checkpoints' bf16 has no WGSL type, so loaders widen them.
 * Per-column vectors (`scale`, `gate`) have the activation dtype: they come
 * out of the AdaLN Linear. A view of a larger tensor works when its byte
 * offset is a multiple of `minStorageBufferOffsetAlignment` (256): chunks of
 * the DiT's `[4 * 4608]` modulation are.
 */
import normWgsl from "../../shaders/norm.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation, rowsCols } from "./common.ts";

/** What happens to the normalised (and weighted) row `n` before it is stored. */
type Epilogue =
  | { kind: "none" }
  | { kind: "modulate"; scale: Tensor }
  | { kind: "gatedResidual"; residual: Tensor; gate: Tensor };

const NORM = /* @__PURE__ */ declareKernel({
  name: "norm",
  source: normWgsl,
  params: { rows: "u32", cols: "u32", eps: "f32" },
  // none; AdaLN modulation `n * (1 + v[col])`; gated residual `r + tanh(v[col]) * n`.
  enums: { EPILOGUE: { none: 0, modulate: 1, gatedResidual: 2 } },
  entries: {
    main: {
      x: "read array<act_t>",
      w: "read array<f32>",
      v: "read array<act_t>",
      r: "read array<act_t>",
      out: "read_write array<act_t>",
    },
  },
  workgroupSize: 256,
  variant: (
    v: { act_t: ActDType; layer: boolean; weight: boolean; epilogue: Epilogue["kind"] },
  ) => ({
    aliases: { act_t: v.act_t },
    consts: { LAYER: v.layer, HAS_WEIGHT: v.weight },
    select: { EPILOGUE: v.epilogue },
  }),
});

interface NormArgs {
  op: string;
  x: Tensor;
  layer: boolean;
  weight?: Tensor;
  eps: number;
  epilogue: Epilogue;
}

function checkVector(op: string, t: Tensor, cols: number, dtype: string, role: string): void {
  if (t.numel !== cols || t.dtype !== dtype) {
    throw new Error(
      `${op}: ${role} '${t.label}' is ${shapeStr(t.shape)} ${t.dtype}; expected [${cols}] ${dtype}`,
    );
  }
  const align = t.ctx.limits.minStorageBufferOffsetAlignment;
  if (t.offset % align !== 0) {
    throw new Error(
      `${op}: ${role} '${t.label}' starts at byte ${t.offset}, not a multiple of ${align}; ` +
        `copy it to its own tensor`,
    );
  }
}

function normRows(ctx: GpuContext, a: NormArgs): Tensor {
  const { op, x, weight, epilogue } = a;
  assertActivation(x, op);
  const cols = rowsCols(x.shape)[1];
  if (!(cols > 0) || x.numel % cols !== 0) {
    throw new Error(`${op}: '${x.label}' ${shapeStr(x.shape)} does not split into rows of ${cols}`);
  }
  const rows = x.numel / cols;
  if (weight) checkVector(op, weight, cols, "f32", "weight");
  let v = x, r = x;
  if (epilogue.kind === "modulate") {
    checkVector(op, epilogue.scale, cols, x.dtype, "scale");
    v = epilogue.scale;
  } else if (epilogue.kind === "gatedResidual") {
    checkVector(op, epilogue.gate, cols, x.dtype, "gate");
    const res = epilogue.residual;
    if (res.numel !== x.numel || res.dtype !== x.dtype) {
      throw new Error(
        `${op}: residual '${res.label}' is ${shapeStr(res.shape)} ${res.dtype}; expected ` +
          `${shapeStr(x.shape)} ${x.dtype}`,
      );
    }
    v = epilogue.gate;
    r = res;
  }
  const out = Tensor.empty(ctx, x.shape, x.dtype, op);
  NORM.dispatch(ctx, {
    variant: { act_t: actType(x.dtype), layer: a.layer, weight: !!weight, epilogue: epilogue.kind },
    params: { rows, cols, eps: a.eps },
    bindings: {
      x: x.binding,
      w: (weight ?? x).binding,
      v: v.binding,
      r: r.binding,
      out: out.binding,
    },
    workgroups: grid(ctx, rows),
  });
  return out;
}

/** RMSNorm over the last axis: `x / sqrt(mean(x²) + eps) * weight` (weight f32, optional). */
export function rmsNorm(ctx: GpuContext, x: Tensor, weight: Tensor | undefined, eps: number) {
  return normRows(ctx, { op: "rmsNorm", x, layer: false, weight, eps, epilogue: { kind: "none" } });
}

/** `rmsNorm(x) * weight * (1 + scale)`: a DiT block's pre-norm with its AdaLN modulation. */
export function rmsNormModulate(
  ctx: GpuContext,
  x: Tensor,
  weight: Tensor | undefined,
  scale: Tensor,
  eps: number,
): Tensor {
  return normRows(ctx, {
    op: "rmsNormModulate",
    x,
    layer: false,
    weight,
    eps,
    epilogue: { kind: "modulate", scale },
  });
}

/**
 * `residual + tanh(gate) * rmsNorm(y) * weight`: a DiT block's post-norm and
 * gated residual update in one pass (`h += tanh(g) * norm2(f(...))`).
 */
export function rmsNormGatedResidual(
  ctx: GpuContext,
  residual: Tensor,
  y: Tensor,
  weight: Tensor | undefined,
  gate: Tensor,
  eps: number,
): Tensor {
  return normRows(ctx, {
    op: "rmsNormGatedResidual",
    x: y,
    layer: false,
    weight,
    eps,
    epilogue: { kind: "gatedResidual", residual, gate },
  });
}

/**
 * LayerNorm over the last axis without affine parameters, optionally times
 * `(1 + scale)` (the DiT's final layer: `norm_final(h) * (1 + adaln(silu(a)))`).
 */
export function layerNorm(ctx: GpuContext, x: Tensor, eps: number, scale?: Tensor): Tensor {
  return normRows(ctx, {
    op: scale ? "layerNormModulate" : "layerNorm",
    x,
    layer: true,
    eps,
    epilogue: scale ? { kind: "modulate", scale } : { kind: "none" },
  });
}
