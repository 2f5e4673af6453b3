/**
 * The one reader of a model folder's `config.json` text, shared by the DiT,
 * Qwen3 and VAE config parsers: JSON that must be an object, with errors that
 * name the file.
 */

/** A parsed `config.json`: its top-level object. */
export type ConfigJson = Record<string, unknown>;

/** Whether `v` is a JSON object (not null, not an array). */
export function isConfigObject(v: unknown): v is ConfigJson {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses `text` as a JSON object; `file` names it in errors. */
export function parseConfigObject(text: string, file: string): ConfigJson {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  if (!isConfigObject(root)) throw new Error(`${file}: not a JSON object`);
  return root;
}
