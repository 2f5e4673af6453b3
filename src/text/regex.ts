/**
 * Translates the regular expressions in a Hugging Face `tokenizer.json`
 * (written for Oniguruma, which the Rust `tokenizers` library uses) into
 * JavaScript `u`-mode RegExps with the same matches.
 *
 * Both engines backtrack and take the first alternative that matches, so
 * alternation order and lookaheads carry over as they are. What differs:
 * - `(?i:…)` scoped case-insensitivity does not exist in every JS engine a
 *   browser may have, so its letters are expanded: `(?i:'s)` → `(?:'[sSſ])`.
 *   Oniguruma folds case by Unicode rules, hence `ſ` (U+017F) for `s` and the
 *   Kelvin sign (U+212A) for `k`, which JS's own `iu` matching also accepts.
 * - `\s` in Oniguruma is Unicode White_Space (it includes U+0085 and not
 *   U+FEFF); JS's `\s` is a different set, so it becomes `\p{White_Space}`.
 * - `\d` and `\w` are Unicode-wide in Oniguruma and ASCII-only in JS; they
 *   become `\p{Nd}` and `[\p{L}\p{M}\p{Nd}\p{Pc}]`.
 * - Escaped punctuation that JS's `u` mode rejects (`\'`, `\#`, `\ `) is
 *   written as the plain character.
 * Constructs with no JS equivalent (possessive quantifiers, atomic groups,
 * global inline flags, nested classes) are errors that quote the pattern.
 */

/** Characters that keep their backslash in a JS `u` pattern. */
const JS_SYNTAX = new Set([..."^$\\.*+?()[]{}|/"]);
/** Letters whose case-insensitive match includes a non-ASCII character. */
const FOLD_EXTRA: Record<string, string> = { s: "\u017f", k: "\u212a" };
/** Oniguruma's Unicode `\w`, spelt for JS. */
const WORD_CLASS = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

/** Every character that `c` matches case-insensitively, `c` first. */
function caseVariants(c: string): string {
  const lower = c.toLowerCase(), upper = c.toUpperCase();
  let out = c;
  for (const v of [lower, upper, FOLD_EXTRA[lower] ?? ""]) {
    if (v !== "" && [...v].length === 1 && !out.includes(v)) out += v;
  }
  return out;
}

/** Oniguruma pattern → JS pattern source (for the `u` flag). Throws on constructs JS lacks. */
export function translateRegexSource(pattern: string): string {
  const fail = (what: string, at: number): never => {
    throw new Error(`regex ${JSON.stringify(pattern)}: ${what} at offset ${at} is not supported`);
  };
  let out = "";
  let inClass = false;
  /** One entry per open group: whether it is case-insensitive. */
  const groups: boolean[] = [];
  const caseless = () => groups.length > 0 && groups[groups.length - 1];
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "\\") {
      const e = chars[++i];
      if (e === undefined) fail("a trailing backslash", i - 1);
      if (e === "p" || e === "P") {
        if (chars[i + 1] === "{") {
          const close = chars.indexOf("}", i + 2);
          if (close < 0) fail("an unterminated \\p{", i - 1);
          out += "\\" + e + chars.slice(i + 1, close + 1).join("");
          i = close;
        } else {
          if (chars[i + 1] === undefined) fail("\\p without a property", i - 1);
          out += `\\${e}{${chars[++i]}}`;
        }
      } else if (e === "s") out += "\\p{White_Space}";
      else if (e === "S") out += "\\P{White_Space}";
      else if (e === "d") out += "\\p{Nd}";
      else if (e === "D") out += "\\P{Nd}";
      else if (e === "w") out += inClass ? WORD_CLASS : `[${WORD_CLASS}]`;
      else if (e === "W") {
        if (inClass) fail("\\W inside a character class", i - 1);
        out += `[^${WORD_CLASS}]`;
      } else if (e === "x" && chars[i + 1] === "{") {
        const close = chars.indexOf("}", i + 2);
        if (close < 0) fail("an unterminated \\x{", i - 1);
        out += `\\u{${chars.slice(i + 2, close).join("")}}`;
        i = close;
      } else if ("nrtfv0xubB".includes(e)) {
        if ((e === "b" || e === "B") && inClass) fail(`\\${e} inside a character class`, i - 1);
        out += "\\" + e;
      } else if (/[A-Za-z0-9]/.test(e)) fail(`the escape \\${e}`, i - 1);
      else if (JS_SYNTAX.has(e) || (inClass && e === "-")) out += "\\" + e;
      else out += e;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      else if (c === "[") fail("a nested character class", i);
      else if (caseless() && chars[i + 1] === "-" && chars[i + 2] !== "]") {
        fail("a range inside a case-insensitive class", i);
      } else if (caseless()) {
        out += caseVariants(c);
        continue;
      }
      out += c;
      continue;
    }
    switch (c) {
      case "[":
        inClass = true;
        out += "[";
        if (chars[i + 1] === "^") out += chars[++i];
        if (chars[i + 1] === "]") out += "\\" + chars[++i]; // a leading `]` is literal
        break;
      case "(": {
        const rest = chars.slice(i, i + 5).join("");
        if (rest.startsWith("(?i:")) {
          groups.push(true);
          out += "(?:";
          i += 3;
        } else if (rest.startsWith("(?-i:")) {
          groups.push(false);
          out += "(?:";
          i += 4;
        } else if (
          rest.startsWith("(?:") || rest.startsWith("(?=") || rest.startsWith("(?!") ||
          rest.startsWith("(?<=") || rest.startsWith("(?<!") || /^\(\?<[A-Za-z_]/.test(rest)
        ) {
          groups.push(caseless());
          out += c;
        } else if (rest.startsWith("(?")) {
          fail(`the group syntax ${JSON.stringify(rest.slice(0, 3))}`, i);
        } else {
          groups.push(caseless());
          out += c;
        }
        break;
      }
      case ")":
        if (groups.length === 0) fail("an unbalanced ')'", i);
        groups.pop();
        out += c;
        break;
      case "*":
      case "+":
      case "?":
      case "}":
        if (chars[i + 1] === "+") fail("a possessive quantifier", i);
        out += c;
        break;
      default:
        if (caseless() && c.toLowerCase() !== c.toUpperCase()) out += `[${caseVariants(c)}]`;
        else out += c;
    }
  }
  if (inClass) fail("an unterminated character class", chars.length);
  if (groups.length > 0) fail("an unclosed group", chars.length);
  return out;
}

/** Oniguruma pattern → global `u` RegExp (for `exec` loops). */
export function translateRegex(pattern: string): RegExp {
  const source = translateRegexSource(pattern);
  try {
    return new RegExp(source, "gu");
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`regex ${JSON.stringify(pattern)} (as JS: /${source}/u): ${msg}`);
  }
}

/** A RegExp that matches `literal` exactly. */
export function escapeRegex(literal: string): string {
  return literal.replace(/[\^$\\.*+?()[\]{}|/]/g, "\\$&");
}
