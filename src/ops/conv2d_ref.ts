/**
 * CPU reference for `conv2d.ts`, in f64 arithmetic, on channels-last
 * `[H, W, Cin]` inputs with the PyTorch weight layout `[Cout, Cin, k, k]`
 * (so the GPU side's reorder is checked too). Whole images only; stride 1,
 * zero padding `k / 2`.
 */

export interface Conv2dRefArgs {
  /** `[H, W, Cin]` values. */
  x: Float32Array;
  h: number;
  w: number;
  /** PyTorch `[Cout, Cin, k, k]` values. */
  weight: Float32Array;
  weightShape: readonly [number, number, number, number];
  bias?: Float32Array;
  /** Added to the result, `[H, W, Cout]`. */
  residual?: Float32Array;
}

/** `[H, W, Cout]` result. */
export function conv2dRef(a: Conv2dRefArgs): Float32Array {
  const { x, h, w, weight } = a;
  const [cout, cin, k] = a.weightShape;
  const pad = (k - 1) / 2;
  const out = new Float32Array(h * w * cout);
  const acc = new Float64Array(cout);
  for (let y = 0; y < h; y++) {
    for (let xo = 0; xo < w; xo++) {
      for (let co = 0; co < cout; co++) acc[co] = a.bias ? a.bias[co] : 0;
      for (let ky = 0; ky < k; ky++) {
        const iy = y + ky - pad;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < k; kx++) {
          const ix = xo + kx - pad;
          if (ix < 0 || ix >= w) continue;
          const base = (iy * w + ix) * cin;
          for (let ci = 0; ci < cin; ci++) {
            const v = x[base + ci];
            for (let co = 0; co < cout; co++) {
              acc[co] += v * weight[((co * cin + ci) * k + ky) * k + kx];
            }
          }
        }
      }
      const o = (y * w + xo) * cout;
      for (let co = 0; co < cout; co++) {
        out[o + co] = acc[co] + (a.residual ? a.residual[o + co] : 0);
      }
    }
  }
  return out;
}
