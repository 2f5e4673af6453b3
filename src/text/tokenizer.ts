/**
 * Qwen3's tokenizer, built from the checkpoint's Hugging Face files with no
 * runtime dependency besides the Jinja renderer for the chat template.
 *
 * `encode` follows `tokenizers` step by step:
 * 1. added tokens with `normalized: false` are cut out of the raw text;
 * 2. each remaining piece is normalised (Qwen: NFC), then added tokens with
 *    `normalized: true` are cut out of it;
 * 3. each ordinary piece is pre-tokenized into words (Qwen's regex);
 * 4. each word is byte-level BPE encoded (cached per word).
 * Special tokens are never added around the result: the chat template has
 * already written them, and Ideogram 4 tokenizes with
 * `add_special_tokens=False` (Qwen's post-processor adds nothing anyway).
 *
 * The module is portable (no Deno APIs); `load.ts` reads the files through
 * the platform.
 */
import { type AddedToken, AddedTokenMatcher, parseAddedToken } from "./added_tokens.ts";
import { BytePairEncoder } from "./bpe.ts";
import { pushTokenBytes } from "./byte_level.ts";
import { ChatTemplate, chatTemplateText, specialTokenVariables } from "./chat_template.ts";
import { buildNormalizer, type Normalizer } from "./normalizer.ts";
import { buildPreTokenizer, type PreTokenizer } from "./pre_tokenizer.ts";

/** Ideogram 4's limit on prompt tokens (after the chat template). */
export const MAX_PROMPT_TOKENS = 2048;

/** The prompt has more tokens than the text encoder takes. */
export class PromptTooLongError extends Error {
  /** Error name. */
  override name = "PromptTooLongError";
  /** The prompt's token count and the limit. */
  constructor(readonly tokens: number, readonly limit: number) {
    super(
      `prompt is ${tokens} tokens after the chat template; at most ${limit} are allowed ` +
        `(shorten it by ${tokens - limit} tokens)`,
    );
  }
}

/** File names used in error messages (`load.ts` passes full paths). */
export interface TokenizerSourceNames {
  tokenizer?: string;
  config?: string;
  chatTemplate?: string;
}

/** Options of `encodePrompt`. */
export interface EncodePromptOptions {
  /** Default {@link MAX_PROMPT_TOKENS}. */
  maxTokens?: number;
}

/** Options of `decode`. */
export interface DecodeOptions {
  /** Drop added tokens marked `special` (`<|im_start|>`, …). Default false. */
  skipSpecialTokens?: boolean;
}

type Json = Record<string, unknown>;

function asObject(v: unknown, where: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Error(`${where}: expected a JSON object`);
  }
  return v as Json;
}

/**
 * Qwen3's byte-level BPE tokenizer, read from a `tokenizer.json`, with the
 * checkpoint's chat template. Token for token equal to Hugging Face `tokenizers`.
 * Load one with {@link loadTokenizer}.
 */
export class Qwen3Tokenizer {
  /** id → vocabulary token, built on first use (decoding is rare; this keeps load fast). */
  private inverse: (string | undefined)[] | undefined;
  private readonly addedById = new Map<number, AddedToken>();
  private readonly rawMatcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher;

  private constructor(
    /** The parsed `model.vocab` object itself: a lookup table with no copy. */
    private readonly vocabJson: Json,
    private readonly bpe: BytePairEncoder,
    private readonly normalize: Normalizer,
    private readonly preTokenizer: PreTokenizer,
    addedTokens: readonly AddedToken[],
    splitSpecialTokens: boolean,
    private readonly chatTemplate: ChatTemplate | undefined,
    private readonly chatTemplateWhere: string,
  ) {
    for (const t of addedTokens) this.addedById.set(t.id, t);
    // `split_special_tokens` makes special tokens plain text; other added tokens still match.
    const matchable = addedTokens.filter((t) => !(splitSpecialTokens && t.special));
    this.rawMatcher = new AddedTokenMatcher(matchable.filter((t) => !t.normalized));
    this.normalizedMatcher = new AddedTokenMatcher(
      matchable.filter((t) => t.normalized),
      (t) => normalize(t.content),
    );
  }

