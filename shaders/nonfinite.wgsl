// Kernel `nonfinite`: Params, bindings, WG and the header are declared in src/ops/nonfinite.ts.
// Counts the non-finite values (NaN, +Inf, -Inf) of a tensor into one u32 slot
// of a counter buffer, so the pipeline can stop at the first bad stage with
// one small readback. The values are read as raw 32-bit words and tested on
// their exponent bits (all ones = Inf or NaN): a compiler may treat `x != x`
// as false under fast-math, a bit test it cannot. `HALVES`: each word holds
// two f16 values, low half first.

fn bad_f32(w: u32) -> u32 {
  return select(0u, 1u, (w & 0x7f800000u) == 0x7f800000u);
}

fn bad_f16(h: u32) -> u32 {
  return select(0u, 1u, (h & 0x7c00u) == 0x7c00u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * WG;
  var n = 0u;
  for (var i = gid.x; i < p.words; i += stride) {
    let w = x[i];
    if (HALVES) {
      // The last word's high half is padding when the count is odd.
      n += bad_f16(w & 0xffffu);
      if (2u * i + 1u < p.count) {
        n += bad_f16(w >> 16u);
      }
    } else {
      n += bad_f32(w);
    }
  }
  // Zero almost always: one atomic per invocation that saw a bad value.
  if (n > 0u) {
    atomicAdd(&counters[p.slot], n);
  }
}
