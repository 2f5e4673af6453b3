/**
 * Magic prompt: a plain-text idea in, an Ideogram 4 JSON caption out. Two
 * backends behind one interface — Ideogram's hosted endpoint and any
 * OpenAI-compatible chat completion endpoint (OpenRouter, llama.cpp, vLLM,
 * Ollama…) with a system prompt — and one shared clean-up of their answers
 * (fences, `aspect_ratio`, bboxes, key order). Upstream's three named
 * configurations (`ideogram-4-v1`, `claude-sonnet-v1`, `claude-opus-v1`) are
 * {@link MAGIC_PROMPT_CONFIGS}.
 */
import { serializeCaption } from "./canonical.ts";
import { MagicPromptConfigError, MagicPromptError } from "./errors.ts";
import { DEFAULT_RETRY, postJson, type RetryPolicy } from "./http.ts";
import {
  isObject,
  type JsonParseResult,
  JsonSyntaxError,
  type JsonValue,
  parseJson,
  toPlain,
} from "./json.ts";
import {
  DEFAULT_TEMPLATE,
  magicPromptMessages,
  type MagicPromptTemplate,
} from "./system_prompt.ts";

export const IDEOGRAM_API_BASE_URL = "https://api.ideogram.ai";
export const OPENROUTER_API_BASE_URL = "https://openrouter.ai/api/v1";

export const IDEOGRAM_MAGIC_PROMPT_PATH = "/v1/ideogram-v4/magic-prompt";
/** Magic prompt calls wait this long for a reply by default (LLMs are slow). */
export const MAGIC_PROMPT_TIMEOUT_MS = 120_000;

/** Upstream's magic prompt configurations, by the names its `--magic-prompt-model` takes. */
export type MagicPromptConfigName = "ideogram-4-v1" | "claude-sonnet-v1" | "claude-opus-v1";

/** A chat model on OpenRouter with the request settings upstream pins for it. */
export interface OpenRouterConfig {
  /** Marks the OpenRouter kind of configuration. */
  kind: "openrouter";
  /** OpenRouter's model id. */
  model: string;
  /** Extra request fields: temperature, token limit, reasoning switch. */
  params: Record<string, unknown>;
}

/** Request settings of upstream's Claude v1 configurations. */
const CLAUDE_V1_PARAMS = { max_tokens: 16384, temperature: 1.0, reasoning: { enabled: false } };

/**
 * Upstream's configurations (magic_prompt.py at 415abf4): the hosted API, and
 * two Claude models through OpenRouter at temperature 1, up to 16384 tokens,
 * reasoning off. Upstream sends its own v1 prompt file to them; we send ours
 * (same caption shape) unless `--magic-prompt-system-file` names another.
 */
export const MAGIC_PROMPT_CONFIGS: Record<
  MagicPromptConfigName,
  { kind: "ideogram" } | OpenRouterConfig
> = {
  "ideogram-4-v1": { kind: "ideogram" },
  "claude-sonnet-v1": {
    kind: "openrouter",
    model: "anthropic/claude-sonnet-4.6",
    params: CLAUDE_V1_PARAMS,
  },
  "claude-opus-v1": {
    kind: "openrouter",
    model: "anthropic/claude-opus-4.8",
    params: CLAUDE_V1_PARAMS,
  },
};

/** Upstream's default configuration. */
export const DEFAULT_MAGIC_PROMPT_CONFIG: MagicPromptConfigName = "ideogram-4-v1";

