// Strided copy of one source into an interleaved f32 output: for a source
// `[rows, cols]` (`act_t`) and slot `slot` of `slots`,
//   out[r * cols * slots + c * slots + slot] = f32(src[r * cols + c]).
// Ideogram 4's text features put the 13 tapped hidden states side by side
// with the tap index fastest (`h * 13 + tap`); one dispatch per tap.
struct Params {
  count: u32, // rows * cols
  slots: u32,
  slot: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<act_t>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.count) {
    return;
  }
  out[i * p.slots + p.slot] = f32(src[i]);
}
