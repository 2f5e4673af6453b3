// One guided Euler step of the flow-matching sampler, in place on the f32
// latent (classifier-free guidance and the update fused, so the combined
// velocity never goes to memory):
//   z[i] += (g * v_cond[i] + (1 - g) * v_uncond[i]) * dt
// The header defines `vc_t` / `vu_t` (f32 or f16), the velocities' element types.
struct Params {
  count: u32, // values in z
  g: f32, // guidance weight of the conditional velocity
  one_minus_g: f32, // 1 - g, rounded once on the CPU
  dt: f32, // s - t
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> v_cond: array<vc_t>;
@group(0) @binding(2) var<storage, read> v_uncond: array<vu_t>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.count) {
    return;
  }
  let v = p.g * f32(v_cond[i]) + p.one_minus_g * f32(v_uncond[i]);
  z[i] = z[i] + v * p.dt;
}
