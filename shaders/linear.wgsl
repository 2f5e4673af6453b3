// Y[m, col0 + n] = sum_k X[m, k] * W[n, k] (+ bias[n]): a Linear layer
// (`Y = X · Wᵀ + b`) with the weight decoded inside the tile loads.
//
// Params, bindings and header: declared in src/ops/linear.ts (LINEAR):
// `act_t` (f32 | f16), `x_t` (vec4<act_t> when VEC, else act_t), a FORMAT_<VARIANT> code for every GPU variant of the
// format records (src/formats/: FORMAT_F32, FORMAT_NF4_BF16, …), FORMAT (this
// weight's) and EPW (its weight elements per 32-bit word), VEC, HAS_BIAS, the
// tile BM x BN x BK and the per-thread block TM x TN (multiples of 4;
// workgroup = BN/TN x BM/TM).
//
// Every weight format is read as 32-bit words and indexed by the flat element
// index e = n*K + k, so nothing is ever expanded to a dense copy:
//   f32  word e;               f16 / bf16  half (e & 1) of word e/2;
//   nf4  byte e/2, high nibble for even e, times quant_map[code] * absmax[e / blocksize];
//   fp8  byte e of the words, e4m3fn decoded, times scale[n];
//   fp8_bf16 the same product rounded to bfloat16 (ties to even), the scales
//        already bf16: PyTorch's `w.to(bf16) * scale.to(bf16)`;
//   nf4_bf16 the nf4 product rounded to bfloat16, as bitsandbytes'
//        `dequantize_4bit` into a bf16 output does;
//   int8 byte e of the words, sign-extended, times scale[n].
// `aux` holds the small decode tables: nf4 → quant_map[16] then absmax[],
// fp8 / int8 → scale[N]; unused for dense weights.
//
// Entries: `main` (the tiled path, below), `direct` (register blocks, no
// workgroup memory; CPU adapters) and `dequant_bf16` (an nf4_bf16 weight band
// expanded to bf16 words for the direct path), each documented where it starts.
//
// Two load paths of `main`, chosen by the host from K:
// - VEC (K a multiple of 4 and of EPW, nf4 blocks a multiple of 8): X is read
//   as vec4 and W a whole word at a time; each word is decoded once into its
//   EPW values (one absmax / scale per word), since a word never straddles a
//   row, an nf4 block or the end of K.
// - otherwise element by element (odd K), the same arithmetic.
// Tiles live in workgroup memory k-major as vec4 along m / n, so the inner
// loop is TM/4 + TN/4 vec4 reads per TM·TN FMAs, with f32 accumulators.
// The host may split K into chunks (see `linear.ts`): each dispatch sums
// [k_begin, k_end) and later chunks add to Y.
//
// EPILOGUE (one of EPILOGUE_*) is an element-wise op fused after the sum,
// applied by the dispatch that sums the last chunk of K only (earlier chunks
// write the plain partial sum the next one adds to):
//   none      Y = X · Wᵀ + b
//   silu_gate Y = silu(G) · (X · Wᵀ + b), G of Y's shape at the same index
//             (the FFN's SwiGLU: silu(x · w1ᵀ) · (x · w3ᵀ)).
// The GEMM's value is rounded to act_t first and the op is the same f32
// expression as elementwise.wgsl's, so the result is bit-identical to the
// GEMM followed by that kernel.

const TX = BN / TN;
const TY = BM / TM;
const THREADS = WG;
const_assert THREADS == TX * TY;
const BM4 = BM / 4;
const BN4 = BN / 4;
const TN4 = TN / 4;
const TM4 = TM / 4;
// Weight words per tile row (VEC path).
const WPR = BK / EPW;

var<workgroup> xs: array<vec4<f32>, BK * BM4>;
var<workgroup> ws: array<vec4<f32>, BK * BN4>;

fn byte_at(e: u32) -> u32 {
  return (W[e >> 2u] >> ((e & 3u) * 8u)) & 0xffu;
}

