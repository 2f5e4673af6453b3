// Kernel `conv2d`: Params, bindings, WG and the header are declared in src/ops/conv2d.ts.
// Conv2d, stride 1, over channels-last feature maps `[rows, W, C]`, as an
// implicit GEMM:
//   out[pix, co] = bias[co] + Σ_{tap, ci} in(pix + tap offset)[ci] · w[tap, ci, co] (+ res[pix, co])
// The reduction axis K = (ky, kx, ci) runs tap by tap, 4 input channels at a
// time. Zero padding (KSIZE / 2) applies at the true image border only: the
// input may be a band of rows of a taller image (`in_row0`, `image_h`), and
// the host checks that the band holds every row the output rows read.
//
// A workgroup computes WG · TM output pixels × BN output channels. Each
// thread owns TM pixels (t, t + WG, …) and all BN channels of the tile, a
// register block of TM × BN / 4 vec4 accumulators. Per 4 input channels it
// reads TM vec4s of activations (its pixels' 4 channels) and 4 · BN / 4 vec4s
// of weights (4 rows of the tile, 4 output channels each), and does
// 4 · TM · BN FMAs. The weight reads are the same for every thread of the
// workgroup (a broadcast from cache on a GPU) and nothing is staged in
// workgroup memory, so there are no barriers: on CPU adapters (llvmpipe), where
// each load is a loop over the SIMD lanes and each barrier switches every
// group of lanes in and out, this measured several times faster than a tiled
// kernel staging both operands in workgroup memory (see the README's peers
// section). The 4 weight rows are named (w0..w3) rather than a 4-step loop,
// which keeps the pixel loop's body small enough for the compiler to unroll.
// Loop trips per thread: KSIZE² · ceil(cin / 4) · (1 + BN / 4) (19 584 for
// the VAE's 512-channel convs), well under llvmpipe's 65 535 per shader;
// conv2d.ts refuses longer ones on CPU adapters, and conv2d_test.ts checks a
// 512-channel conv against the CPU reference.
// The channel tile follows cout (4 … 64), so the VAE's 3-channel conv_out
// computes one padded channel.
//
// The header defines:
//   act_t     f32 | f16 activations (x, res, out)
//   x_t       vec4<act_t> when XVEC (cin a multiple of 4: 4 channels per load), else act_t
//   w_t       f32 | f16 weights, laid out [KSIZE*KSIZE, cinp, cop4] as vec4 over 4 output
//             channels: cin and cout padded with zeros to multiples of 4 (see conv2d.ts),
//             so the 4 rows read per step always exist
//   KSIZE     1 or 3
//   BN        channel tile: 4, 8, 16, 32 or 64
//   TM        pixels per thread
//   UPSAMPLE  the conv input is the nearest ×2 upsampling of x (never materialised)
// Bias and residual are switched by `Params` flags (uniform branches in the
// epilogue cost nothing and halve the pipelines to compile); when off, their
// bindings are bound to another buffer and never read.
const PAD = i32(KSIZE / 2u);
const BN4 = BN / 4u; // vec4s of output channels per thread
const VW = select(1u, 4u, XVEC); // activations per element of x
const INVALID_ROW = -1073741824; // marks pixels past the end: every tap reads zero

var<private> a_oy: array<i32, TM>; // conv-input image coordinates of this thread's pixels
var<private> a_ox: array<i32, TM>;

// Input channels ci .. ci+3 of this thread's pixel i at tap offset (dy, dx); zero
// outside the image and past cin.
fn load_a(i: u32, dy: i32, dx: i32, ci: u32) -> vec4<f32> {
  let iy = a_oy[i] + dy;
  let ix = a_ox[i] + dx;
  var v = vec4<f32>(0.0);
  if (ci < p.cin && iy >= 0 && iy < i32(p.image_h) && ix >= 0 && ix < i32(p.out_w)) {
    var sy = iy;
    var sx = ix;
    if (UPSAMPLE) {
      sy = iy >> 1u;
      sx = ix >> 1u;
    }
    let e = (u32(sy - p.in_row0) * p.in_w + u32(sx)) * p.cin + ci;
    // Written so that both branches type-check for either x_t (VW = 1: a splat, [0]).
    if (XVEC) {
      v = vec4<f32>(vec4<act_t>(x[e / VW]));
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (ci + j < p.cin) {
          v[j] = f32(vec4<act_t>(x[(e + j) / VW])[(e + j) % VW]);
        }
      }
    }
  }
  return v;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= p.tiles) {
    return;
  }
  // Channel tiles vary fastest, so the workgroups sharing a pixel tile run
  // together and read its activations from cache.
  let cv0 = (tile % p.co_tiles) * BN4;
  let pix0 = (tile / p.co_tiles) * (WG * TM);
  for (var i = 0u; i < TM; i++) {
    let pix = pix0 + t + i * WG;
    if (pix < p.npix) {
      a_oy[i] = p.out_row0 + i32(pix / p.out_w);
      a_ox[i] = i32(pix % p.out_w);
    } else {
      a_oy[i] = INVALID_ROW;
      a_ox[i] = 0;
    }
  }

  var acc: array<vec4<f32>, TM * BN4>; // [pixel i][co / 4]
  for (var tap = 0u; tap < KSIZE * KSIZE; tap++) {
    let dy = i32(tap / KSIZE) - PAD;
    let dx = i32(tap % KSIZE) - PAD;
    for (var ci = 0u; ci < p.cin; ci += 4u) {
      var a: array<vec4<f32>, TM>;
      for (var i = 0u; i < TM; i++) {
        a[i] = load_a(i, dy, dx, ci);
      }
      let wrow = (tap * p.cinp + ci) * p.cop4 + cv0;
      for (var c = 0u; c < BN4; c++) {
        let w0 = vec4<f32>(w[wrow + c]);
        let w1 = vec4<f32>(w[wrow + p.cop4 + c]);
        let w2 = vec4<f32>(w[wrow + 2u * p.cop4 + c]);
        let w3 = vec4<f32>(w[wrow + 3u * p.cop4 + c]);
        for (var i = 0u; i < TM; i++) {
          var s = acc[i * BN4 + c];
          s = fma(vec4<f32>(a[i].x), w0, s);
          s = fma(vec4<f32>(a[i].y), w1, s);
          s = fma(vec4<f32>(a[i].z), w2, s);
          acc[i * BN4 + c] = fma(vec4<f32>(a[i].w), w3, s);
        }
      }
    }
  }

  for (var i = 0u; i < TM; i++) {
    let pix = pix0 + t + i * WG;
    if (pix >= p.npix) {
      break;
    }
    for (var c = 0u; c < BN4; c++) {
      for (var j = 0u; j < 4u; j++) {
        let co = (cv0 + c) * 4u + j;
        if (co < p.cout) {
          var v = acc[i * BN4 + c][j];
          if (p.has_bias != 0u) {
            v += bias[co];
          }
          let o = pix * p.cout + co;
          if (p.residual == RESIDUAL_SEPARATE) {
            v += f32(res[o]);
          } else if (p.residual == RESIDUAL_IN_PLACE) {
            v += f32(out[o]);
          }
          out[o] = act_t(v);
        }
      }
    }
  }
}
