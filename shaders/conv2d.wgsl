// Kernel `conv2d`: Params, bindings, WG and the header are declared in src/ops/conv2d.ts.
// Conv2d, stride 1, over channels-last feature maps `[rows, W, C]`, as a
// tiled implicit GEMM:
//   out[pix, co] = bias[co] + Σ_{tap, ci} in(pix + tap offset)[ci] · w[tap, ci, co] (+ res[pix, co])
// The reduction axis K = (ky, kx, ci) runs tap by tap in steps of BK input
// channels, so the activations of one step are contiguous in memory.
// Zero padding (KSIZE / 2) applies at the true image border only: the input
// may be a band of rows of a taller image (`in_row0`, `image_h`), and the
// host checks that the band holds every row the output rows read.
//
// A workgroup computes BM output pixels × BN output channels with WG
// threads, each a TM × 4 register micro-tile (TM pixels × 4 channels): BN / 4
// threads across the channels, WG / (BN / 4) thread rows down the pixels.
// The channel tile follows cout (16, 32 or 64) so small convs (the VAE's last
// levels, its 3-channel conv_out) do not compute padded channels. Each
// K-step stages a BM × BK activation tile and a BK × BN weight tile in
// workgroup memory, as vec4 so the inner loop reads 4 values per load; the
// next step's global loads are issued before the current step's FMAs.
//
// The header defines:
//   act_t     f32 | f16 activations (x, res, out)
//   w_t       f32 | f16 weights, laid out [KSIZE*KSIZE*cin, cout] (tap-major, co contiguous)
//   KSIZE     1 or 3
//   BN        channel tile: 16, 32 or 64
//   BK        K-step: 8 or 16 input channels
//   BM, TM    pixel tile and pixels per thread: BM = (WG / (BN / 4)) * TM
//   UPSAMPLE  the conv input is the nearest ×2 upsampling of x (never materialised)
// Bias and residual are switched by `Params` flags (uniform branches in the
// epilogue cost nothing and halve the pipelines to compile); when off, their
// bindings are bound to another buffer and never read.
const PAD = i32(KSIZE / 2u);
const KQ = BK / 4u; // vec4s per tile row of a_tile
const CQ = BN / 4u; // vec4s per tile row of b_tile = threads across the channels
const A_VECS = BM * KQ; // vec4s of a_tile
const B_VECS = BK * CQ; // vec4s of b_tile
// Staging: thread t loads 4 consecutive k of pixel t / KQ (+ WG / KQ per
// round; the last round may be partial) and, when t < B_VECS, 4 consecutive
// output channels of weight row t / CQ.
const A_ROUNDS = (A_VECS + WG - 1u) / WG;
const A_PIX_STEP = WG / KQ;
const_assert TM * (WG / CQ) == BM; // the thread rows cover the pixel tile
const_assert B_VECS <= WG; // one staging round for the weights
const INVALID_ROW = -1073741824; // marks pixels past the end: every tap reads zero

var<workgroup> a_tile: array<vec4<f32>, BM * KQ>; // [pixel][k / 4], a vec4 over 4 k
var<workgroup> b_tile: array<vec4<f32>, BK * CQ>; // [k][co / 4], a vec4 over 4 co

var<private> a_oy: array<i32, A_ROUNDS>; // conv-input image coordinates of the staged pixels
var<private> a_ox: array<i32, A_ROUNDS>;
var<private> a_reg: array<vec4<f32>, A_ROUNDS>; // the next step's tiles, in flight
var<private> b_reg: vec4<f32>;

// 4 consecutive input channels from `ci` of pixel `base` (an element index), zero past cin.
fn load_x4(base: u32, ci: u32) -> vec4<f32> {
  if (ci + 3u < p.cin) {
    return vec4<f32>(f32(x[base]), f32(x[base + 1u]), f32(x[base + 2u]), f32(x[base + 3u]));
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (ci + j < p.cin) {
      v[j] = f32(x[base + j]);
    }
  }
  return v;
}

