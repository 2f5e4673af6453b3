// Kernel `norm`: Params, bindings, WG and the header are declared in src/ops/norm.ts.
// Row normalisation over the last axis: RMSNorm or LayerNorm (no affine),
// optionally times a per-column f32 `weight`, then an optional epilogue.
// One workgroup per row; sums in f32 through a tree in workgroup memory.
// The header defines:
//   act_t       f32 | f16 activations (x, v, r, out)
//   WG          threads per workgroup (power of two)
//   LAYER       true: LayerNorm (x - mean) / sqrt(var + eps); false: RMSNorm x / sqrt(mean(x²) + eps)
//   HAS_WEIGHT  multiply by w[col]
//   EPILOGUE    EPILOGUE_NONE; EPILOGUE_MODULATE: AdaLN modulation `n * (1 + v[col])`;
//               EPILOGUE_GATED_RESIDUAL: gated residual `r + tanh(v[col]) * n`
// Unused bindings are bound to some other buffer and never read.

var<workgroup> partial: array<f32, WG>;

// Sum of `value` over the workgroup; every invocation gets the total.
fn workgroup_sum(tid: u32, value: f32) -> f32 {
  partial[tid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) {
      partial[tid] += partial[tid + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier(); // `partial` is reused by the next call
  return total;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  let base = row * p.cols;
  let n = f32(p.cols);

  // LayerNorm subtracts the mean first (two passes keep the variance exact
  // for rows with a large mean).
  var mean = 0.0;
  if (LAYER) {
    var s = 0.0;
    for (var c = tid; c < p.cols; c += WG) {
      s += f32(x[base + c]);
    }
    mean = workgroup_sum(tid, s) / n;
  }
  var ss = 0.0;
  for (var c = tid; c < p.cols; c += WG) {
    let d = f32(x[base + c]) - mean;
    ss += d * d;
  }
  let inv = inverseSqrt(workgroup_sum(tid, ss) / n + p.eps);

  for (var c = tid; c < p.cols; c += WG) {
    var y = (f32(x[base + c]) - mean) * inv;
    if (HAS_WEIGHT) {
      y *= w[c];
    }
    if (EPILOGUE == EPILOGUE_MODULATE) {
      y *= 1.0 + f32(v[c]);
    } else if (EPILOGUE == EPILOGUE_GATED_RESIDUAL) {
      y = f32(r[base + c]) + tanh(f32(v[c])) * y;
    }
    out[base + c] = act_t(y);
  }
}
