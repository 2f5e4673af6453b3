// Kernel `euler`: Params, bindings, WG and the header are declared in src/ops/euler.ts.
// One guided Euler step of the flow-matching sampler, in place on the f32
// latent (classifier-free guidance and the update fused, so the combined
// velocity never goes to memory):
//   z[i] += (g * v_cond[i] + (1 - g) * v_uncond[i]) * dt
// `vc_t` / `vu_t` (f32 or f16) are the velocities' element types.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) {
    return;
  }
  let v = p.g * f32(v_cond[i]) + p.one_minus_g * f32(v_uncond[i]);
  z[i] = z[i] + v * p.dt;
}
