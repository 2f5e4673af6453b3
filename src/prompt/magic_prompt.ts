/**
 * Magic prompt: a plain-text idea in, an Ideogram 4 JSON caption out. Two
 * backends behind one interface — Ideogram's hosted endpoint and any
 * OpenAI-compatible chat completion endpoint with our system prompt — and one
 * shared clean-up of their answers (fences, `aspect_ratio`, bboxes, key order).
 */
import { serializeCaption } from "./canonical.ts";
import { MagicPromptConfigError, MagicPromptError } from "./errors.ts";
import { DEFAULT_RETRY, postJson, type RetryPolicy } from "./http.ts";
import { fromPlain, isObject, JsonSyntaxError, type JsonValue, parseJson } from "./json.ts";
import {
  DEFAULT_SYSTEM_PROMPT,
  fillSystemPrompt,
  magicPromptUserMessage,
} from "./system_prompt.ts";

export const IDEOGRAM_API_BASE_URL = "https://api.ideogram.ai";
export const IDEOGRAM_MAGIC_PROMPT_PATH = "/v1/ideogram-v4/magic-prompt";
/** Magic prompt calls wait this long for a reply by default (LLMs are slow). */
export const MAGIC_PROMPT_TIMEOUT_MS = 120_000;

/** A service that expands a prompt into a caption. */
export interface MagicPromptBackend {
  /** For messages: "Ideogram magic prompt", "magic prompt (gpt-x at host)". */
  readonly name: string;
  /** Kind of backend, for callers that report it. */
  readonly kind: "ideogram" | "openai";
  /**
   * The caption for `prompt`, as canonical minified JSON text (not yet verified).
   * `aspectRatio` is `W:H` reduced (see {@link aspectRatio}).
   */
  expand(prompt: string, aspectRatio: string): Promise<string>;
}

/** Options every backend shares. */
export interface ClientOptions {
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Keep element bboxes (they are dropped by default: the model places things better alone). */
  keepBboxes?: boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** `W:H` with the common divisor taken out: 1024×576 → `16:9`. */
export function aspectRatio(width: number, height: number): string {
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new Error(`${name} must be a positive integer, got ${v}`);
    }
  }
  const g = gcd(width, height);
  return `${width / g}:${height / g}`;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The hosted API's form of a ratio: `16:9` → `16x9`. */
export function hostedAspectRatio(ratio: string): string {
  return ratio.toUpperCase() === "AUTO" ? "AUTO" : ratio.replace(":", "x");
}

/**
 * Turns a magic prompt answer into canonical caption text: the object is
 * parsed (from text with optional ```json fences and chatter around it),
 * `aspect_ratio` is dropped, element bboxes are dropped unless kept, and the
 * keys are put in canonical order.
 */
export function finishMagicCaption(
  answer: string | JsonValue,
  keepBboxes: boolean,
  fail: (message: string) => Error,
): string {
  let caption: JsonValue;
  if (typeof answer === "string") {
    const text = extractJsonText(answer);
    try {
      caption = parseJson(text).value;
    } catch (e) {
      if (!(e instanceof JsonSyntaxError)) throw e;
      throw fail(
        `the answer is not a JSON caption (${e.message}); it began: ${answer.slice(0, 120)}`,
      );
    }
  } else {
    caption = answer;
  }
  if (!isObject(caption)) throw fail("the answer is not a JSON object");
  caption.delete("aspect_ratio");
  if (!keepBboxes) {
    const comp = caption.get("compositional_deconstruction");
    const elements = isObject(comp) ? comp.get("elements") : undefined;
    if (Array.isArray(elements)) { for (const el of elements) if (isObject(el)) el.delete("bbox"); }
  }
  return serializeCaption(caption);
}

/**
 * The JSON text inside a chat answer: the contents of the first ``` fence if
 * there is one, else the answer, trimmed to its outermost `{…}` when a model
 * wrapped the object in a sentence.
 */
export function extractJsonText(answer: string): string {
  const fenced = /```[A-Za-z]*[ \t]*\r?\n?([\s\S]*?)```/.exec(answer);
  const text = (fenced ? fenced[1] : answer).trim();
  if (text.startsWith("{")) return text;
  const first = text.indexOf("{"), last = text.lastIndexOf("}");
  return first >= 0 && last > first ? text.slice(first, last + 1) : text;
}

// ---- Ideogram's hosted endpoint ---------------------------------------------

export interface IdeogramMagicPromptOptions extends ClientOptions {
  apiKey: string;
  /** Defaults to {@link IDEOGRAM_API_BASE_URL}; tests point it at a local server. */
  baseUrl?: string;
}

/** Ideogram's hosted magic prompt: `Api-Key` header, `{text_prompt, aspect_ratio: "WxH"}`. */
export class IdeogramMagicPrompt implements MagicPromptBackend {
  readonly name = "Ideogram magic prompt";
  readonly kind = "ideogram";
  /** Throws {@link MagicPromptConfigError} without an API key. */
  constructor(private readonly opts: IdeogramMagicPromptOptions) {
    if (!opts.apiKey) throw new MagicPromptConfigError("Ideogram magic prompt needs an API key");
  }

