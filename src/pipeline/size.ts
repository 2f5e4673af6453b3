/**
 * Image sizes the model accepts (spec §5) and the latent token grid they
 * give: one DiT token per 16×16 pixels (8× VAE downsampling, then 2×2
 * patches).
 */

/** Pixels per latent token along each axis. */
export const TOKEN_PIXELS = 16;
export const MIN_SIDE = 256;
export const MAX_SIDE = 2048;
/** Largest `max(w, h) / min(w, h)`. */
export const MAX_ASPECT = 6;

/** A width/height the model does not accept; the message names the value and the rule. */
export class SizeError extends Error {
  /** Error name. */
  override name = "SizeError";
}

function checkSide(what: string, v: number): void {
  if (!Number.isInteger(v)) throw new SizeError(`${what} ${v} is not a whole number of pixels`);
  if (v % TOKEN_PIXELS !== 0) {
    throw new SizeError(`${what} ${v} is not a multiple of ${TOKEN_PIXELS}`);
  }
}

/**
 * Throws a {@link SizeError} unless width and height are integers, multiples
 * of 16, each in 256…2048, with aspect ratio `max/min` at most 6.
 */
export function validateSize(width: number, height: number): void {
  for (const [what, v] of [["width", width], ["height", height]] as const) {
    checkSide(what, v);
    if (v < MIN_SIDE || v > MAX_SIDE) {
      throw new SizeError(`${what} ${v} is outside ${MIN_SIDE}…${MAX_SIDE} pixels`);
    }
  }
  const aspect = Math.max(width, height) / Math.min(width, height);
  if (aspect > MAX_ASPECT) {
    throw new SizeError(
      `${width}x${height} has aspect ratio ${aspect.toFixed(3)}:1, above the ` +
        `${MAX_ASPECT}:1 maximum`,
    );
  }
}

/**
 * The latent grid of an image: `gh × gw` tokens, row-major (`tokens = gh·gw`).
 * Only checks that the sides are positive multiples of 16 (not the 256…2048
 * range, so tiny test models can use small images); call
 * {@link validateSize} for the model's full rules.
 */
export function latentGrid(
  width: number,
  height: number,
): { gh: number; gw: number; tokens: number } {
  checkSide("width", width);
  checkSide("height", height);
  if (width <= 0 || height <= 0) throw new SizeError(`size ${width}x${height} is not positive`);
  const gh = height / TOKEN_PIXELS, gw = width / TOKEN_PIXELS;
  return { gh, gw, tokens: gh * gw };
}