  /**
   * Builds the tokenizer from parsed JSON: `tokenizer.json`, optionally
   * `tokenizer_config.json` (chat template, special tokens, extra added
   * tokens) and a chat template that overrides the config's (the content of
   * `chat_template.json`, or the text of `chat_template.jinja`).
   */
  static fromJson(
    tokenizerJson: unknown,
    tokenizerConfig?: unknown,
    chatTemplate?: unknown,
    names: TokenizerSourceNames = {},
  ): Qwen3Tokenizer {
    const tokName = names.tokenizer ?? "tokenizer.json";
    const cfgName = names.config ?? "tokenizer_config.json";
    const tj = asObject(tokenizerJson, tokName);
    const model = asObject(tj.model, `${tokName}: model`);
    if (model.type !== undefined && model.type !== "BPE") {
      throw new Error(
        `${tokName}: model.type is ${JSON.stringify(model.type)}; only BPE is supported`,
      );
    }
    checkModelOptions(model, tokName);
    const vocabJson = asObject(model.vocab, `${tokName}: model.vocab`);
    const merges = parseMerges(model.merges, tokName);
    const bpe = new BytePairEncoder((t) => vocabLookup(vocabJson, t), merges, {
      ignoreMerges: model.ignore_merges === true,
      where: `${tokName}: model`,
    });

    const normalize = buildNormalizer(tj.normalizer, `${tokName}: normalizer`);
    const preTokenizer = buildPreTokenizer(tj.pre_tokenizer, `${tokName}: pre_tokenizer`);
    if (!preTokenizer.byteLevel) {
      throw new Error(
        `${tokName}: pre_tokenizer has no ByteLevel step; only byte-level BPE is supported`,
      );
    }
    const decoder = tj.decoder as Json | null | undefined;
    if (decoder != null && decoder.type !== "ByteLevel") {
      throw new Error(
        `${tokName}: decoder.type is ${JSON.stringify(decoder.type)}; only ByteLevel is supported`,
      );
    }

    const added = new Map<number, AddedToken>();
    const list = tj.added_tokens ?? [];
    if (!Array.isArray(list)) throw new Error(`${tokName}: added_tokens: expected an array`);
    list.forEach((t, i) => {
      const tok = parseAddedToken(t, `${tokName}: added_tokens[${i}]`);
      added.set(tok.id, tok);
    });

    let splitSpecial = false;
    let templateSource: string | undefined;
    let templateWhere = `${cfgName}: chat_template`;
    let variables: Record<string, unknown> = {};
    if (tokenizerConfig !== undefined && tokenizerConfig !== null) {
      const cfg = asObject(tokenizerConfig, cfgName);
      splitSpecial = cfg.split_special_tokens === true;
      // transformers also honours added tokens that only the config lists.
      if (cfg.added_tokens_decoder !== undefined) {
        const dec = asObject(cfg.added_tokens_decoder, `${cfgName}: added_tokens_decoder`);
        for (const key in dec) {
          const id = Number(key);
          if (!added.has(id)) {
            added.set(
              id,
              parseAddedToken(dec[key], `${cfgName}: added_tokens_decoder["${key}"]`, id),
            );
          }
        }
      }
      templateSource = chatTemplateText(cfg.chat_template, `${cfgName}: chat_template`);
      variables = specialTokenVariables(cfg);
    }
    const override = chatTemplateText(chatTemplate, names.chatTemplate ?? "chat template");
    if (override !== undefined) {
      templateSource = override;
      templateWhere = names.chatTemplate ?? "chat template";
    }
    const template = templateSource === undefined
      ? undefined
      : new ChatTemplate(templateSource, variables, templateWhere);

    for (const t of added.values()) {
      const inVocab = vocabLookup(vocabJson, t.content);
      if (inVocab !== undefined && inVocab !== t.id) {
        throw new Error(
          `${tokName}: added token ${JSON.stringify(t.content)} has id ${t.id} ` +
            `but the vocabulary gives it ${inVocab}`,
        );
      }
    }
    return new Qwen3Tokenizer(
      vocabJson,
      bpe,
      normalize,
      preTokenizer,
      [...added.values()],
      splitSpecial,
      template,
      templateWhere,
    );
  }

  /** id → token text, built on first use. */
  private idToText(): (string | undefined)[] {
    if (this.inverse === undefined) {
      const inv: (string | undefined)[] = [];
      for (const token in this.vocabJson) {
        const id = vocabLookup(this.vocabJson, token);
        if (id !== undefined && Number.isInteger(id) && id >= 0) inv[id] = token;
      }
      this.inverse = inv;
    }
    return this.inverse;
  }

  /** One past the largest token id (vocabulary and added tokens). */
  get vocabSize(): number {
    let n = this.idToText().length;
    for (const id of this.addedById.keys()) n = Math.max(n, id + 1);
    return n;
  }

  /** Whether a chat template was found. */
  get hasChatTemplate(): boolean {
    return this.chatTemplate !== undefined;
  }