/** Whether `name` is one of {@link MAGIC_PROMPT_CONFIGS}. */
export function isMagicPromptConfigName(name: string): name is MagicPromptConfigName {
  return Object.hasOwn(MAGIC_PROMPT_CONFIGS, name);
}

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
  /** Per-attempt timeout in milliseconds. */
  timeoutMs?: number;
  /** Retries on 429 / 5xx. */
  retry?: RetryPolicy;
  /** Keep element bboxes (they are dropped by default: the model places things better alone). */
  keepBboxes?: boolean;
  /** The fetch to use (tests, proxies); the global one by default. */
  fetch?: typeof fetch;
  /** Cancels the request. */
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
  floatNumbers: ReadonlySet<string> = new Set(),
): string {
  let caption: JsonValue;
  if (typeof answer === "string") {
    const text = extractJsonText(answer);
    try {
      const parsed = parseJson(text);
      caption = parsed.value;
      floatNumbers = parsed.floatNumbers;
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
  return serializeCaption(caption, { floatNumbers });
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
      // Our parser: it keeps the caption's key order and how its numbers were written.
      parse: parseJson,
    }) as JsonParseResult;
    const root = reply.value;
    const jsonPrompt = isObject(root) ? root.get("json_prompt") : undefined;
    if (
      jsonPrompt === undefined || jsonPrompt === null || jsonPrompt === "" ||
      (isObject(jsonPrompt) && jsonPrompt.size === 0)
    ) {
      throw fail(
        200,
        `the reply has no json_prompt: ${JSON.stringify(toPlain(root)).slice(0, 200)}`,
      );
    }
    const floats = new Set(
      [...reply.floatNumbers].filter((p) => p.startsWith("json_prompt."))
        .map((p) => p.slice("json_prompt.".length)),
    );
    return finishMagicCaption(jsonPrompt, o.keepBboxes ?? false, (m) => fail(200, m), floats);
  }
}

// ---- OpenAI-compatible chat endpoints ---------------------------------------

export interface OpenAiMagicPromptOptions extends ClientOptions {
  /** The endpoint: a base such as `http://localhost:8080/v1`, or the full `…/chat/completions` URL. */
  url: string;
  model: string;
  /** Sent as `Authorization: Bearer …` when given (local servers often need none). */
  apiKey?: string;
  /** The messages' template (`parseMagicPromptFile`); ours by default. */
  template?: MagicPromptTemplate;
  /** Extra request fields, e.g. `{temperature: 1, max_tokens: 16384}`. */
  params?: Record<string, unknown>;
  /** For messages; default `magic prompt (MODEL at HOST)`. */
  name?: string;
}

/** Any OpenAI-compatible chat completion endpoint, with a system prompt (ours by default). */
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
    this.name = opts.name ?? `magic prompt (${opts.model} at ${new URL(this.url).host})`;
  }

  async expand(prompt: string, ratio: string): Promise<string> {
    const o = this.opts;
    const fail = (status: number | undefined, message: string) =>
      new MagicPromptError(this.name, status, message);
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (o.apiKey) headers.Authorization = `Bearer ${o.apiKey}`;
    const messages = magicPromptMessages(o.template ?? DEFAULT_TEMPLATE, prompt, ratio);
    const reply = await postJson({
      url: this.url,
      headers,
      body: () => JSON.stringify({ model: o.model, messages, ...o.params }),
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

/**
 * One of upstream's OpenRouter configurations ({@link MAGIC_PROMPT_CONFIGS}):
 * its model id and request settings, our template unless another is given.
 */
export function openRouterMagicPrompt(
  name: Exclude<MagicPromptConfigName, "ideogram-4-v1">,
  opts: ClientOptions & { apiKey: string; baseUrl?: string; template?: MagicPromptTemplate },
): OpenAiMagicPrompt {
  const config = MAGIC_PROMPT_CONFIGS[name] as OpenRouterConfig;
  if (!opts.apiKey) {
    throw new MagicPromptConfigError(`magic prompt ${name} needs an OpenRouter key`);
  }
  return new OpenAiMagicPrompt({
    ...opts,
    url: opts.baseUrl ?? OPENROUTER_API_BASE_URL,
    model: config.model,
    params: config.params,
    name: `magic prompt ${name} (${config.model} on OpenRouter)`,
  });
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
