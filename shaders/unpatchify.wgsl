// DiT latent tokens → the VAE's channels-last latent image, with the latent
// normalisation undone. z is [gh * gw, 128] (token (gy, gx) at row
// gy * gw + gx); channel k = (py * 2 + px) * 32 + c of a token is VAE
// channel c at pixel (2 * gy + py, 2 * gx + px):
//   out[y][x][c] = z[(y/2) * gw + x/2][k] * norm[0][k] + norm[1][k],
//   k = ((y % 2) * 2 + x % 2) * 32 + c,   out: [2 * gh, 2 * gw, 32].
// One invocation per output value, so writes are contiguous.
struct Params {
  count: u32, // values in out = gh * gw * 128
  gw: u32, // tokens per latent row
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> norm: array<f32>; // [2, 128]: scale, shift
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.count) {
    return;
  }
  let c = i % 32u;
  let pixel = i / 32u;
  let width = 2u * p.gw;
  let x = pixel % width;
  let y = pixel / width;
  let k = ((y % 2u) * 2u + x % 2u) * 32u + c;
  let token = (y / 2u) * p.gw + x / 2u;
  out[i] = z[token * 128u + k] * norm[k] + norm[128u + k];
}
