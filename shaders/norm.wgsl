// Row normalisation over the last axis: RMSNorm or LayerNorm (no affine),
// optionally times a per-column f32 `weight`, then an optional epilogue.
// One workgroup per row; sums in f32 through a tree in workgroup memory.
// The header (src/ops/norm.ts) defines:
//   act_t       f32 | f16 activations (x, v, r, out)
//   WG          threads per workgroup (power of two)
//   LAYER       true: LayerNorm (x - mean) / sqrt(var + eps); false: RMSNorm x / sqrt(mean(x²) + eps)
//   HAS_WEIGHT  multiply by w[col]
//   EPILOGUE    0: none; 1: AdaLN modulation `n * (1 + v[col])`;
//               2: gated residual `r + tanh(v[col]) * n`
// Unused bindings are bound to some other buffer and never read.
struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act_t>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<act_t>;
@group(0) @binding(4) var<storage, read> r: array<act_t>;
@group(0) @binding(5) var<storage, read_write> out: array<act_t>;

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
    if (EPILOGUE == 1u) {
      y *= 1.0 + f32(v[c]);
    } else if (EPILOGUE == 2u) {
      y = f32(r[base + c]) + tanh(f32(v[c])) * y;
    }
    out[base + c] = act_t(y);
  }
}
