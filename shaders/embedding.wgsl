// Embedding gather: out[r, c] = table[ids[r], c] for f32/f16 tables (`act_t`).
// One thread per output element (2-D grid folded, see `grid`). An id outside
// the table writes zeros; the host checks ids it uploads itself.
struct Params {
  count: u32, // ids * dim
  dim: u32,
  vocab: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<act_t>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<act_t>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
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
