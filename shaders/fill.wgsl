// Fills a range of 32-bit words with one value (zeroing, NaN poisoning).
struct Params {
  count: u32,   // words to write
  value: u32,   // bit pattern
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < p.count) {
    dst[i] = p.value;
  }
}
