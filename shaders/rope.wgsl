// Kernel `rope`: Params, bindings, WG and the header are declared in src/ops/rope.ts.
// Rotary position embedding, "rotate half" form, optionally preceded by a
// per-head RMSNorm (q_norm / k_norm): for each (token t, head h) row of D
// values x (read from a possibly strided source, e.g. q or k inside a packed
// qkv row), with j < D/2 and (c, s) = (cos, sin)[t][j]:
//   n = NORM ? x / sqrt(mean(x²) + eps) * w : x
//   out[j]       = n[j] * c - n[j + D/2] * s
//   out[j + D/2] = n[j + D/2] * c + n[j] * s
// Output is contiguous [tokens, heads, D]. One workgroup per row; the norm's
// sum of squares reduces through workgroup memory. Computed in f32.
// The header defines `act_t`, `WG` (power of two) and `NORM` (bool).

var<workgroup> partial: array<f32, WG>;

fn workgroup_sum(tid: u32, value: f32) -> f32 {
  partial[tid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) {
      partial[tid] += partial[tid + stride];
    }
    workgroupBarrier();
  }
  return partial[0];
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.tokens * p.heads) {
    return;
  }
  let token = row / p.heads;
  let head = row % p.heads;
  let half = p.half;
  let src = token * p.src_stride + p.src_offset + head * 2u * half;
  let dst = row * 2u * half;
  let table = token * half;

  var inv = 1.0;
  if (NORM) {
    var ss = 0.0;
    for (var j = tid; j < half; j += WG) {
      let a = f32(x[src + j]);
      let b = f32(x[src + j + half]);
      ss += a * a + b * b;
    }
    inv = inverseSqrt(workgroup_sum(tid, ss) / f32(2u * half) + p.eps);
  }

  for (var j = tid; j < half; j += WG) {
    var a = f32(x[src + j]) * inv;
    var b = f32(x[src + j + half]) * inv;
    if (NORM) {
      a *= w[j];
      b *= w[j + half];
    }
    let c = cos_t[table + j];
    let s = sin_t[table + j];
    out[dst + j] = act_t(a * c - b * s);
    out[dst + j + half] = act_t(b * c + a * s);
  }
}
