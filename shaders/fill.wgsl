// Kernel `fill`: Params, bindings, WG and the header are declared in src/gpu/fill.ts.
// Fills a range of 32-bit words with one value (zeroing, NaN poisoning).
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.count) {
    dst[i] = p.value;
  }
}
