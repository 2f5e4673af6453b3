// Kernel `copy_rows`: Params, bindings, WG and the header are declared in src/ops/copy_rows.ts.
// Copies a band of whole rows from one tensor into another at any row
// offset, converting the element type (`src_t` → `dst_t`, each f32 or f16):
//   dst[(dst_row0 + r) * cols + c] = dst_t(src[(src_row0 + r) * cols + c])
// for r < rows, c < cols. Both tensors are bound whole, so a band that starts
// mid-buffer needs no aligned binding offset.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) {
    return;
  }
  let r = i / p.cols;
  let c = i % p.cols;
  dst[(p.dst_row0 + r) * p.cols + c] = dst_t(src[(p.src_row0 + r) * p.cols + c]);
}
