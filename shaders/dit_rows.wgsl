// Copies a band of whole rows from one tensor into another at any row
// offset, converting the element type (`src_t` → `dst_t`, each f32 or f16):
//   dst[(dst_row0 + r) * cols + c] = dst_t(src[(src_row0 + r) * cols + c])
// for r < rows, c < cols. Both tensors are bound whole, so a band that starts
// mid-buffer needs no aligned binding offset. The DiT uses it to place the
// projected image / text tokens into the [text | image] sequence, to take the
// image rows back out, and to widen f16 velocities to f32.
struct Params {
  count: u32, // rows * cols
  cols: u32,
  src_row0: u32,
  dst_row0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<src_t>;
@group(0) @binding(2) var<storage, read_write> dst: array<dst_t>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.count) {
    return;
  }
  let r = i / p.cols;
  let c = i % p.cols;
  dst[(p.dst_row0 + r) * p.cols + c] = dst_t(src[(p.src_row0 + r) * p.cols + c]);
}
