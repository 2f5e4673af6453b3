// Kernel `attention`: Params, bindings, WG and the header are declared in src/ops/attention.ts.
// Flash-style multi-head attention: out = softmax(scale * q·kᵀ [+ causal mask]) · v
// over f32 or f16 activations, computed in f32, without ever materialising
// the Lq×Lk score matrix (online softmax: running max and sum per query,
// rescaling the output accumulator when the max grows).
//
// Layouts (row-major, vec4 = 4 consecutive head dims):
//   q, out [Lq, Hq, D]   k, v [Lk, Hkv, D]   query head h reads kv head h / (Hq/Hkv).
//
// One workgroup = BQ queries of one head (wid.x = query block, wid.y = head),
// WG = TR × TC threads. Each K/V tile of BK keys is staged once in workgroup
// memory and used by all BQ queries. Per tile:
//   1. scores S[BQ][BK] = q·kᵀ. Thread (sr, sc) = (tid / TCS, tid % TCS) owns
//      rows sr·OQS + i (i < OQS) and keys sc + j·TCS (j < SKS) in registers
//      (a split of its own, as square as the tile allows: each vec4 read
//      serves OQS or SKS dot products). The head dim is walked in chunks of
//      DCS vec4s: a K chunk is staged, then every thread reads its q rows
//      straight from global memory (no Q tile: it would be read back as
//      often as it is written) and does OQS·SKS vec4 dot products per column.
//      Scores are multiplied by scale·log2(e) once, so they are in log2
//      units (exp2 below).
//   2. the masked scores go to `p_tile`; one thread per query row takes the
//      tile max, turns the row into exp2(s − m_new) in place, updates its
//      running max / sum (registers) and publishes the rescale factor
//      exp2(m_old − m_new) in `row_factor`.
//   3. out += P·V. Thread (tr, tc) = (tid / TC, tid % TC) owns output rows
//      tr·OQ + i (i < OQ) and vec4 columns c·TC + tc (c < NCH), the whole
//      head dim across the TC threads, as OQ·NCH vec4 accumulators. V is
//      staged KS keys at a time with all its columns (pitch VC = NCH·TC), so
//      every accumulator index is a constant of the unrolled loops; for
//      every 4 keys a thread reads one P vec4 per row and 4 V vec4s per
//      column chunk and does OQ·NCH·4 vec4 FMAs.
// At the end each row is multiplied by 1/sum (one divide per row, none in
// the loops). Rows with no visible key (causal with Lq > Lk) give zeros.
// Staging and masking are branchless: an out-of-range K/V element (key ≥ Lk,
// column ≥ D/4) reads index 0 and is replaced by 0 with `select`, so padded
// K columns add nothing to the dots and padded keys multiply 0; q reads are
// clamped into range (a padded row is computed and never written).
// Causal blocks stop the key loop after the last key their last query sees:
// fully masked tiles are never loaded. Within a tile, a thread whose
// (consecutive) rows see none of the tile's keys skips its dot products, and
// of a V chunk's keys its FMAs (their P is 0); along the diagonal that is
// about half the threads of the last tiles.
//
// The split is tuned for memory reads per FMA and few barriers: on software
// adapters (llvmpipe) every workgroup / storage read is a per-lane loop and
// every barrier suspends each SIMD batch of threads, which is where the time
// goes; on GPUs the same shape keeps K/V tiles shared by the whole block.
//
// Key chunks: Mesa's llvmpipe ends a shader's loops after 65535 iterations
// in total, which a long key loop would reach (silently dropping the rest).
// There the host splits the keys into dispatches over [k_begin, k_stop): a
// dispatch with `resume` loads the f32 accumulators and each row's running
// max / sum from `acc_state` ([Lq, Hq, D]) and `row_state` ([Lq, Hq] of
// (m, l)), one with `more` stores them there instead of writing `out`.
// Elsewhere a single dispatch covers all keys (the state buffers unused).
//
// Workgroup memory (vec4<f32>; tile sizes come from src/ops/attention.ts,
// which picks them from maxComputeWorkgroupStorageSize):
//   kv_tile KV_TILE (a K chunk BK × DCS at pitch KP = DCS + 1, then V chunks
//   KS × VC), p_tile BQ·PP, row_factor BQ floats. The +1 pads (KP, and
//   PP = BK/4 + 1) put the rows that threads read in the same column in
//   different banks.
//
// Header constants: D_VEC (D/4), TC, TR, WG, OQ, BQ, BK, OQS, SKS, TRS, TCS,
// DCS, KP, KS, VC, PP, NCH, KV_TILE.
var<workgroup> kv_tile: array<vec4<f32>, KV_TILE>;
var<workgroup> p_tile: array<vec4<f32>, BQ * PP>;
var<workgroup> row_factor: array<f32, BQ>;