  async expand(prompt: string, ratio: string): Promise<string> {
    const o = this.opts;
    const fail = (status: number | undefined, message: string) =>
      new MagicPromptError(this.name, status, message);
    const reply = await postJson({
      url: joinUrl(o.baseUrl ?? IDEOGRAM_API_BASE_URL, IDEOGRAM_MAGIC_PROMPT_PATH),
      headers: { "Api-Key": o.apiKey, "Content-Type": "application/json" },
      body: () => JSON.stringify({ text_prompt: prompt, aspect_ratio: hostedAspectRatio(ratio) }),
      timeoutMs: o.timeoutMs ?? MAGIC_PROMPT_TIMEOUT_MS,
      retry: o.retry ?? DEFAULT_RETRY,
      secrets: [o.apiKey],
      error: fail,
      fetch: o.fetch,
      signal: o.signal,
    });
    const jsonPrompt = (reply as { json_prompt?: unknown } | null)?.json_prompt;
    if (jsonPrompt === undefined || jsonPrompt === null || jsonPrompt === "") {
      throw fail(200, `the reply has no json_prompt: ${JSON.stringify(reply).slice(0, 200)}`);
    }
    const answer = typeof jsonPrompt === "string" ? jsonPrompt : fromPlain(jsonPrompt);
    return finishMagicCaption(answer, o.keepBboxes ?? false, (m) => fail(200, m));
  }
}

// ---- OpenAI-compatible chat endpoints ---------------------------------------

export interface OpenAiMagicPromptOptions extends ClientOptions {
  /** The endpoint: a base such as `http://localhost:8080/v1`, or the full `…/chat/completions` URL. */
  url: string;
  model: string;
  /** Sent as `Authorization: Bearer …` when given (local servers often need none). */
  apiKey?: string;
  /** Replaces {@link DEFAULT_SYSTEM_PROMPT}. */
  systemPrompt?: string;
}

/** Any OpenAI-compatible chat completion endpoint, with our system prompt. */
export class OpenAiMagicPrompt implements MagicPromptBackend {
  readonly kind = "openai";
  readonly name: string;
  private readonly url: string;
  /** Throws {@link MagicPromptConfigError} without a model name or with a bad URL. */
  constructor(private readonly opts: OpenAiMagicPromptOptions) {
    this.url = chatCompletionsUrl(opts.url);
    if (!opts.model) {
      throw new MagicPromptConfigError(
        `magic prompt at ${opts.url} needs a model name (--magic-prompt-model)`,
      );
    }
    this.name = `magic prompt (${opts.model} at ${new URL(this.url).host})`;
  }

  async expand(prompt: string, ratio: string): Promise<string> {
    const o = this.opts;
    const fail = (status: number | undefined, message: string) =>
      new MagicPromptError(this.name, status, message);
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (o.apiKey) headers.Authorization = `Bearer ${o.apiKey}`;
    const messages = [
      { role: "system", content: fillSystemPrompt(o.systemPrompt ?? DEFAULT_SYSTEM_PROMPT, ratio) },
      { role: "user", content: magicPromptUserMessage(prompt, ratio) },
    ];
    const reply = await postJson({
      url: this.url,
      headers,
      body: () => JSON.stringify({ model: o.model, messages }),
      timeoutMs: o.timeoutMs ?? MAGIC_PROMPT_TIMEOUT_MS,
      retry: o.retry ?? DEFAULT_RETRY,
      secrets: [o.apiKey],
      error: fail,
      fetch: o.fetch,
      signal: o.signal,
    });
    const choice =
      (reply as { choices?: { message?: { content?: unknown }; finish_reason?: string }[] })
        ?.choices?.[0];
    const content = messageText(choice?.message?.content);
    if (!content) {
      throw fail(200, `the reply has no message content: ${JSON.stringify(reply).slice(0, 200)}`);
    }
    const truncated = choice?.finish_reason === "length"
      ? " (the answer was cut off: finish_reason length)"
      : "";
    return finishMagicCaption(content, o.keepBboxes ?? false, (m) => fail(200, m + truncated));
  }
}

/** Message content as text: a string, or the text parts of a content list. */
function messageText(content: unknown): string | undefined {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((p) => typeof p?.text === "string" ? p.text : "").join("");
  }
  return undefined;
}

/** `…/v1` → `…/v1/chat/completions`; a URL already ending that way is kept. */
export function chatCompletionsUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MagicPromptConfigError(`--magic-prompt-url '${url}' is not a valid URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new MagicPromptConfigError(`--magic-prompt-url '${url}' must be an http(s) URL`);
  }
  const path = parsed.pathname.replace(/\/+$/, "");
  parsed.pathname = path.endsWith("/chat/completions") ? path : `${path}/chat/completions`;
  return parsed.toString();
}

/** Base URL + path without doubled slashes. */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}