// e4m3fn: bias 7, no infinities; exponent 0 is subnormal (m/8 * 2^-6); S.1111.111 is NaN.
// Branch-free (selects), which CPU adapters run without masking.
fn fp8_e4m3(b: u32) -> f32 {
  let mag = b & 0x7fu;
  // Exponent and mantissa moved into f32's fields, the bias difference 127 - 7 added:
  // 2^(e-7) · (1 + m/8) for e ≥ 1.
  let normal = bitcast<f32>((mag << 20u) + (120u << 23u));
  // e = 0: the same bits give 2^-7 · (1 + m/8), and 2 · that - 2^-6 = m/8 · 2^-6 exactly.
  let v = select(normal, normal * 2.0 - (1.0 / 64.0), mag < 8u);
  // A NaN built from the runtime byte: a constant NaN bitcast is a
  // shader-creation error in Tint (Chrome), though naga accepts it.
  let nan = bitcast<f32>(0x7fc00000u | b);
  return bitcast<f32>(bitcast<u32>(select(v, nan, mag == 0x7fu)) | ((b & 0x80u) << 24u));
}

// f32 → the nearest bfloat16 (ties to even), as f32. Inputs here are finite
// decoded weights (an fp8 NaN byte stays NaN).
fn round_bf16(v: f32) -> f32 {
  let x = bitcast<u32>(v);
  return bitcast<f32>((x + 0x7fffu + ((x >> 16u) & 1u)) & 0xffff0000u);
}

fn bf16_lo(word: u32) -> f32 {
  return bitcast<f32>(word << 16u);
}

fn bf16_hi(word: u32) -> f32 {
  return bitcast<f32>(word & 0xffff0000u);
}

// byte e of the words as a signed 8-bit value.
fn int8_at(word: u32, j: u32) -> f32 {
  return f32(bitcast<i32>(word << (24u - 8u * j)) >> 24u);
}

// An nf4 or fp8 value as the chosen decode gives it: rounded to bfloat16 for
// the bf16-reference variants, else as computed.
fn scaled(v: f32) -> f32 {
  if (FORMAT == FORMAT_FP8_BF16 || FORMAT == FORMAT_NF4_BF16) {
    return round_bf16(v);
  }
  return v;
}

// One weight element, for the element-by-element path.
fn weight_at(n: u32, k: u32) -> f32 {
  let e = n * p.K + k;
  if (FORMAT == FORMAT_F32) {
    return bitcast<f32>(W[e]);
  } else if (FORMAT == FORMAT_F16) {
    return unpack2x16float(W[e >> 1u])[e & 1u];
  } else if (FORMAT == FORMAT_BF16) {
    let word = W[e >> 1u];
    return select(bf16_lo(word), bf16_hi(word), (e & 1u) == 1u);
  } else if (FORMAT == FORMAT_NF4 || FORMAT == FORMAT_NF4_BF16) {
    let byte = byte_at(e >> 1u);
    let code = select(byte & 0xfu, byte >> 4u, (e & 1u) == 0u);
    return scaled(aux[code] * aux[16u + e / p.nf4_block]);
  } else if (FORMAT == FORMAT_INT8) {
    return int8_at(W[e >> 2u], e & 3u) * aux[n];
  } else {
    return scaled(fp8_e4m3(byte_at(e)) * aux[n]);
  }
}

fn put_w(k: u32, r: u32, v: f32) {
  ws[k * BN4 + (r >> 2u)][r & 3u] = v;
}

fn put_x(k: u32, r: u32, v: f32) {
  xs[k * BM4 + (r >> 2u)][r & 3u] = v;
}