// Masked score and the initial running max. Finite (WGSL has no infinity
// literal) and far below any real score; `VISIBLE_ABOVE` tells them apart.
const MASKED = -3.0e38;
const VISIBLE_ABOVE = -1.0e38;

// Staging loads per thread (rounded up); FULL_* when they divide evenly, so
// the bounds test folds away.
const K_LOADS = (BK * DCS + WG - 1u) / WG;
const V_LOADS = (KS * VC + WG - 1u) / WG;
const FULL_K_LOADS = BK * DCS % WG == 0u;
const FULL_V_LOADS = KS * VC % WG == 0u;
const_assert TR * TC == WG;
const_assert TRS * TCS == WG;
const_assert TR * OQ == BQ;
const_assert TRS * OQS == BQ;
const_assert TCS * SKS == BK;
const_assert BQ <= WG;
const_assert BK % KS == 0u;
const_assert KS % 4u == 0u;
const_assert BK * KP <= KV_TILE;
const_assert KS * VC <= KV_TILE;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let q0 = wid.x * BQ;
  let head = wid.y;
  let kv_head = head / p.group;
  let tr = tid / TC;
  let tc = tid % TC;
  let sr = tid / TCS;
  let sc = tid % TCS;
  // vec4 strides between consecutive tokens, and the head's first vec4.
  let q_stride = p.hq * D_VEC;
  let kv_stride = p.hkv * D_VEC;
  let q_base = head * D_VEC;
  let kv_base = kv_head * D_VEC;
  // The q rows this thread reads in the score step (clamped into range).
  var q_row: array<u32, OQS>;
  for (var i = 0u; i < OQS; i++) {
    q_row[i] = min(q0 + sr * OQS + i, p.lq - 1u) * q_stride + q_base;
  }

  var acc: array<vec4<f32>, OQ * NCH>;
  for (var a = 0u; a < OQ * NCH; a++) {
    acc[a] = vec4<f32>(0.0);
  }
  // Running max (log2 units) and sum of the row this thread owns in step 2 (tid < BQ).
  var m_run = MASKED;
  var l_run = 0.0;

  // Causal: keys past the block's last query's horizon are never visible.
  var k_end = p.lk;
  if (p.causal != 0u) {
    let last_query = i32(min(q0 + BQ, p.lq)) - 1;
    k_end = u32(clamp(last_query + p.causal_offset + 1, 0, i32(p.lk)));
  }

  // A later key chunk (software adapters, see the header) resumes the state
  // the previous one stored.
  if (p.resume != 0u) {
    for (var i = 0u; i < OQ; i++) {
      let r = min(q0 + tr * OQ + i, p.lq - 1u);
      for (var c = 0u; c < NCH; c++) {
        acc[i * NCH + c] = acc_state[r * q_stride + q_base + min(c * TC + tc, D_VEC - 1u)];
      }
    }
    if (tid < BQ) {
      let st = row_state[min(q0 + tid, p.lq - 1u) * p.hq + head];
      m_run = st.x;
      l_run = st.y;
    }
  }

  for (var k0 = p.k_begin; k0 < min(k_end, p.k_stop); k0 += BK) {
    // ---- 1. scores ----
    // Causal: a thread whose last row sees none of the tile's keys skips its dot products.
    let score_masked = (p.causal != 0u) &
      (i32(q0 + sr * OQS + OQS - 1u) + p.causal_offset < i32(k0));
    var s: array<f32, OQS * SKS>;
    for (var a = 0u; a < OQS * SKS; a++) {
      s[a] = 0.0;
    }
    for (var c0 = 0u; c0 < D_VEC; c0 += DCS) {
      for (var n = 0u; n < K_LOADS; n++) {
        let e = tid + n * WG;
        let j = e / DCS;
        let c = e % DCS;
        let ok = (k0 + j < p.lk) & (c0 + c < D_VEC);
        let x = vec4<f32>(k[select(0u, (k0 + j) * kv_stride + kv_base + c0 + c, ok)]);
        if (FULL_K_LOADS | (e < BK * DCS)) {
          kv_tile[j * KP + c] = select(vec4<f32>(0.0), x, ok);
        }
      }
      workgroupBarrier();
      for (var c = 0u; c < select(DCS, 0u, score_masked); c++) {
        // Past D the K column is zero: any in-range q element will do.
        let col = min(c0 + c, D_VEC - 1u);
        var qv: array<vec4<f32>, OQS>;
        for (var i = 0u; i < OQS; i++) {
          qv[i] = vec4<f32>(q[q_row[i] + col]);
        }
        for (var j = 0u; j < SKS; j++) {
          let kx = kv_tile[(sc + j * TCS) * KP + c];
          for (var i = 0u; i < OQS; i++) {
            s[i * SKS + j] += dot(qv[i], kx);
          }
        }
      }
      workgroupBarrier();
    }

    // ---- 2. online softmax ----
    for (var i = 0u; i < OQS; i++) {
      let r = sr * OQS + i;
      let query = i32(q0 + r);
      for (var j = 0u; j < SKS; j++) {
        let col = sc + j * TCS;
        let key = k0 + col;
        let visible = (key < p.lk) & ((p.causal == 0u) | (i32(key) <= query + p.causal_offset));
        p_tile[r * PP + col / 4u][col % 4u] = select(MASKED, s[i * SKS + j] * p.q_scale, visible);
      }
    }
    workgroupBarrier();
    if (tid < BQ) {
      let row = tid * PP;
      var tile_max = MASKED;
      for (var j4 = 0u; j4 < BK / 4u; j4++) {
        let x = p_tile[row + j4];
        tile_max = max(tile_max, max(max(x.x, x.y), max(x.z, x.w)));
      }
      let m_new = max(m_run, tile_max);
      var sum = 0.0;
      for (var j4 = 0u; j4 < BK / 4u; j4++) {
        let x = p_tile[row + j4];
        let e = select(vec4<f32>(0.0), exp2(x - m_new), x > vec4<f32>(VISIBLE_ABOVE));
        p_tile[row + j4] = e;
        sum += (e.x + e.y) + (e.z + e.w);
      }
      let factor = exp2(m_run - m_new);
      l_run = l_run * factor + sum;
      m_run = m_new;
      row_factor[tid] = factor;
    }
    workgroupBarrier();

    // ---- 3. out = out * factor + P·V ----
    for (var i = 0u; i < OQ; i++) {
      let f = row_factor[tr * OQ + i];
      for (var c = 0u; c < NCH; c++) {
        acc[i * NCH + c] *= f;
      }
    }
    for (var j0 = 0u; j0 < BK; j0 += KS) {
      for (var n = 0u; n < V_LOADS; n++) {
        let e = tid + n * WG;
        let j = e / VC;
        let col = e % VC;
        let key = k0 + j0 + j;
        let ok = (key < p.lk) & (col < D_VEC);
        let x = vec4<f32>(v[select(0u, key * kv_stride + kv_base + col, ok)]);
        if (FULL_V_LOADS | (e < KS * VC)) {
          kv_tile[e] = select(vec4<f32>(0.0), x, ok);
        }
      }
      workgroupBarrier();
      // Causal: rows that see none of these keys skip them (their P is 0).
      let value_masked = (p.causal != 0u) &
        (i32(q0 + tr * OQ + OQ - 1u) + p.causal_offset < i32(k0 + j0));
      for (var j4 = 0u; j4 < select(KS / 4u, 0u, value_masked); j4++) {
        var pr: array<vec4<f32>, OQ>;
        for (var i = 0u; i < OQ; i++) {
          pr[i] = p_tile[(tr * OQ + i) * PP + j0 / 4u + j4];
        }
        for (var c = 0u; c < NCH; c++) {
          let v0 = kv_tile[(4u * j4) * VC + c * TC + tc];
          let v1 = kv_tile[(4u * j4 + 1u) * VC + c * TC + tc];
          let v2 = kv_tile[(4u * j4 + 2u) * VC + c * TC + tc];
          let v3 = kv_tile[(4u * j4 + 3u) * VC + c * TC + tc];
          for (var i = 0u; i < OQ; i++) {
            acc[i * NCH + c] += pr[i].x * v0 + pr[i].y * v1 + pr[i].z * v2 + pr[i].w * v3;
          }
        }
      }
      workgroupBarrier();
    }
  }

  // ---- store the state for the next key chunk, or normalise and write ----
  if (p.more != 0u) {
    for (var i = 0u; i < OQ; i++) {
      let r = q0 + tr * OQ + i;
      for (var c = 0u; c < NCH; c++) {
        let col = c * TC + tc;
        if ((r < p.lq) & (col < D_VEC)) {
          acc_state[r * q_stride + q_base + col] = acc[i * NCH + c];
        }
      }
    }
    if ((tid < BQ) & (q0 + tid < p.lq)) {
      row_state[(q0 + tid) * p.hq + head] = vec2<f32>(m_run, l_run);
    }
    return;
  }

  if (tid < BQ) {
    row_factor[tid] = select(0.0, 1.0 / l_run, l_run > 0.0);
  }
  workgroupBarrier();
  for (var i = 0u; i < OQ; i++) {
    let r = tr * OQ + i;
    if (q0 + r < p.lq) {
      let inv = row_factor[r];
      for (var c = 0u; c < NCH; c++) {
        let col = c * TC + tc;
        if (col < D_VEC) {
          out[(q0 + r) * q_stride + q_base + col] = vec4<act_t>(acc[i * NCH + c] * inv);
        }
      }
    }
  }
}
