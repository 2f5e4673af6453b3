/**
 * The initial noise: standard normal values from a seed, identical on every
 * machine and JavaScript engine. Only integer operations and IEEE-754
 * float64 `+ - * /` and `sqrt` are used (all correctly rounded, never
 * fused in JavaScript); `log`, `sin` and `cos` are computed here with fixed
 * polynomials, because `Math.log`/`Math.sin`/`Math.cos` may differ between
 * engines in the last bit.
 *
 * Exact algorithm (enough to reimplement it bit for bit):
 * 1. Key: the seed `S` (0 ≤ S < 2^64) as `k0 = S mod 2^32`, `k1 = S div 2^32`.
 * 2. Block `j = 0, 1, …`: Philox4x32-10 (Salmon et al., "Parallel random
 *    numbers: as easy as 1, 2, 3", SC'11; the Random123 constants
 *    M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85) of
 *    the counter `(j mod 2^32, j div 2^32, 0, 0)` under key `(k0, k1)` gives
 *    four 32-bit words `x0..x3`.
 * 3. Two uniforms in (0, 1): `u1 = ((x0 >>> 5)·2^26 + (x1 >>> 6) + ½) / 2^53`,
 *    `u2` the same from `x2, x3`.
 * 4. Box–Muller in float64: `r = sqrt(-2·ln u1)`, values `2j` and `2j+1`
 *    of the output are `f32(r·cos(2π·u2))` and `f32(r·sin(2π·u2))`
 *    (ln, cos, sin as implemented below; they are within a few ulps of exact).
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO32 = 4294967296;
const TWO53 = 9007199254740992;

/** High 32 bits of the 64-bit product of two u32, from exact 16-bit partial products. */
function mulhi(a: number, b: number): number {
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL; // each < 2^32
  const carry = ((ll >>> 16) + (lh & 0xffff) + (hl & 0xffff)) >>> 16;
  return (aH * bH + (lh >>> 16) + (hl >>> 16) + carry) >>> 0;
}

/**
 * Philox4x32-10 of one counter under one key; writes 4 words to `out`.
 * Exported for the known-answer tests.
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

const LN2_HI = 6.93147180369123816490e-01; // ln 2, upper bits (exact products with small ints)
const LN2_LO = 1.90821492927058770002e-10;
const SQRT2 = Math.SQRT2;
/** `1 / (2k + 1)`, k = 0…12 (float64 quotients). */
const LOG_SERIES = Array.from({ length: 13 }, (_, k) => 1 / (2 * k + 1));
/** `1 / (k (k - 1))`, k = 0…20 (float64 quotients; k < 2 unused). */
const INV_K_KM1 = Array.from({ length: 21 }, (_, k) => k < 2 ? 0 : 1 / (k * (k - 1)));
/** Scratch for reading float64 bits (explicit little-endian: the same on any host). */
const bits = new DataView(new ArrayBuffer(8));

/**
 * ln(x) for a positive normal float64: `x = m·2^e` with m in [√½, √2),
 * `ln m = 2·atanh(f)`, `f = (m-1)/(m+1)`, by its series
 * `2f·(1 + s/3 + s²/5 + … + s^12/25)`, `s = f²`, Horner, each `1/(2k+1)` a
 * float64 quotient (|f| ≤ 0.172, so the next term is below 1e-19); result
 * `e·LN2_HI + (e·LN2_LO + series)`.
 */
export function detLog(x: number): number {
  bits.setFloat64(0, x, true);
  const hiWord = bits.getUint32(4, true);
  let e = ((hiWord >>> 20) & 0x7ff) - 1023;
  bits.setUint32(4, (hiWord & 0x000fffff) | 0x3ff00000, true); // mantissa as a number in [1, 2)
  let m = bits.getFloat64(0, true);
  if (m > SQRT2) {
    m /= 2;
    e += 1;
  }
  const f = (m - 1) / (m + 1), s = f * f;
  let p = LOG_SERIES[12];
  for (let k = 11; k >= 0; k--) p = p * s + LOG_SERIES[k];
  return e * LN2_HI + (e * LN2_LO + 2 * f * p);
}

/**
 * cos(2πu) and sin(2πu) for u in [0, 1]: `4u = q + r` with q an integer
 * quadrant and |r| ≤ ½ (exact), angle `a = (π/2)·r`, |a| ≤ π/4, by Taylor
 * series in nested form `a(1 - a²/(2·3)(1 - a²/(4·5)(…)))` (sin to a^19, cos
 * to a^20; each `1/(k(k-1))` a float64 quotient), then rotated by q quarter turns.
 */
export function detCosSin2Pi(u: number, out: Float64Array): void {
  const v = 4 * u;
  const q = Math.round(v);
  const a = (v - q) * (Math.PI / 2);
  const a2 = a * a;
  let sn = 1, cs = 1;
  for (let k = 19; k >= 3; k -= 2) sn = 1 - sn * a2 * INV_K_KM1[k];
  sn *= a;
  for (let k = 20; k >= 2; k -= 2) cs = 1 - cs * a2 * INV_K_KM1[k];
  switch (q & 3) {
    case 0:
      out[0] = cs;
      out[1] = sn;
      break;
    case 1:
      out[0] = -sn;
      out[1] = cs;
      break;
    case 2:
      out[0] = -cs;
      out[1] = -sn;
      break;
    default:
      out[0] = sn;
      out[1] = -cs;
  }
}

/** A seed as two 32-bit key words; throws unless 0 ≤ seed < 2^64 (a safe integer when a number). */
export function seedKey(seed: bigint | number): [number, number] {
  if (typeof seed === "number") {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new Error(
        `seed ${seed} must be an integer from 0 to 2^53-1 (use a bigint for larger seeds, up to 2^64-1)`,
      );
    }
    return [seed % TWO32, Math.floor(seed / TWO32)];
  }
  if (typeof seed !== "bigint" || seed < 0n || seed >= 1n << 64n) {
    throw new Error(`seed ${seed} must be an integer from 0 to 2^64-1`);
  }
  return [Number(seed & 0xffffffffn), Number(seed >> 32n)];
}

/** A random seed in 0 … 2^63-1 (fits a signed 64-bit integer wherever it is stored). */
export function randomSeed(): bigint {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(w[1] & 0x7fffffff) << 32n) | BigInt(w[0]);
}

/** `n` standard normal values from `seed` (algorithm in the file comment). */
export function gaussianNoise(seed: bigint | number, n: number): Float32Array<ArrayBuffer> {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`noise length ${n} is not a count`);
  const [k0, k1] = seedKey(seed);
  const out = new Float32Array(n);
  const x = new Uint32Array(4);
  const cs = new Float64Array(2);
  for (let i = 0, j = 0; i < n; i += 2, j++) {
    philox4x32(j % TWO32, Math.floor(j / TWO32), 0, 0, k0, k1, x);
    const u1 = ((x[0] >>> 5) * 67108864 + (x[1] >>> 6) + 0.5) / TWO53;
    const u2 = ((x[2] >>> 5) * 67108864 + (x[3] >>> 6) + 0.5) / TWO53;
    const r = Math.sqrt(-2 * detLog(u1));
    detCosSin2Pi(u2, cs);
    out[i] = r * cs[0];
    if (i + 1 < n) out[i + 1] = r * cs[1];
  }
  return out;
}
