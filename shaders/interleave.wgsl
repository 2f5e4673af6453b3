// Kernel `interleave`: Params, bindings, WG and the header are declared in src/ops/interleave.ts.
// Strided copy of one source into an interleaved f32 output: for a source
// `[rows, cols]` (`act_t`) and slot `slot` of `slots`,
//   out[r * cols * slots + c * slots + slot] = f32(src[r * cols + c]).
// One dispatch per source.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) {
    return;
  }
  out[i * p.slots + p.slot] = f32(src[i]);
}
