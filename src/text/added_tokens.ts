/**
 * Added tokens (`added_tokens` in `tokenizer.json`: `<|im_start|>`,
 * `<|vision_start|>`, `<think>`, …) are found in the text before BPE and
 * become one id each; the text between them is tokenized normally.
 *
 * As in `tokenizers`, matching is leftmost-longest (an alternation sorted
 * longest first: JS takes the first alternative that matches at the leftmost
 * position), tokens with `normalized: false` are matched on the raw text and
 * those with `normalized: true` on the normalised text, `lstrip`/`rstrip`
 * swallow the whitespace beside a match and `single_word` rejects a match
 * that touches a letter, digit or `_`.
 */
import { escapeRegex } from "./regex.ts";

export interface AddedToken {
  id: number;
  content: string;
  /** Special tokens are dropped by `decode(ids, { skipSpecialTokens: true })`. */
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  /** Matched on normalised text (true) or raw text (false). */
  normalized: boolean;
  singleWord: boolean;
}

/** A piece of split text: ordinary text, or the id of an added token. */
export type Piece = string | number;

const WORD_CHAR = /[\p{Alphabetic}\p{N}_]/u;
const SPACE = /\p{White_Space}/u;

/** Parses one `added_tokens` entry (or an `added_tokens_decoder` value, given its id). */
export function parseAddedToken(raw: unknown, where: string, id?: number): AddedToken {
  if (typeof raw !== "object" || raw === null) throw new Error(`${where}: expected an object`);
  const r = raw as Record<string, unknown>;
  const tokenId = id ?? r.id;
  if (typeof tokenId !== "number" || !Number.isInteger(tokenId) || tokenId < 0) {
    throw new Error(`${where}.id: expected a non-negative integer, got ${JSON.stringify(tokenId)}`);
  }
  if (typeof r.content !== "string" || r.content === "") {
    throw new Error(`${where}.content: expected a non-empty string`);
  }
  const special = r.special === true;
  return {
    id: tokenId,
    content: r.content,
    special,
    lstrip: r.lstrip === true,
    rstrip: r.rstrip === true,
    normalized: typeof r.normalized === "boolean" ? r.normalized : !special,
    singleWord: r.single_word === true,
  };
}

/** Finds one set of added tokens in text. */
export class AddedTokenMatcher {
  private readonly re: RegExp | undefined;
  private readonly byContent = new Map<string, AddedToken>();

  /** `contentOf` gives the text to look for (the normalised content for normalised tokens). */
  constructor(
    tokens: readonly AddedToken[],
    contentOf: (t: AddedToken) => string = (t) => t.content,
  ) {
    for (const t of tokens) {
      const c = contentOf(t);
      if (c !== "" && !this.byContent.has(c)) this.byContent.set(c, t);
    }
    const contents = [...this.byContent.keys()].sort((a, b) => b.length - a.length);
    this.re = contents.length > 0
      ? new RegExp(contents.map(escapeRegex).join("|"), "gu")
      : undefined;
  }

  /** Text → ordinary text pieces (never empty) and added-token ids, in order. */
  split(text: string): Piece[] {
    const re = this.re;
    if (re === undefined || text === "") return text === "" ? [] : [text];
    const out: Piece[] = [];
    let done = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const tok = this.byContent.get(m[0])!;
      let start = m.index, stop = start + m[0].length;
      if (
        tok.singleWord &&
        ((start > 0 && WORD_CHAR.test(lastChar(text, start))) ||
          (stop < text.length && WORD_CHAR.test(String.fromCodePoint(text.codePointAt(stop)!))))
      ) {
        continue;
      }
      if (tok.lstrip) {
        while (start > done && SPACE.test(lastChar(text, start))) {
          start -= lastChar(text, start).length;
        }
      }
      if (tok.rstrip) {
        while (stop < text.length && SPACE.test(String.fromCodePoint(text.codePointAt(stop)!))) {
          stop += text.codePointAt(stop)! > 0xffff ? 2 : 1;
        }
        re.lastIndex = stop;
      }
      if (start > done) out.push(text.slice(done, start));
      out.push(tok.id);
      done = stop;
    }
    if (done < text.length) out.push(text.slice(done));
    return out;
  }
}

/** The code point that ends just before `index`. */
function lastChar(text: string, index: number): string {
  const lo = text.charCodeAt(index - 1);
  if (lo >= 0xdc00 && lo <= 0xdfff && index >= 2) {
    const hi = text.charCodeAt(index - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) return text.slice(index - 2, index);
  }
  return text[index - 1];
}
