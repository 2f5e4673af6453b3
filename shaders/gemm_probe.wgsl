// Kernel `gemm_probe`: Params, bindings, WG, DTM, DTN, LOAD_X and LOAD_W are declared in
// src/bench/gemm_probe.ts.
//
// The inner loop of linear.wgsl's direct path for f32 weights (DTM rows x DTN columns of
// Y = X · Wᵀ per invocation, one vec4 of X per row and one vec4 of W per column for every
// 4 values of k), with each operand's reads switchable. LOAD_X / LOAD_W false make that
// operand from the loop counter instead (registers only), so the bench can show how much
// of the loop's time its storage reads take on an adapter: on CPU rasterisers every read
// whose address is not a constant is a per-lane loop. With both on it is a plain GEMM
// (tested against the CPU reference).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let nt = (wg.x * WG + li) * DTN;
  let m0 = wg.y * DTM;
  let kq = p.K / 4u;
  // Row starts computed once, as the direct path does; rows past the end
  // read the last row and are not written.
  var wrow: array<u32, DTN>;
  for (var j = 0u; j < DTN; j++) {
    wrow[j] = min(nt + j, p.N - 1u) * kq;
  }
  var xrow: array<u32, DTM>;
  for (var i = 0u; i < DTM; i++) {
    xrow[i] = min(m0 + i, p.M - 1u) * kq;
  }
  var acc: array<f32, DTM * DTN>;
  for (var kw = 0u; kw < kq; kw++) {
    let made = f32(kw) * 1e-3;
    var w: array<vec4<f32>, DTN>;
    for (var j = 0u; j < DTN; j++) {
      if (LOAD_W) {
        w[j] = W4[wrow[j] + kw];
      } else {
        w[j] = vec4<f32>(made, f32(j), 0.5, 0.25);
      }
    }
    for (var i = 0u; i < DTM; i++) {
      var a = vec4<f32>(made, f32(i), 0.75, 0.125);
      if (LOAD_X) {
        a = X4[xrow[i] + kw];
      }
      for (var j = 0u; j < DTN; j++) {
        var t = acc[i * DTN + j];
        t = fma(a.x, w[j].x, t);
        t = fma(a.y, w[j].y, t);
        t = fma(a.z, w[j].z, t);
        t = fma(a.w, w[j].w, t);
        acc[i * DTN + j] = t;
      }
    }
  }
  for (var i = 0u; i < DTM; i++) {
    for (var j = 0u; j < DTN; j++) {
      let m = m0 + i;
      let n = nt + j;
      if (m < p.M && n < p.N) {
        Y[m * p.N + n] = acc[i * DTN + j];
      }
    }
  }
}
