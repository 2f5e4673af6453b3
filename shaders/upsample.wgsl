// Nearest-neighbour ×2 upsampling of a channels-last feature map:
// out[y, x, c] = in[y / 2, x / 2, c] for in `[H, W, C]`, out `[2H, 2W, C]`.
// One invocation per output element; the header defines `act_t`.
struct Params {
  count: u32, // output elements
  w: u32, // input width
  c: u32, // channels
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act_t>;
@group(0) @binding(2) var<storage, read_write> out: array<act_t>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.count) {
    return;
  }
  let c = i % p.c;
  let pix = i / p.c;
  let ox = pix % (2u * p.w);
  let oy = pix / (2u * p.w);
  out[i] = x[((oy / 2u) * p.w + ox / 2u) * p.c + c];
}
