// The VAE decoder's boundary conversions. The header defines `in_t` (the
// element type read) and `out_t` (the element type `cast` writes; unused by
// `to_rgb8`, which packs bytes into u32 words). Each entry point has its own
// output variable at binding 2; only the one it uses is in its interface.
//
// to_rgb8: the decoder's float image `[H, W, 3]` → uint8 RGB, as the reference
//   pipeline does: round((clamp(y, -1, 1) + 1) * 127.5), rounding half to
//   even (WGSL `round`, as torch.round). One invocation per output word: 4
//   consecutive bytes, little-endian, the last word zero-padded.
// convert: out[i] = out_t(x[i]) (the f32 latent into f16 activations).
struct Params {
  count: u32, // values in x
  words: u32, // output words (to_rgb8) or values (cast)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<in_t>;
@group(0) @binding(2) var<storage, read_write> rgb: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<out_t>;

fn byte_of(v: in_t) -> u32 {
  let c = clamp(f32(v), -1.0, 1.0);
  return u32(round((c + 1.0) * 127.5));
}

@compute @workgroup_size(256)
fn to_rgb8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * 256u;
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

@compute @workgroup_size(256)
fn convert(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < p.count) {
    y[i] = out_t(x[i]);
  }
}
