// Kernel `unpatchify`: Params, bindings, WG and the header are declared in
// src/models/ops/unpatchify.ts.
// DiT latent tokens → the VAE's channels-last latent image, with the latent
// normalisation undone. z is [gh * gw, 128] (token (gy, gx) at row
// gy * gw + gx); channel k = (py * 2 + px) * 32 + c of a token is VAE
// channel c at pixel (2 * gy + py, 2 * gx + px):
//   out[y][x][c] = z[(y/2) * gw + x/2][k] * norm[0][k] + norm[1][k],
//   k = ((y % 2) * 2 + x % 2) * 32 + c,   out: [2 * gh, 2 * gw, 32].
// One invocation per output value, so writes are contiguous.
// The header defines TOKEN_CHANNELS (128) and VAE_LATENT_CHANNELS (32).
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) {
    return;
  }
  let c = i % VAE_LATENT_CHANNELS;
  let pixel = i / VAE_LATENT_CHANNELS;
  let width = 2u * p.gw;
  let x = pixel % width;
  let y = pixel / width;
  let k = ((y % 2u) * 2u + x % 2u) * VAE_LATENT_CHANNELS + c;
  let token = (y / 2u) * p.gw + x / 2u;
  out[i] = z[token * TOKEN_CHANNELS + k] * norm[k] + norm[TOKEN_CHANNELS + k];
}
