// Kernel `peak_flops`: Params, bindings, WG and the header are declared in src/bench/ceilings.ts.
// Arithmetic ceiling probe: each thread runs ITERS rounds of 8 independent
// fused multiply-adds on registers (16 FLOP per round per chain pair), so
// memory traffic is negligible. `act_t` is f32 or f16.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let s = act_t(f32(i & 15u) * 1e-3);
  var a = vec4<act_t>(s, s + act_t(0.1), s + act_t(0.2), s + act_t(0.3));
  var b = vec4<act_t>(s + act_t(0.4), s + act_t(0.5), s + act_t(0.6), s + act_t(0.7));
  let m = act_t(0.999);
  let c = act_t(0.001);
  for (var k = 0u; k < p.iters; k++) {
    a = fma(a, vec4<act_t>(m), vec4<act_t>(c));
    b = fma(b, vec4<act_t>(m), vec4<act_t>(c));
  }
  // One write per thread keeps the loop alive without measurable bandwidth.
  out[i] = f32(dot(a, b));
}
