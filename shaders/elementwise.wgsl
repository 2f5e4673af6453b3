// Element-wise ops over f32 or f16 activations (`act_t`), computed in f32.
// The header defines `act_t` and `OP` (see src/ops/elementwise.ts). Operands
// `b` and `c` broadcast: element i reads b[(i / b_div) % b_len] and
// c[(i / c_div) % c_len]. Ops that need fewer operands get `a` bound again.
//   binary:  out[i] = a[i] OP b          (add, mul, sub, siluGate, modulate)
//   unary:   out[i] = OP(a[i])           (silu, tanh)
//   gatedResidual: out[i] = a[i] + tanh(c) * b   (DiT: h + tanh(gate) * y)
struct Params {
  count: u32,
  b_div: u32,
  b_len: u32,
  c_div: u32,
  c_len: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<act_t>;
@group(0) @binding(2) var<storage, read> b: array<act_t>;
@group(0) @binding(3) var<storage, read> c: array<act_t>;
@group(0) @binding(4) var<storage, read_write> out: array<act_t>;

fn silu(x: f32) -> f32 {
  return x / (1.0 + exp(-x));
}

fn apply(x: f32, y: f32, z: f32) -> f32 {
  switch OP {
    case 0u: { return x + y; }
    case 1u: { return x * y; }
    case 2u: { return x - y; }
    case 3u: { return silu(x) * y; }        // SwiGLU gate: silu(gate) * up
    case 4u: { return x * (1.0 + y); }      // AdaLN modulation: x * (1 + scale)
    case 5u: { return silu(x); }
    case 6u: { return tanh(x); }
    case 7u: { return x + tanh(z) * y; }    // gated residual: h + tanh(gate) * y
    default: { return x; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.count) {
    return;
  }
  let y = f32(b[(i / p.b_div) % p.b_len]);
  let z = f32(c[(i / p.c_div) % p.c_len]);
  out[i] = act_t(apply(f32(a[i]), y, z));
}
