/**
 * The `normalizer` section of a Hugging Face `tokenizer.json`. Qwen's is
 * `{"type": "NFC"}`; the Unicode forms, `Lowercase` and `Sequence` are
 * supported, anything else is an error that names it (silently skipping a
 * normaliser would give different tokens with no sign of it).
 */

/** Text → normalised text. */
export type Normalizer = (text: string) => string;

const UNICODE_FORMS = new Set(["NFC", "NFD", "NFKC", "NFKD"]);

/** Builds the normaliser described by `cfg` (`null`/absent: identity). `where` names it in errors. */
export function buildNormalizer(cfg: unknown, where = "normalizer"): Normalizer {
  if (cfg === null || cfg === undefined) return (s) => s;
  if (typeof cfg !== "object" || Array.isArray(cfg)) {
    throw new Error(`${where}: expected an object or null, got ${JSON.stringify(cfg)}`);
  }
  const c = cfg as Record<string, unknown>;
  const type = c.type;
  if (typeof type === "string" && UNICODE_FORMS.has(type)) {
    return (s) => s.normalize(type);
  }
  if (type === "Lowercase") return (s) => s.toLowerCase();
  if (type === "Sequence") {
    const list = c.normalizers;
    if (!Array.isArray(list)) throw new Error(`${where}.normalizers: expected an array`);
    const steps = list.map((n, i) => buildNormalizer(n, `${where}.normalizers[${i}]`));
    return (s) => steps.reduce((acc, f) => f(acc), s);
  }
  throw new Error(
    `${where}: type ${JSON.stringify(type)} is not supported ` +
      `(supported: NFC, NFD, NFKC, NFKD, Lowercase, Sequence)`,
  );
}
