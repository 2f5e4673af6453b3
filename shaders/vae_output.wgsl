// Kernel `vae_output`: Params, bindings, WG and the header are declared in src/ops/to_rgb8.ts.
// The VAE decoder's boundary conversions. The header defines `in_t` (the
// element type read) and `out_t` (the element type `convert` writes; unused
// by `to_rgb8`, which packs bytes into u32 words). Each entry point has its
// own output variable at binding 2; only the one it uses is in its interface.
//
// to_rgb8: the decoder's float image `[H, W, 3]` → uint8 RGB, as the reference
//   pipeline does: round((clamp(y, -1, 1) + 1) * 127.5), rounding half to
//   even (WGSL `round`, as torch.round). One invocation per output word: 4
//   consecutive bytes, little-endian, the last word zero-padded.
// convert: y[i] = out_t(x[i]) (the f32 latent into f16 activations).

fn byte_of(v: in_t) -> u32 {
  let c = clamp(f32(v), -1.0, 1.0);
  return u32(round((c + 1.0) * 127.5));
}

@compute @workgroup_size(WG)
fn to_rgb8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * WG;
  if (j >= p.words) {
    return;
  }
  var word = 0u;
  for (var b = 0u; b < 4u; b++) {
    let i = 4u * j + b;
    if (i < p.count) {
      word |= byte_of(x[i]) << (8u * b);
    }
  }
  rgb[j] = word;
}

@compute @workgroup_size(WG)
fn convert(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.count) {
    y[i] = out_t(x[i]);
  }
}
