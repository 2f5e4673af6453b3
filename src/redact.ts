/**
 * The one place that keeps secrets out of what this runtime prints. Every
 * message that can carry text from outside (a server's error body, a URL from
 * the environment, a fetch failure that quotes a header) goes through
 * {@link redact} before it reaches an error, a log line or `--verbose`:
 *
 * - known secret values (access tokens and API keys, registered with
 *   {@link rememberSecret} where they are read from flags, environment or the
 *   token file) → `***`;
 * - anything shaped like a Hugging Face token (`hf_…`) → `hf_***`;
 * - `Bearer <credential>`, `Basic <credential>`, `Api-Key: <credential>`,
 *   `token=<credential>` → the name kept, the value `***`;
 * - `user:password@` in a URL → `***@`.
 *
 * Plain web APIs only: the browser core uses it too.
 */

/** Secrets seen in this process; shorter ones are not replaced (they would mangle text). */
const known = new Set<string>();
const MIN_SECRET = 4;

/** Registers a token or key so every later {@link redact} hides it. Returns it unchanged. */
export function rememberSecret<T extends string | undefined>(value: T): T {
  const v = value?.trim();
  if (v && v.length >= MIN_SECRET) known.add(v);
  return value;
}

const PATTERNS: [RegExp, string][] = [
  // user:password@ (and a lone user@) in the authority part of a URL.
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@?#]+@/gi, "$1***@"],
  // Hugging Face access tokens.
  [/\bhf_[A-Za-z0-9]{6,}/g, "hf_***"],
  // Credentials after an auth scheme or a key-like header / query name.
  // (a credential has a digit or a symbol: "Bearer token" in prose is left alone).
  [/\b(Bearer|Basic)(\s+)(?=[^\s"',;]*[0-9+/=_.~-])[^\s"',;]+/gi, "$1$2***"],
  [
    /\b(api[-_]?key|x-api-key|authorization|access[-_]?token|token|password|secret)(["']?\s*[:=]\s*["']?)(?!\*\*\*|(?:Bearer|Basic)\s)[^\s"',;&]+/gi,
    "$1$2***",
  ],
];

/**
 * `text` with every known secret, token-shaped string and URL password
 * replaced; `extra` adds secrets for this call only (e.g. a key not yet
 * registered).
 */
export function redact(text: string, extra: readonly (string | undefined)[] = []): string {
  let out = text;
  const secrets = [...known, ...extra.map((s) => s?.trim())]
    .filter((s): s is string => !!s && s.length >= MIN_SECRET)
    .sort((a, b) => b.length - a.length); // a longer secret may contain a shorter one
  for (const s of secrets) out = out.split(s).join("***");
  for (const [re, to] of PATTERNS) out = out.replace(re, to);
  return out;
}

/** A URL for messages: its `user:password@` removed (text that is not a URL is redacted as text). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = "";
      u.password = "";
      return redact(u.href.replace(/\/$/, url.endsWith("/") ? "/" : ""));
    }
  } catch {
    // not a URL
  }
  return redact(url);
}

/** `host:port` of a URL, for messages (never its user or password). */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return redact(url);
  }
}

/** An error's message, redacted (for the last line a command prints). */
export function redactedMessage(e: unknown): string {
  return redact(e instanceof Error ? e.message : String(e));
}