// Decodes the weight word holding elements [e, e + EPW) of row n (local row r,
// first tile column c) into ws; each byte and scale is read once.
fn decode_word(n: u32, e: u32, r: u32, c: u32) {
  let word = W[e / EPW];
  if (FORMAT == FORMAT_F32) {
    put_w(c, r, bitcast<f32>(word));
  } else if (FORMAT == FORMAT_F16) {
    let h = unpack2x16float(word);
    put_w(c, r, h.x);
    put_w(c + 1u, r, h.y);
  } else if (FORMAT == FORMAT_BF16) {
    put_w(c, r, bf16_lo(word));
    put_w(c + 1u, r, bf16_hi(word));
  } else if (FORMAT == FORMAT_NF4 || FORMAT == FORMAT_NF4_BF16) {
    let s = aux[16u + e / p.nf4_block];
    for (var j = 0u; j < 4u; j++) {
      let byte = (word >> (8u * j)) & 0xffu;
      put_w(c + 2u * j, r, scaled(aux[byte >> 4u] * s));
      put_w(c + 2u * j + 1u, r, scaled(aux[byte & 0xfu] * s));
    }
  } else if (FORMAT == FORMAT_INT8) {
    let s = aux[n];
    for (var j = 0u; j < 4u; j++) {
      put_w(c + j, r, int8_at(word, j) * s);
    }
  } else {
    let s = aux[n];
    for (var j = 0u; j < 4u; j++) {
      put_w(c + j, r, scaled(fp8_e4m3((word >> (8u * j)) & 0xffu) * s));
    }
  }
}

fn load_tiles(m0: u32, n0: u32, k0: u32, li: u32) {
  if (VEC) {
    // X: BM rows of BK/4 vec4s.
    for (var i = li; i < BM * BK / 4u; i += THREADS) {
      let r = i / (BK / 4u);
      let c = (i % (BK / 4u)) * 4u;
      let m = m0 + r;
      let k = k0 + c;
      var v = vec4<f32>(0.0);
      if (m < p.M && k < p.k_end) {
        let b = m * p.K + k;
        v = vec4<f32>(f32(X[b]), f32(X[b + 1u]), f32(X[b + 2u]), f32(X[b + 3u]));
      }
      put_x(c, r, v.x);
      put_x(c + 1u, r, v.y);
      put_x(c + 2u, r, v.z);
      put_x(c + 3u, r, v.w);
    }
    // W: BN rows of WPR words.
    for (var i = li; i < BN * WPR; i += THREADS) {
      let r = i / WPR;
      let c = (i % WPR) * EPW;
      let n = n0 + r;
      let k = k0 + c;
      if (n < p.N && k < p.k_end) {
        decode_word(n, n * p.K + k, r, c);
      } else {
        for (var j = 0u; j < EPW; j++) {
          put_w(c + j, r, 0.0);
        }
      }
    }
  } else {
    for (var i = li; i < BM * BK; i += THREADS) {
      let r = i / BK;
      let c = i % BK;
      let m = m0 + r;
      let k = k0 + c;
      var v = 0.0;
      if (m < p.M && k < p.k_end) {
        v = f32(X[m * p.K + k]);
      }
      put_x(c, r, v);
    }
    for (var i = li; i < BN * BK; i += THREADS) {
      let r = i / BK;
      let c = i % BK;
      let n = n0 + r;
      let k = k0 + c;
      var v = 0.0;
      if (n < p.N && k < p.k_end) {
        v = weight_at(n, k);
      }
      put_w(c, r, v);
    }
  }
}

// The value stored at Y[at] for the f32 sum `o` (bias and earlier chunks included).
fn epilogue(o: f32, at: u32) -> act_t {
  if (EPILOGUE == EPILOGUE_SILU_GATE && p.k_end == p.K) {
    let y = f32(act_t(o));
    let g = f32(G[at]);
    // silu(g) * y, written as elementwise.wgsl's silu and OP_SILU_GATE.
    return act_t(g / (1.0 + exp(-g)) * y);
  }
  return act_t(o);
}

