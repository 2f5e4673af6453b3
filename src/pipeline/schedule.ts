/**
 * The logit-normal time schedule and the Euler steps it gives (spec §5), all
 * in float64.
 *
 * Convention (the reference's, followed here): noise sits at small `t`; each
 * step goes from `t` to a larger `s`, and `t` is what the DiT's time
 * embedding sees. The reference rounds `u_j` (a float32 linspace) and each
 * `t`, `s` to float32; the spec asks for float64 and so does this code — the
 * two differ by ~1e-7 relative, far below the DiT's own rounding.
 */
import type { SamplingPlan } from "./presets.ts";

/** Smallest time: `1 / (1 + e^9)` (logSNR 18). */
export const T_MIN = 1 / (1 + Math.exp(9));
/** Largest time: `1 / (1 + e^-7.5)` (logSNR -15). */
export const T_MAX = 1 / (1 + Math.exp(-7.5));

// Wichura, "Algorithm AS 241: The percentage points of the normal
// distribution" (Applied Statistics 37, 1988), PPND16: rational
// approximations with ~1e-16 relative accuracy.
const A = [
  3.3871328727963666080e0,
  1.3314166789178437745e+2,
  1.9715909503065514427e+3,
  1.3731693765509461125e+4,
  4.5921953931549871457e+4,
  6.7265770927008700853e+4,
  3.3430575583588128105e+4,
  2.5090809287301226727e+3,
];
const B = [
  1,
  4.2313330701600911252e+1,
  6.8718700749205790830e+2,
  5.3941960214247511077e+3,
  2.1213794301586595867e+4,
  3.9307895800092710610e+4,
  2.8729085735721942674e+4,
  5.2264952788528545610e+3,
];
const C = [
  1.42343711074968357734e0,
  4.63033784615654529590e0,
  5.76949722146069140550e0,
  3.64784832476320460504e0,
  1.27045825245236838258e0,
  2.41780725177450611770e-1,
  2.27238449892691845833e-2,
  7.74545014278341407640e-4,
];
const D = [
  1,
  2.05319162663775882187e0,
  1.67638483018380384940e0,
  6.89767334985100004550e-1,
  1.48103976427480074590e-1,
  1.51986665636164571966e-2,
  5.47593808499534494600e-4,
  1.05075007164441684324e-9,
];
const E = [
  6.65790464350110377720e0,
  5.46378491116411436990e0,
  1.78482653991729133580e0,
  2.96560571828504891230e-1,
  2.65321895265761230930e-2,
  1.24266094738807843860e-3,
  2.71155556874348757815e-5,
  2.01033439929228813265e-7,
];
const F = [
  1,
  5.99832206555887937690e-1,
  1.36929880922735805310e-1,
  1.48753612908506148525e-2,
  7.86869131145613259100e-4,
  1.84631831751005468180e-5,
  1.42151175831644588870e-7,
  2.04426310338993978564e-15,
];

/** `c[0] + c[1] x + … + c[7] x^7` (Horner). */
function poly(c: number[], x: number): number {
  let v = c[7];
  for (let k = 6; k >= 0; k--) v = v * x + c[k];
  return v;
}

/**
 * Φ⁻¹(p), the standard normal quantile (AS 241), float64. Φ⁻¹(0) = -∞,
 * Φ⁻¹(1) = +∞; p outside [0, 1] or NaN gives NaN.
 */
export function inverseNormalCdf(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return q * poly(A, r) / poly(B, r);
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let v: number;
  if (r <= 5) {
    r -= 1.6;
    v = poly(C, r) / poly(D, r);
  } else {
    r -= 5;
    v = poly(E, r) / poly(F, r);
  }
  return q < 0 ? -v : v;
}

/** `clamp(1 - sigmoid(mean + std·Φ⁻¹(u)), T_MIN, T_MAX)`. */
export function logitNormalSchedule(u: number, mean: number, std: number): number {
  const y = mean + std * inverseNormalCdf(u);
  const t = 1 - 1 / (1 + Math.exp(-y));
  return Math.min(T_MAX, Math.max(T_MIN, t));
}

/** The schedule's mean for an image: `mu + ½ ln(H·W / 512²)`. */
export function scheduleMean(mu: number, width: number, height: number): number {
  return mu + 0.5 * Math.log((height * width) / (512 * 512));
}

/** One step of the Euler sampler. */
export interface EulerStep {
  /** Time of the current latent (fed to the DiT). */
  t: number;
  /** Time after this step; the update is `z += v · (s - t)`. */
  s: number;
  /** Classifier-free guidance weight of this step. */
  guidance: number;
}

/**
 * The plan's Euler steps in execution order. The reference loops
 * `i = steps-1 … 0` with `t = sched(u_{i+1})`, `s = sched(u_i)`,
 * `u_j = j / steps`; step `n` here is its `i = steps-1-n`, and takes
 * `plan.guidance[n]` (chronological, see presets.ts).
 */
export function eulerSteps(plan: SamplingPlan, width: number, height: number): EulerStep[] {
  const { steps } = plan;
  if (plan.guidance.length !== steps) {
    throw new Error(`sampling plan has ${plan.guidance.length} guidance values for ${steps} steps`);
  }
  const mean = scheduleMean(plan.mu, width, height);
  const sched = (j: number) => logitNormalSchedule(j / steps, mean, plan.std);
  const out: EulerStep[] = [];
  for (let n = 0; n < steps; n++) {
    const i = steps - 1 - n;
    out.push({ t: sched(i + 1), s: sched(i), guidance: plan.guidance[n] });
  }
  return out;
}
