/**
 * The `pre_tokenizer` section of a Hugging Face `tokenizer.json`: cuts
 * normalised text into "words" that BPE then encodes one at a time (merges
 * never cross a word boundary).
 *
 * Qwen2/Qwen3 use `Sequence[Split(regex, Isolated), ByteLevel(use_regex:
 * false)]`: the regex splits letters (with one optional leading non-letter,
 * usually the space), single digits, punctuation runs, newline runs and
 * whitespace runs; ByteLevel then only marks the words as byte-level (its
 * byte → character mapping is applied by the BPE model, see `bpe.ts`).
 * Supported: `Split` (regex or literal, every behaviour, `invert`),
 * `ByteLevel` (with or without GPT-2's regex, `add_prefix_space`), `Digits`
 * and `Sequence`; anything else is an error that names it.
 */
import { escapeRegex, translateRegex } from "./regex.ts";

/** GPT-2's split, used by `ByteLevel` when `use_regex` is true. */
const GPT2_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

type Behavior = "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous";
const BEHAVIORS = new Set<string>([
  "Removed",
  "Isolated",
  "MergedWithPrevious",
  "MergedWithNext",
  "Contiguous",
]);

/** One step: a piece of text → its sub-pieces (none empty). */
type Step = (piece: string) => string[];

export interface PreTokenizer {
  /** Text → words, in order; their concatenation is the input (less anything `Removed`). */
  split(text: string): string[];
  /** Whether a `ByteLevel` step is present (this runtime only encodes byte-level BPE). */
  readonly byteLevel: boolean;
}

/** Builds the pre-tokenizer described by `cfg`; `where` names it in errors. */
export function buildPreTokenizer(cfg: unknown, where = "pre_tokenizer"): PreTokenizer {
  const state = { byteLevel: false };
  const steps = cfg === null || cfg === undefined ? [] : buildSteps(cfg, where, state);
  return {
    byteLevel: state.byteLevel,
    split(text: string): string[] {
      let pieces = text === "" ? [] : [text];
      for (const step of steps) {
        const next: string[] = [];
        for (const p of pieces) for (const q of step(p)) next.push(q);
        pieces = next;
      }
      return pieces;
    },
  };
}

function buildSteps(cfg: unknown, where: string, state: { byteLevel: boolean }): Step[] {
  if (typeof cfg !== "object" || cfg === null || Array.isArray(cfg)) {
    throw new Error(`${where}: expected an object, got ${JSON.stringify(cfg)}`);
  }
  const c = cfg as Record<string, unknown>;
  switch (c.type) {
    case "Sequence": {
      const list = c.pretokenizers;
      if (!Array.isArray(list)) throw new Error(`${where}.pretokenizers: expected an array`);
      return list.flatMap((p, i) => buildSteps(p, `${where}.pretokenizers[${i}]`, state));
    }
    case "Split": {
      const pat = c.pattern as Record<string, unknown> | undefined;
      let re: RegExp;
      if (typeof pat?.Regex === "string") {
        try {
          re = translateRegex(pat.Regex);
        } catch (e) {
          throw new Error(`${where}.pattern.Regex: ${e instanceof Error ? e.message : e}`);
        }
      } else if (typeof pat?.String === "string") {
        re = new RegExp(escapeRegex(pat.String), "gu");
      } else {
        throw new Error(`${where}.pattern: expected {"Regex": "..."} or {"String": "..."}`);
      }
      const behavior = c.behavior;
      if (typeof behavior !== "string" || !BEHAVIORS.has(behavior)) {
        throw new Error(`${where}.behavior: ${JSON.stringify(behavior)} is not a split behaviour`);
      }
      const invert = c.invert === true;
      return [(p) => splitBy(re, p, behavior as Behavior, invert)];
    }
    case "ByteLevel": {
      state.byteLevel = true;
      const steps: Step[] = [];
      if (c.add_prefix_space === true) steps.push((p) => [p.startsWith(" ") ? p : " " + p]);
      if (c.use_regex !== false) {
        const re = translateRegex(GPT2_PATTERN);
        steps.push((p) => splitBy(re, p, "Isolated", false));
      }
      return steps;
    }
    case "Digits": {
      const re = c.individual_digits === true ? /\p{N}/gu : /\p{N}+/gu;
      return [(p) => splitBy(re, p, "Isolated", false)];
    }
    default:
      throw new Error(
        `${where}: type ${JSON.stringify(c.type)} is not supported ` +
          `(supported: Split, ByteLevel, Digits, Sequence)`,
      );
  }
}

/**
 * Splits `text` at the matches of global `re` the way `tokenizers`' Split
 * does: matches and the gaps between them become spans (empty ones dropped),
 * `invert` swaps which spans count as matches, and `behavior` decides what
 * happens to the matches.
 */
export function splitBy(re: RegExp, text: string, behavior: Behavior, invert: boolean): string[] {
  const spans: string[] = [];
  const isMatch: boolean[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const s = m[0];
    if (s.length === 0) {
      re.lastIndex = m.index + (text.codePointAt(m.index)! > 0xffff ? 2 : 1);
      continue;
    }
    if (m.index > last) {
      spans.push(text.slice(last, m.index));
      isMatch.push(invert);
    }
    spans.push(s);
    isMatch.push(!invert);
    last = m.index + s.length;
  }
  if (last < text.length) {
    spans.push(text.slice(last));
    isMatch.push(invert);
  }
  switch (behavior) {
    case "Isolated":
      return spans;
    case "Removed":
      return spans.filter((_, i) => !isMatch[i]);
    case "MergedWithPrevious": {
      const out: string[] = [];
      for (let i = 0; i < spans.length; i++) {
        if (isMatch[i] && i > 0 && !isMatch[i - 1]) out[out.length - 1] += spans[i];
        else out.push(spans[i]);
      }
      return out;
    }
    case "MergedWithNext": {
      const out: string[] = [];
      for (let i = spans.length - 1; i >= 0; i--) {
        if (isMatch[i] && i < spans.length - 1 && !isMatch[i + 1]) {
          out[out.length - 1] = spans[i] + out[out.length - 1];
        } else out.push(spans[i]);
      }
      return out.reverse();
    }
    case "Contiguous": {
      const out: string[] = [];
      for (let i = 0; i < spans.length; i++) {
        if (i > 0 && isMatch[i] === isMatch[i - 1]) out[out.length - 1] += spans[i];
        else out.push(spans[i]);
      }
      return out;
    }
  }
}
