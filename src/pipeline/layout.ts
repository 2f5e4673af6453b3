/** The published checkpoint layout (spec §1) and the latent token size. */

/** The folders of a published checkpoint (spec §1). */
export const COMPONENT_FOLDERS = [
  "tokenizer",
  "text_encoder",
  "transformer",
  "unconditional_transformer",
  "vae",
] as const;

/** Latent channels per image token (16×16 pixels → 2×2 VAE pixels × 32 channels). */
export const LATENT_CHANNELS = 128;