  /** The id of a token (vocabulary text in byte characters, or an added token's content). */
  tokenToId(token: string): number | undefined {
    for (const t of this.addedById.values()) if (t.content === token) return t.id;
    return vocabLookup(this.vocabJson, token);
  }

  /** The token text of an id (byte characters for vocabulary tokens). */
  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.idToText()[id];
  }

  /** Text → token ids, without adding special tokens; added tokens in the text are matched. */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const raw of this.rawMatcher.split(text)) {
      if (typeof raw === "number") {
        out.push(raw);
        continue;
      }
      for (const piece of this.normalizedMatcher.split(this.normalize(raw))) {
        if (typeof piece === "number") {
          out.push(piece);
          continue;
        }
        for (const word of this.preTokenizer.split(piece)) this.bpe.encodeWord(word, out);
      }
    }
    return out;
  }

  /** Token ids → text. Invalid UTF-8 (a character cut between ids) becomes U+FFFD. */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const bytes: number[] = [];
    const inverse = this.idToText();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const added = this.addedById.get(id);
      if (added?.special && opts.skipSpecialTokens) continue;
      const text = added?.content ?? inverse[id];
      if (text === undefined) throw new Error(`decode: token id ${id} is not in the vocabulary`);
      pushTokenBytes(text, bytes);
    }
    // ignoreBOM keeps a leading U+FEFF: it is text here, not a byte-order mark.
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array(bytes));
  }

  /** The chat-template text for one user prompt, ending with the assistant's turn opening. */
  applyChatTemplate(prompt: string): string {
    if (this.chatTemplate === undefined) {
      throw new Error(
        `${this.chatTemplateWhere}: no chat template (looked in tokenizer_config.json, ` +
          `chat_template.json and chat_template.jinja)`,
      );
    }
    return this.chatTemplate.renderUserPrompt(prompt);
  }

  /**
   * The prompt as Ideogram 4 feeds it to the text encoder: chat template,
   * then tokens without added special tokens. More than `maxTokens` tokens
   * throws {@link PromptTooLongError}.
   */
  encodePrompt(prompt: string, opts: EncodePromptOptions = {}): { ids: Int32Array; text: string } {
    const maxTokens = opts.maxTokens ?? MAX_PROMPT_TOKENS;
    const text = this.applyChatTemplate(prompt);
    const ids = this.encode(text);
    if (ids.length > maxTokens) throw new PromptTooLongError(ids.length, maxTokens);
    return { ids: Int32Array.from(ids), text };
  }
}

/** A `model.vocab` entry (own numeric properties only: `"toString"` is not a token). */
function vocabLookup(vocab: Json, token: string): number | undefined {
  const v = vocab[token];
  return typeof v === "number" ? v : undefined;
}

/**
 * `model.merges`: `"a b"` strings (older files) or `["a", "b"]` pairs; a
 * list of valid pairs is used as it is, without a copy.
 */
function parseMerges(raw: unknown, tokName: string): ReadonlyArray<readonly [string, string]> {
  if (!Array.isArray(raw)) throw new Error(`${tokName}: model.merges: expected an array`);
  let allPairs = true;
  for (const m of raw) {
    if (
      !(Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string")
    ) {
      allPairs = false;
      break;
    }
  }
  if (allPairs) return raw as [string, string][];
  const out = new Array<[string, string]>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i];
    if (typeof m === "string") {
      const sp = m.indexOf(" ");
      if (sp <= 0 || sp === m.length - 1 || m.indexOf(" ", sp + 1) >= 0) {
        throw new Error(`${tokName}: model.merges[${i}] ${JSON.stringify(m)} is not "left right"`);
      }
      out[i] = [m.slice(0, sp), m.slice(sp + 1)];
    } else if (
      Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string"
    ) {
      out[i] = [m[0], m[1]];
    } else {
      throw new Error(`${tokName}: model.merges[${i}] is not "left right" or ["left", "right"]`);
    }
  }
  return out;
}

/** Rejects BPE options this encoder does not implement, rather than ignoring them. */
function checkModelOptions(model: Json, tokName: string): void {
  const dropout = model.dropout;
  if (dropout !== undefined && dropout !== null && dropout !== 0) {
    throw new Error(`${tokName}: model.dropout is ${dropout}; BPE dropout is not supported`);
  }
  for (const key of ["continuing_subword_prefix", "end_of_word_suffix"]) {
    const v = model[key];
    if (v !== undefined && v !== null && v !== "") {
      throw new Error(`${tokName}: model.${key} is ${JSON.stringify(v)}; not supported`);
    }
  }
}
