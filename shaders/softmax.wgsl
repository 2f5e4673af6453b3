// Numerically stable softmax over the last axis of f32/f16 activations:
// out = exp(s*x - max(s*x)) / sum(exp(s*x - max(s*x))), computed in f32.
// One workgroup per row; max and sum reduce through workgroup memory.
// The header (src/ops/softmax.ts) defines `act_t` and `WG` (power of two).
struct Params {
  rows: u32,
  cols: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act_t>;
@group(0) @binding(2) var<storage, read_write> out: array<act_t>;

var<workgroup> partial: array<f32, WG>;

// Max (`take_max`) or sum of `value` over the workgroup; every invocation gets the result.
fn workgroup_reduce(tid: u32, value: f32, take_max: bool) -> f32 {
  partial[tid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) {
      let other = partial[tid + stride];
      partial[tid] = select(partial[tid] + other, max(partial[tid], other), take_max);
    }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier(); // `partial` is reused by the next call
  return result;
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

  // -3.4e38 rather than -inf: WGSL has no infinity literal.
  var m = -3.4e38;
  for (var c = tid; c < p.cols; c += WG) {
    m = max(m, p.scale * f32(x[base + c]));
  }
  m = workgroup_reduce(tid, m, true);

  var s = 0.0;
  for (var c = tid; c < p.cols; c += WG) {
    s += exp(p.scale * f32(x[base + c]) - m);
  }
  let inv = 1.0 / workgroup_reduce(tid, s, false);

  for (var c = tid; c < p.cols; c += WG) {
    out[base + c] = act_t(exp(p.scale * f32(x[base + c]) - m) * inv);
  }
}
