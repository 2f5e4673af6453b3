// Kernel `group_norm`: Params, bindings, WG and the header are declared in src/ops/group_norm.ts.
// GroupNorm over channels-last activations `[pixels, C]`, in two phases so
// the statistics can cover a whole image that is processed in row bands:
//
//   partial_stats  one workgroup per chunk of pixels: per-group moments of the chunk
//   merge_stats    one workgroup per group: merges the chunks' moments (and,
//                  with `accumulate`, the moments already in `acc`) into acc
//   apply          y = (x - mean) * rsqrt(var + eps) * gamma[c] + beta[c], then SiLU if SILU
//
// Moments are (count, mean, M2 = Σ (x - mean)²), merged with Chan et al.'s
// pairwise formula, which stays exact-ish in f32 for huge groups with large
// means (no Σx² - (Σx)²/n cancellation). Within one thread, the values of a
// channel are summed relative to the thread's first value of it (shifted
// sums), so even those short sums do not cancel.
//
// Each entry point has its own bindings. The header defines `act_t`, `SLOTS`
// (max(WG, C): per-channel moments of a workgroup) and `SILU`.

// Stored moments; the count is a u32 so it stays exact past 2^24.
struct GroupMoments {
  count: u32,
  mean: f32,
  m2: f32,
  unused: u32,
}

struct Moments {
  n: f32,
  mean: f32,
  m2: f32,
}

fn combine(a: Moments, b: Moments) -> Moments {
  if (b.n == 0.0) {
    return a;
  }
  if (a.n == 0.0) {
    return b;
  }
  let n = a.n + b.n;
  let d = b.mean - a.mean;
  let fb = b.n / n;
  return Moments(n, a.mean + d * fb, a.m2 + b.m2 + d * d * a.n * fb);
}

fn from_stored(s: GroupMoments) -> Moments {
  return Moments(f32(s.count), s.mean, s.m2);
}

fn to_stored(m: Moments) -> GroupMoments {
  return GroupMoments(u32(m.n), m.mean, m.m2, 0u);
}

var<workgroup> w_n: array<f32, SLOTS>;
var<workgroup> w_mean: array<f32, SLOTS>;
var<workgroup> w_m2: array<f32, SLOTS>;

fn store_slot(i: u32, m: Moments) {
  w_n[i] = m.n;
  w_mean[i] = m.mean;
  w_m2[i] = m.m2;
}

fn load_slot(i: u32) -> Moments {
  return Moments(w_n[i], w_mean[i], w_m2[i]);
}

// ---- partial_stats -------------------------------------------------------
// Bindings: x, moments_out [parts, groups].
// Threads are `lanes` channels wide and `streams` pixels deep: thread t reads
// channel (t % lanes) (+ lanes, ... when C > WG) of pixels (t / lanes) +
// streams·k, so a warp reads consecutive channels of one pixel.
@compute @workgroup_size(WG)
fn partial_stats(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
) {
  let part = wid.x + wid.y * nwg.x;
  if (part >= p.parts) {
    return;
  }
  let cs = p.channels;
  let lanes = min(cs, WG);
  let streams = WG / lanes;
  let stream = t / lanes;
  let first = part * p.chunk;
  let end = min(first + p.chunk, p.npix);
  if (stream < streams) {
    for (var c = t % lanes; c < cs; c += lanes) {
      var m = Moments(0.0, 0.0, 0.0);
      var q = first + stream;
      if (q < end) {
        let shift = f32(x[(p.pix0 + q) * cs + c]);
        var s1 = 0.0;
        var s2 = 0.0;
        var n = 0u;
        for (; q < end; q += streams) {
          let d = f32(x[(p.pix0 + q) * cs + c]) - shift;
          s1 += d;
          s2 += d * d;
          n++;
        }
        let nf = f32(n);
        m = Moments(nf, shift + s1 / nf, max(s2 - s1 * s1 / nf, 0.0));
      }
      store_slot(stream * cs + c, m);
    }
  }
  workgroupBarrier();
  let cpg = cs / p.groups;
  for (var g = t; g < p.groups; g += WG) {
    var m = Moments(0.0, 0.0, 0.0);
    for (var s = 0u; s < streams; s++) {
      for (var c = g * cpg; c < (g + 1u) * cpg; c++) {
        m = combine(m, load_slot(s * cs + c));
      }
    }
    moments_out[part * p.groups + g] = to_stored(m);
  }
}

// ---- merge_stats ---------------------------------------------------------
// Bindings: moments_in [parts, groups], moments_out: the accumulated [groups] moments.

@compute @workgroup_size(WG)
fn merge_stats(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
) {
  let g = wid.x;
  var m = Moments(0.0, 0.0, 0.0);
  for (var i = t; i < p.parts; i += WG) {
    m = combine(m, from_stored(moments_in[i * p.groups + g]));
  }
  store_slot(t, m);
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) {
      store_slot(t, combine(load_slot(t), load_slot(t + stride)));
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    var total = load_slot(0u);
    if (p.accumulate != 0u) {
      total = combine(from_stored(moments_out[g]), total);
    }
    moments_out[g] = to_stored(total);
  }
}

// ---- apply ---------------------------------------------------------------
// Bindings: x, stats [groups], gamma, beta, out.

@compute @workgroup_size(WG)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) {
    return;
  }
  let c = i % p.channels;
  let s = stats[c / (p.channels / p.groups)];
  let rstd = inverseSqrt(s.m2 / f32(s.count) + p.eps);
  var y = (f32(x[i]) - s.mean) * rstd * gamma[c] + beta[c];
  if (SILU) {
    y = y / (1.0 + exp(-y));
  }
  out[i] = act_t(y);
}
