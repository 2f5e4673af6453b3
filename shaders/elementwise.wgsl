// Kernel `elementwise`: Params, bindings, WG and the header are declared in src/ops/elementwise.ts.
// Element-wise ops over f32 or f16 activations (`act_t`), computed in f32.
// The variant's `OP` is one of the op codes OP_*. Operands
// `b` and `c` broadcast: element i reads b[(i / b_div) % b_len] and
// c[(i / c_div) % c_len]. Ops that need fewer operands get `a` bound again.
//   binary:  out[i] = a[i] OP b          (add, mul, sub, siluGate, modulate)
//   unary:   out[i] = OP(a[i])           (silu, tanh)
//   gatedResidual: out[i] = a[i] + tanh(c) * b   (DiT: h + tanh(gate) * y)
fn silu(x: f32) -> f32 {
  return x / (1.0 + exp(-x));
}

fn apply(x: f32, y: f32, z: f32) -> f32 {
  switch OP {
    case OP_ADD: { return x + y; }
    case OP_MUL: { return x * y; }
    case OP_SUB: { return x - y; }
    case OP_SILU_GATE: { return silu(x) * y; }       // SwiGLU gate: silu(gate) * up
    case OP_MODULATE: { return x * (1.0 + y); }      // AdaLN modulation: x * (1 + scale)
    case OP_SILU: { return silu(x); }
    case OP_TANH: { return tanh(x); }
    case OP_GATED_RESIDUAL: { return x + tanh(z) * y; }  // h + tanh(gate) * y
    default: { return x; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) {
    return;
  }
  let y = f32(b[(i / p.b_div) % p.b_len]);
  let z = f32(c[(i / p.c_div) % p.c_len]);
  out[i] = act_t(apply(f32(a[i]), y, z));
}
