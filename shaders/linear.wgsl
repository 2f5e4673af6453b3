// Y[m, col0 + n] = sum_k X[m, k] * W[n, k] (+ bias[n]): a Linear layer
// (`Y = X · Wᵀ + b`) with the weight decoded inside the tile loads.
//
// Header (src/ops/linear.ts): `act_t` (f32 | f16), FORMAT (0 f32, 1 f16,
// 2 bf16, 3 nf4, 4 fp8, 5 fp8 and 6 nf4 as the bf16 reference decodes them), HAS_BIAS, the tile sizes BM x BN x BK and the
// per-thread block TM x TN (workgroup = (BN/TN) x (BM/TM) threads).
//
// Every weight format is read as 32-bit words and indexed by the flat element
// index e = n*K + k, so no row needs to start on a word boundary (odd K, nf4
// blocks that straddle rows) and nothing is ever expanded to a dense copy:
//   f32  word e;               f16 / bf16  half (e & 1) of word e/2;
//   nf4  byte e/2, high nibble for even e, times quant_map[code] * absmax[e / blocksize];
//   fp8  byte e of the words, e4m3fn decoded, times scale[n];
//   fp8 (5) the same product rounded to bfloat16 (ties to even), the scales
//        already bf16: PyTorch's `w.to(bf16) * scale.to(bf16)`;
//   nf4 (6) the nf4 product rounded to bfloat16, as bitsandbytes'
//        `dequantize_4bit` into a bf16 output does.
// `aux` holds the small decode tables: nf4 → quant_map[16] then absmax[],
// fp8 → scale[N]; unused for dense weights.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  // Row stride of Y and the column where this weight part's outputs start
  // (a weight split into parts writes disjoint column ranges of one Y).
  ldy: u32,
  col0: u32,
  nf4_block: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<act_t>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<act_t>;

const TX = BN / TN;
const TY = BM / TM;
const THREADS = TX * TY;

// Tiles are stored k-major so the inner product reads a row of each.
var<workgroup> xs: array<array<f32, BM>, BK>;
var<workgroup> ws: array<array<f32, BN>, BK>;

fn byte_at(e: u32) -> u32 {
  return (W[e >> 2u] >> ((e & 3u) * 8u)) & 0xffu;
}

// e4m3fn: bias 7, no infinities; exponent 0 is subnormal (m/8 * 2^-6); S.1111.111 is NaN.
fn fp8_e4m3(b: u32) -> f32 {
  let sign = select(1.0, -1.0, (b & 0x80u) != 0u);
  let e = (b >> 3u) & 0xfu;
  let m = b & 7u;
  if ((b & 0x7fu) == 0x7fu) {
    // A NaN built from the runtime byte (keeping its sign): a constant NaN
    // bitcast is a shader-creation error in Tint (Chrome), though naga accepts it.
    return bitcast<f32>(0x7fc00000u | ((b & 0x80u) << 24u));
  }
  if (e == 0u) {
    return sign * f32(m) * (1.0 / 512.0);
  }
  return sign * bitcast<f32>(((e + 120u) << 23u) | (m << 20u));
}

// f32 → the nearest bfloat16 (ties to even), as f32. Inputs here are finite
// decoded weights (an fp8 NaN byte stays NaN).
fn round_bf16(v: f32) -> f32 {
  let x = bitcast<u32>(v);
  return bitcast<f32>((x + 0x7fffu + ((x >> 16u) & 1u)) & 0xffff0000u);
}

fn weight_at(n: u32, k: u32) -> f32 {
  let e = n * p.K + k;
  if (FORMAT == 0u) {
    return bitcast<f32>(W[e]);
  } else if (FORMAT == 1u) {
    return unpack2x16float(W[e >> 1u])[e & 1u];
  } else if (FORMAT == 2u) {
    let word = W[e >> 1u];
    return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (e & 1u) == 1u));
  } else if (FORMAT == 3u || FORMAT == 6u) {
    let byte = byte_at(e >> 1u);
    let code = select(byte & 0xfu, byte >> 4u, (e & 1u) == 0u);
    let v = aux[code] * aux[16u + e / p.nf4_block];
    if (FORMAT == 6u) {
      return round_bf16(v);
    }
    return v;
  } else if (FORMAT == 4u) {
    return fp8_e4m3(byte_at(e)) * aux[n];
  } else {
    return round_bf16(fp8_e4m3(byte_at(e)) * aux[n]);
  }
}

@compute @workgroup_size(TX, TY)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let n0 = wg.x * BN;
  let m0 = wg.y * BM;
  var acc: array<array<f32, TN>, TM>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // Cooperative loads: consecutive threads take consecutive k of one row.
    for (var i = li; i < BM * BK; i += THREADS) {
      let r = i / BK;
      let c = i % BK;
      let m = m0 + r;
      let k = k0 + c;
      var v = 0.0;
      if (m < p.M && k < p.K) {
        v = f32(X[m * p.K + k]);
      }
      xs[c][r] = v;
    }
    for (var i = li; i < BN * BK; i += THREADS) {
      let r = i / BK;
      let c = i % BK;
      let n = n0 + r;
      let k = k0 + c;
      var v = 0.0;
      if (n < p.N && k < p.K) {
        v = weight_at(n, k);
      }
      ws[c][r] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, TM>;
      var b: array<f32, TN>;
      // Strided ownership (row ty + TY*i) keeps a warp's reads on distinct banks.
      for (var i = 0u; i < TM; i++) {
        a[i] = xs[kk][lid.y + TY * i];
      }
      for (var j = 0u; j < TN; j++) {
        b[j] = ws[kk][lid.x + TX * j];
      }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
          acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + lid.y + TY * i;
    if (m >= p.M) {
      continue;
    }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + lid.x + TX * j;
      if (n < p.N) {
        var v = acc[i][j];
        if (HAS_BIAS) {
          v += bias[p.col0 + n];
        }
        Y[m * p.ldy + p.col0 + n] = act_t(v);
      }
    }
  }
}
