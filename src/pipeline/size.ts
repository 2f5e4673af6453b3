/**
 * Image sizes (spec §5) and the latent token grid they give: one DiT token
 * per 16×16 pixels (8× VAE downsampling, then 2×2 patches).
 *
 * The rule is upstream's code, not its docs: any width and height that are
 * positive multiples of 16 ({@link validateSize}). Upstream's docs recommend
 * 256…2048 pixels a side and an aspect ratio up to 6:1 (what the model was
 * trained on); outside that range we generate but say so once
 * ({@link sizeAdvice}). What a machine can actually run is the memory plan's
 * business (`memory_plan.ts`: the GPU budget and the adapter's largest
 * buffer), which refuses with its reason.
 */

/** Pixels per latent token along each axis. */
export const TOKEN_PIXELS = 16;
/** Upstream docs' recommended range of each side, in pixels. */
export const RECOMMENDED_MIN_SIDE = 256;
export const RECOMMENDED_MAX_SIDE = 2048;
/** Upstream docs' largest recommended `max(w, h) / min(w, h)`. */
export const RECOMMENDED_MAX_ASPECT = 6;

/** A width/height the model does not accept; the message names the value and the rule. */
export class SizeError extends Error {
  /** Error name. */
  override name = "SizeError";
}

function checkSide(what: string, v: number): void {
  if (!Number.isInteger(v)) throw new SizeError(`${what} ${v} is not a whole number of pixels`);
  if (v <= 0) throw new SizeError(`${what} ${v} is not a positive number of pixels`);
  if (v % TOKEN_PIXELS !== 0) {
    throw new SizeError(`${what} ${v} is not a multiple of ${TOKEN_PIXELS}`);
  }
}

/**
 * Throws a {@link SizeError} unless width and height are positive multiples
 * of 16 (upstream's rule). Sizes outside the recommended range pass; see
 * {@link sizeAdvice}.
 */
export function validateSize(width: number, height: number): void {
  checkSide("width", width);
  checkSide("height", height);
}

/**
 * A warning when a valid size lies outside upstream's recommendation (each
 * side 256…2048, aspect ratio ≤ 6:1), else undefined. The model was trained
 * in that range; outside it images may degrade.
 */
export function sizeAdvice(width: number, height: number): string | undefined {
  const reasons: string[] = [];
  for (const [what, v] of [["width", width], ["height", height]] as const) {
    if (v < RECOMMENDED_MIN_SIDE || v > RECOMMENDED_MAX_SIDE) reasons.push(`${what} ${v}`);
  }
  const aspect = Math.max(width, height) / Math.min(width, height);
  if (aspect > RECOMMENDED_MAX_ASPECT) reasons.push(`aspect ratio ${aspect.toFixed(2)}:1`);
  if (reasons.length === 0) return undefined;
  return `${width}x${height}: ${reasons.join(", ")} is outside the recommended ` +
    `${RECOMMENDED_MIN_SIDE}…${RECOMMENDED_MAX_SIDE} pixels a side and ` +
    `${RECOMMENDED_MAX_ASPECT}:1 aspect ratio (what the model was trained on); ` +
    `generating anyway, but expect worse images`;
}

/** The latent grid of an image: `gh × gw` tokens, row-major (`tokens = gh·gw`). */
export function latentGrid(
  width: number,
  height: number,
): { gh: number; gw: number; tokens: number } {
  validateSize(width, height);
  const gh = height / TOKEN_PIXELS, gw = width / TOKEN_PIXELS;
  return { gh, gw, tokens: gh * gw };
}