// Global loads of K-step `s` into registers.
fn fetch(s: u32, t: u32, co0: u32) {
  let tap = s / p.csteps;
  let ci0 = (s % p.csteps) * BK;
  let dy = i32(tap / KSIZE) - PAD;
  let dx = i32(tap % KSIZE) - PAD;
  let ci = ci0 + (t % KQ) * 4u;
  for (var r = 0u; r < A_ROUNDS; r++) {
    let iy = a_oy[r] + dy;
    let ix = a_ox[r] + dx;
    var v = vec4<f32>(0.0);
    if (ci < p.cin && iy >= 0 && iy < i32(p.image_h) && ix >= 0 && ix < i32(p.out_w)) {
      var sy = iy;
      var sx = ix;
      if (UPSAMPLE) {
        sy = iy >> 1u;
        sx = ix >> 1u;
      }
      let row = u32(sy - p.in_row0);
      v = load_x4((row * p.in_w + u32(sx)) * p.cin + ci, ci);
    }
    a_reg[r] = v;
  }
  if (t >= B_VECS) {
    return;
  }
  let k = ci0 + t / CQ;
  let co = co0 + (t % CQ) * 4u;
  var b = vec4<f32>(0.0);
  if (k < p.cin) {
    let base = (tap * p.cin + k) * p.cout + co;
    if (co + 3u < p.cout) {
      b = vec4<f32>(f32(w[base]), f32(w[base + 1u]), f32(w[base + 2u]), f32(w[base + 3u]));
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (co + j < p.cout) {
          b[j] = f32(w[base + j]);
        }
      }
    }
  }
  b_reg = b;
}

// Registers → workgroup tiles (each thread writes whole vec4s: no bank conflicts).
fn stash(t: u32) {
  for (var r = 0u; r < A_ROUNDS; r++) {
    let i = t + r * WG; // = (t / KQ + r * A_PIX_STEP) * KQ + t % KQ
    if (i < A_VECS) {
      a_tile[i] = a_reg[r];
    }
  }
  if (t < B_VECS) {
    b_tile[t] = b_reg; // t = k * CQ + co / 4
  }
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
  let co0 = (tile % p.co_tiles) * BN;
  let pix0 = (tile / p.co_tiles) * BM;

  for (var r = 0u; r < A_ROUNDS; r++) {
    let row = t / KQ + r * A_PIX_STEP;
    let pix = pix0 + row;
    if (row < BM && pix < p.npix) {
      a_oy[r] = p.out_row0 + i32(pix / p.out_w);
      a_ox[r] = i32(pix % p.out_w);
    } else {
      a_oy[r] = INVALID_ROW;
      a_ox[r] = 0;
    }
  }

  let tx = t % CQ; // output channels tx*4 .. tx*4+3 of the tile
  let ty = t / CQ; // output pixels ty*TM .. ty*TM+TM-1 of the tile
  var acc: array<vec4<f32>, TM>;
  for (var i = 0u; i < TM; i++) {
    acc[i] = vec4<f32>(0.0);
  }

  let steps = KSIZE * KSIZE * p.csteps;
  fetch(0u, t, co0);
  for (var s = 0u; s < steps; s++) {
    stash(t);
    workgroupBarrier();
    if (s + 1u < steps) {
      fetch(s + 1u, t, co0);
    }
    for (var kq = 0u; kq < KQ; kq++) {
      var a: array<vec4<f32>, TM>;
      for (var i = 0u; i < TM; i++) {
        a[i] = a_tile[(ty * TM + i) * KQ + kq];
      }
      for (var kk = 0u; kk < 4u; kk++) {
        let b = b_tile[(kq * 4u + kk) * CQ + tx];
        for (var i = 0u; i < TM; i++) {
          acc[i] = fma(vec4<f32>(a[i][kk]), b, acc[i]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let pix = pix0 + ty * TM + i;
    if (pix >= p.npix) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let co = co0 + tx * 4u + j;
      if (co < p.cout) {
        var v = acc[i][j];
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