@compute @workgroup_size(TX, TY)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let n0 = wg.x * BN;
  let m0 = wg.y * BM;
  // With one thread row (TY = 1) the X reads below are the same for every
  // thread: a constant row index lets the compiler see that (a broadcast on
  // CPU adapters instead of a gather).
  let ty = select(lid.y, 0u, TY == 1u);
  // acc[r * TN4 + j]: row lid.y*TM + r, columns lid.x*TN + 4j .. +3.
  var acc: array<vec4<f32>, TM * TN4>;
  for (var k0 = p.k_begin; k0 < p.k_end; k0 += BK) {
    load_tiles(m0, n0, k0, li);
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var b: array<vec4<f32>, TN4>;
      for (var j = 0u; j < TN4; j++) {
        b[j] = ws[kk * BN4 + lid.x * TN4 + j];
      }
      for (var i = 0u; i < TM4; i++) {
        let a = xs[kk * BM4 + ty * TM4 + i];
        for (var j = 0u; j < TN4; j++) {
          acc[(4u * i) * TN4 + j] = fma(vec4<f32>(a.x), b[j], acc[(4u * i) * TN4 + j]);
          acc[(4u * i + 1u) * TN4 + j] = fma(vec4<f32>(a.y), b[j], acc[(4u * i + 1u) * TN4 + j]);
          acc[(4u * i + 2u) * TN4 + j] = fma(vec4<f32>(a.z), b[j], acc[(4u * i + 2u) * TN4 + j]);
          acc[(4u * i + 3u) * TN4 + j] = fma(vec4<f32>(a.w), b[j], acc[(4u * i + 3u) * TN4 + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < TM; r++) {
    let m = m0 + ty * TM + r;
    if (m >= p.M) {
      break;
    }
    for (var j = 0u; j < TN4; j++) {
      let v = acc[r * TN4 + j];
      for (var c = 0u; c < 4u; c++) {
        let n = n0 + lid.x * TN + 4u * j + c;
        if (n < p.N) {
          let at = m * p.ldy + p.col0 + n;
          var o = v[c];
          if (p.accumulate != 0u) {
            o += f32(Y[at]);
          } else if (HAS_BIAS) {
            o += bias[p.col0 + n];
          }
          Y[at] = epilogue(o, at);
        }
      }
    }
  }
}

// ---- The direct path (entry `direct`), no workgroup memory ----
// Each invocation owns DTM rows x DTN columns of Y in registers and reads
// its operands straight from the storage buffers: per step of DQ = 4 * EPW
// values of k, one vec4<u32> of weight words per column (4..32 values,
// decoded once, with one nf4 absmax per step and the fp8 / int8 row scale
// read once per column) and one vec4 of X per row and 4 values of k. Every
// weight value is then used DTM times, every X vec4 DTN times. Needs K a
// multiple of DQ (rows and K chunks start on a vec4 of words) and nf4 blocks
// a multiple of 32; the host picks this path then (see linear.ts). With no
// barriers and no shared tile this suits CPU adapters, whose workgroup
// memory is as slow as any other load.
const DQ = 4u * EPW;

// nf4's 16 table values, read once per invocation of the direct path.
var<private> nf4_map: array<f32, 16>;

// The table value of the low nibble of `c`, chosen by its four bits in a
// tree of selects (cheaper than an indexed load on CPU adapters).
fn nf4_value(c: u32) -> f32 {
  let b0 = (c & 1u) != 0u;
  let b1 = (c & 2u) != 0u;
  let b2 = (c & 4u) != 0u;
  let b3 = (c & 8u) != 0u;
  let l0 = select(select(nf4_map[0], nf4_map[1], b0), select(nf4_map[2], nf4_map[3], b0), b1);
  let l1 = select(select(nf4_map[4], nf4_map[5], b0), select(nf4_map[6], nf4_map[7], b0), b1);
  let l2 = select(select(nf4_map[8], nf4_map[9], b0), select(nf4_map[10], nf4_map[11], b0), b1);
  let l3 = select(select(nf4_map[12], nf4_map[13], b0), select(nf4_map[14], nf4_map[15], b0), b1);
  return select(select(l0, l1, b2), select(l2, l3, b2), b3);
}

// The 4 weight values 4q .. 4q+3 of the DQ values in `wq`, unscaled for
// the quantised formats (nf4: table values; fp8 / int8: the stored number).
fn quad(wq: vec4<u32>, q: u32) -> vec4<f32> {
  if (FORMAT == FORMAT_F32) {
    return bitcast<vec4<f32>>(wq);
  } else if (FORMAT == FORMAT_F16) {
    return vec4<f32>(unpack2x16float(wq[2u * q]), unpack2x16float(wq[2u * q + 1u]));
  } else if (FORMAT == FORMAT_BF16) {
    let a = wq[2u * q];
    let b = wq[2u * q + 1u];
    return vec4<f32>(bf16_lo(a), bf16_hi(a), bf16_lo(b), bf16_hi(b));
  } else if (FORMAT == FORMAT_NF4 || FORMAT == FORMAT_NF4_BF16) {
    let bytes = wq[q >> 1u] >> (16u * (q & 1u));
    return vec4<f32>(
      nf4_value(bytes >> 4u),
      nf4_value(bytes),
      nf4_value(bytes >> 12u),
      nf4_value(bytes >> 8u),
    );
  } else if (FORMAT == FORMAT_INT8) {
    let w = wq[q];
    return vec4<f32>(int8_at(w, 0u), int8_at(w, 1u), int8_at(w, 2u), int8_at(w, 3u));
  } else {
    let w = wq[q];
    return vec4<f32>(
      fp8_e4m3(w & 0xffu),
      fp8_e4m3((w >> 8u) & 0xffu),
      fp8_e4m3((w >> 16u) & 0xffu),
      fp8_e4m3(w >> 24u),
    );
  }
}

// The quad times its scale, rounded to bfloat16 for the bf16-reference variants.
fn scaled4(v: vec4<f32>, s: f32) -> vec4<f32> {
  if (FORMAT == FORMAT_F32 || FORMAT == FORMAT_F16 || FORMAT == FORMAT_BF16) {
    return v;
  }
  let r = v * s;
  if (FORMAT == FORMAT_FP8_BF16 || FORMAT == FORMAT_NF4_BF16) {
    return vec4<f32>(round_bf16(r.x), round_bf16(r.y), round_bf16(r.z), round_bf16(r.w));
  }
  return r;
}

// acc += X[rows, 4 values of k] · the quad q of each column's weights.
fn direct_quad(
  acc: ptr<function, array<f32, DTM * DTN>>,
  wq: ptr<function, array<vec4<u32>, DTN>>,
  s: ptr<function, array<f32, DTN>>,
  xrow: ptr<function, array<u32, DTM>>,
  x4: u32,
  q: u32,
) {
  var w: array<vec4<f32>, DTN>;
  for (var j = 0u; j < DTN; j++) {
    w[j] = scaled4(quad((*wq)[j], q), (*s)[j]);
  }
  for (var i = 0u; i < DTM; i++) {
    let a = vec4<f32>(X4[(*xrow)[i] + x4 + q]);
    for (var j = 0u; j < DTN; j++) {
      var t = (*acc)[i * DTN + j];
      t = fma(a.x, w[j].x, t);
      t = fma(a.y, w[j].y, t);
      t = fma(a.z, w[j].z, t);
      t = fma(a.w, w[j].w, t);
      (*acc)[i * DTN + j] = t;
    }
  }
}

@compute @workgroup_size(WG)
fn direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let nt = (wg.x * WG + li) * DTN;
  let m0 = wg.y * DTM;
  let words_per_row = p.K / DQ;
  // Rows past the end read the last row (no branch around the loads); their
  // results are never written.
  var wrow: array<u32, DTN>;
  var row_scale: array<f32, DTN>;
  for (var j = 0u; j < DTN; j++) {
    let n = min(nt + j, p.N - 1u);
    wrow[j] = n * words_per_row;
    if (FORMAT == FORMAT_INT8 || FORMAT == FORMAT_FP8 || FORMAT == FORMAT_FP8_BF16) {
      row_scale[j] = aux[n];
    } else {
      row_scale[j] = 1.0;
    }
  }
  var xrow: array<u32, DTM>;
  for (var i = 0u; i < DTM; i++) {
    xrow[i] = min(m0 + i, p.M - 1u) * (p.K / 4u);
  }
  if (FORMAT == FORMAT_NF4 || FORMAT == FORMAT_NF4_BF16) {
    for (var c = 0u; c < 16u; c++) {
      nf4_map[c] = aux[c];
    }
  }
  var acc: array<f32, DTM * DTN>;
  for (var kw = p.k_begin / DQ; kw < p.k_end / DQ; kw++) {
    var wq: array<vec4<u32>, DTN>;
    var s: array<f32, DTN>;
    for (var j = 0u; j < DTN; j++) {
      wq[j] = W4[wrow[j] + kw];
      if (FORMAT == FORMAT_NF4 || FORMAT == FORMAT_NF4_BF16) {
        s[j] = aux[16u + (wrow[j] + kw) * DQ / p.nf4_block];
      } else {
        s[j] = row_scale[j];
      }
    }
    // The EPW quads of the step, written out so that q is a constant in each.
    let x4 = kw * EPW;
    direct_quad(&acc, &wq, &s, &xrow, x4, 0u);
    if (EPW >= 2u) {
      direct_quad(&acc, &wq, &s, &xrow, x4, 1u);
    }
    if (EPW >= 4u) {
      direct_quad(&acc, &wq, &s, &xrow, x4, 2u);
      direct_quad(&acc, &wq, &s, &xrow, x4, 3u);
    }
    if (EPW >= 8u) {
      direct_quad(&acc, &wq, &s, &xrow, x4, 4u);
      direct_quad(&acc, &wq, &s, &xrow, x4, 5u);
      direct_quad(&acc, &wq, &s, &xrow, x4, 6u);
      direct_quad(&acc, &wq, &s, &xrow, x4, 7u);
    }
  }
  for (var i = 0u; i < DTM; i++) {
    let m = m0 + i;
    for (var j = 0u; j < DTN; j++) {
      let n = nt + j;
      if (m < p.M && n < p.N) {
        let at = m * p.ldy + p.col0 + n;
        var o = acc[i * DTN + j];
        if (p.accumulate != 0u) {
          o += f32(Y[at]);
        } else if (HAS_BIAS) {
          o += bias[p.col0 + n];
        }
        Y[at] = epilogue(o, at);
      }
    }
  }
}

// ---- nf4 decoded once into bf16 words (entry `dequant_bf16`) ----
// For the bf16-reference nf4 variant (FORMAT_NF4_BF16) every decoded value is
// a bfloat16 already, so a band of weight rows can be expanded once into the
// dense bf16 layout (element e = n*K + k; word e/2, low half the even e) and
// multiplied by the direct path as a bf16 weight, with bit-identical results:
// the same values in the same order. Each invocation expands one vec4 of
// weight words (32 values): vec4 p.dq_first + i of the part, written to D4 at
// 4i..4i+3. The host takes this on CPU adapters for larger M, where decoding
// every value once beats decoding it once per row block (see linear.ts).
fn bf16_bits(v: f32) -> u32 {
  return bitcast<u32>(v) >> 16u;
}

@compute @workgroup_size(WG)
fn dequant_bf16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.dq_count) {
    return;
  }
  for (var c = 0u; c < 16u; c++) {
    nf4_map[c] = aux[c];
  }
  let v4 = p.dq_first + i;
  let wq = W4[v4];
  let s = aux[16u + v4 * DQ / p.nf4_block];
  for (var h = 0u; h < 4u; h++) {
    // Quads 2h and 2h + 1: 8 values, 4 words.
    let a = scaled4(quad(wq, 2u * h), s);
    let b = scaled4(quad(wq, 2u * h + 1u), s);
    D4[4u * i + h] = vec4<u32>(
      bf16_bits(a.x) | (bf16_bits(a.y) << 16u),
      bf16_bits(a.z) | (bf16_bits(a.w) << 16u),
      bf16_bits(b.x) | (bf16_bits(b.y) << 16u),
      bf16_bits(b.z) | (bf16_bits(b.w) << 16u),
    );
  }
}
