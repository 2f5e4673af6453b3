// Kernel `embedding`: Params, bindings, WG and the header are declared in src/ops/embedding.ts.
// Embedding gather: out[r, c] = table[ids[r], c] for f32/f16 tables (`act_t`).
// One thread per output element (2-D grid folded, see `grid`). An id outside
// the table writes zeros; the host checks ids it uploads itself.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) {
    return;
  }
  let id = ids[i / p.dim];
  var v = act_t(0.0);
  if (id < p.vocab) {
    v = table[id * p.dim + i % p.dim];
  }
  out[i] = v;
}
