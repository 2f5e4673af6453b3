/**
 * The prompt step of generation, run before any weight is loaded: magic prompt
 * (when configured), text moderation and caption verification. It returns the
 * exact string for the text encoder, or throws a typed error
 * (`PromptError.exitCode` says how a command line should end).
 *
 * A user's prompt reaches the model exactly as given (upstream tokenizes the
 * string it gets): a pretty-printed caption stays pretty-printed. Only what
 * we write ourselves, a magic prompt's caption, is in canonical form.
 */
import { checkPrompt } from "./check.ts";
import type { CaptionIssue } from "./verify.ts";
import { isJsonCaption } from "./verify.ts";
import { MagicPromptConfigError, PromptRejectedError } from "./errors.ts";
import type { RetryPolicy } from "./http.ts";
import {
  aspectRatio,
  DEFAULT_MAGIC_PROMPT_CONFIG,
  IdeogramMagicPrompt,
  isMagicPromptConfigName,
  MAGIC_PROMPT_CONFIGS,
  type MagicPromptBackend,
  type MagicPromptConfigName,
  OpenAiMagicPrompt,
  openRouterMagicPrompt,
} from "./magic_prompt.ts";
import { type ModerationSettings, screenPrompt } from "./moderation.ts";
import type { MagicPromptTemplate } from "./system_prompt.ts";

/** Whether and how the magic prompt expands a plain prompt. */
export interface MagicPromptSettings {
  /**
   * `true`: expand (an error when no backend is configured); `false`: send the
   * prompt as is; absent: expand when a backend is configured and the prompt
   * is not already a JSON caption.
   */
  enabled?: boolean;
  /**
   * Upstream's configuration (default `ideogram-4-v1`, the hosted API;
   * `claude-sonnet-v1` / `claude-opus-v1` go through OpenRouter). Not used
   * with `url`.
   */
  config?: MagicPromptConfigName;
  /**
   * Key of the selected backend: an Ideogram API key for `ideogram-4-v1`, an
   * OpenRouter key for `claude-*`, the endpoint's bearer key with `url` (often
   * none for a local server).
   */
  apiKey?: string;
  /** Base URL of the hosted API (tests, proxies). */
  ideogramBaseUrl?: string;
  /** Base URL of OpenRouter (tests, proxies). */
  openRouterBaseUrl?: string;
  /** An OpenAI-compatible endpoint; when set it is used instead of `config`. */
  url?: string;
  /** Model name sent to the OpenAI-compatible endpoint (required with `url`). */
  model?: string;
  /** Messages for chat backends (`parseMagicPromptFile`); ours when absent. */
  template?: MagicPromptTemplate;
  /** Keep the bboxes the magic prompt wrote (dropped by default). */
  keepBboxes?: boolean;
  /** Per-attempt timeout in milliseconds. */
  timeoutMs?: number;
  /** Retries on 429 / 5xx; default {@link DEFAULT_RETRY}. */
  retry?: RetryPolicy;
}

/** What {@link preparePrompt} does with a prompt. */
export interface PreparePromptOptions {
  /** Plain text or a JSON caption. */
  prompt: string;
  /** Image size in pixels; gives the aspect ratio the magic prompt composes for. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** Magic prompt settings; default: off unless a backend is configured. */
  magicPrompt?: MagicPromptSettings;
  /** Hive moderation settings; default: no screening (with a warning). */
  moderation?: ModerationSettings;
  /** Report caption issues as warnings instead of refusing the prompt. */
  warnOnCaptionIssues?: boolean;
  /** Replaces the global `fetch` for every service call. */
  fetch?: typeof fetch;
  /** Aborts every service call. */
  signal?: AbortSignal;
  /** Progress lines, e.g. "Ideogram magic prompt: expanding the prompt for 16:9". */
  onStatus?: (line: string) => void;
}

/** The prompt as the text encoder gets it, and what was done to it. */
export interface PreparedPrompt {
  /** What the text encoder gets: the prompt as given, or the magic prompt's canonical caption. */
  prompt: string;
  /** Whether `prompt` is a JSON caption. */
  isJson: boolean;
  /** `W:H`, reduced. */
  aspectRatio: string;
  /** Name of the magic prompt backend that wrote the caption, if one did. */
  magicPrompt?: string;
  /** Whether Hive text moderation screened the prompt. */
  screened: boolean;
  /** Caption issues let through by `warnOnCaptionIssues`. */
  captionIssues: CaptionIssue[];
  /** Lines to show the user (plain text, screening off, caption issues let through). */
  warnings: string[];
  /** Informational lines (magic prompt skipped for a JSON caption). */
  notes: string[];
}

/** The three ways out when magic prompt is asked for without a backend. */
export const NO_MAGIC_PROMPT_KEY = "magic prompt is on but no key is configured. Either\n" +
  "  - pass --magic-prompt-key KEY (or set MAGIC_PROMPT_API_KEY or IDEOGRAM_API_KEY) for " +
  "Ideogram's hosted magic prompt (ideogram-4-v1),\n" +
  "  - pass --magic-prompt-model claude-opus-v1 or claude-sonnet-v1 with an OpenRouter key " +
  "(--magic-prompt-key or MAGIC_PROMPT_API_KEY),\n" +
  "  - pass --magic-prompt-url URL and --magic-prompt-model NAME (with MAGIC_PROMPT_API_KEY when " +
  "the endpoint needs a key) for an OpenAI-compatible endpoint, or\n" +
  "  - pass --no-magic-prompt to send the prompt as it is.";

/**
 * The backend the settings select, or undefined when magic prompt is off.
 * Throws {@link MagicPromptConfigError} when it is asked for but cannot run.
 */
export function chooseMagicPrompt(
  settings: MagicPromptSettings | undefined,
  io: { fetch?: typeof fetch; signal?: AbortSignal } = {},
): MagicPromptBackend | undefined {
  const s = settings ?? {};
  if (s.enabled === false) return undefined;
  const common = { timeoutMs: s.timeoutMs, retry: s.retry, keepBboxes: s.keepBboxes, ...io };
  if (s.url) {
    return new OpenAiMagicPrompt({
      ...common,
      url: s.url,
      model: s.model ?? "",
      apiKey: s.apiKey,
      template: s.template,
    });
  }
  const config = s.config ?? DEFAULT_MAGIC_PROMPT_CONFIG;
  if (!isMagicPromptConfigName(config)) {
    throw new MagicPromptConfigError(
      `unknown magic prompt configuration '${config}' (use ${
        Object.keys(MAGIC_PROMPT_CONFIGS).join(", ")
      }, or an OpenAI-compatible endpoint with --magic-prompt-url)`,
    );
  }
  if (!s.apiKey) {
    if (s.enabled === true) throw new MagicPromptConfigError(NO_MAGIC_PROMPT_KEY);
    return undefined;
  }
  if (config === "ideogram-4-v1") {
    return new IdeogramMagicPrompt({ ...common, apiKey: s.apiKey, baseUrl: s.ideogramBaseUrl });
  }
  return openRouterMagicPrompt(config, {
    ...common,
    apiKey: s.apiKey,
    baseUrl: s.openRouterBaseUrl,
    template: s.template,
  });
}

/** Runs the prompt step; see the module comment. */
export async function preparePrompt(opts: PreparePromptOptions): Promise<PreparedPrompt> {
  if (opts.prompt.trim() === "") throw new PromptRejectedError("the prompt is empty");
  let ratio: string;
  try {
    ratio = aspectRatio(opts.width, opts.height);
  } catch (e) {
    throw new PromptRejectedError((e as Error).message);
  }
  const io = { fetch: opts.fetch, signal: opts.signal };
  const moderation: ModerationSettings = {
    ...opts.moderation,
    fetch: opts.moderation?.fetch ?? opts.fetch,
    signal: opts.moderation?.signal ?? opts.signal,
  };
  const warnings: string[] = [], notes: string[] = [];
  const userJson = isJsonCaption(opts.prompt);

  // Settle the configuration before anything goes over the network.
  let backend = chooseMagicPrompt(opts.magicPrompt, io);
  if (backend && userJson && opts.magicPrompt?.enabled === undefined) {
    notes.push(`the prompt is already a JSON caption: ${backend.name} skipped`);
    backend = undefined;
  }

  let text = opts.prompt;
  let screened = false;
  if (backend) {
    // The user's own words are screened before they are sent to another service.
    const first = await screenPrompt(opts.prompt, moderation);
    warnings.push(...first.warnings);
    opts.onStatus?.(`${backend.name}: expanding the prompt for ${ratio}`);
    text = await backend.expand(opts.prompt, ratio);
    opts.onStatus?.(`${backend.name} wrote: ${text}`);
  }

  // Verified as it will be tokenized; never re-written.
  const check = checkPrompt(text, {
    allowCaptionIssues: opts.warnOnCaptionIssues,
    source: backend ? `the caption from ${backend.name}` : "the prompt",
    byService: backend !== undefined,
  });
  const captionIssues: CaptionIssue[] = check.issues;
  const isJson = check.isJson;
  warnings.push(...check.warnings);

  // What the model will see is screened (again, when a magic prompt wrote it).
  if (!backend || opts.moderation?.textKey) {
    const final = await screenPrompt(text, moderation);
    if (!backend) warnings.push(...final.warnings);
    screened = final.screened;
  }
  return {
    prompt: text,
    isJson,
    aspectRatio: ratio,
    magicPrompt: backend?.name,
    screened,
    captionIssues,
    warnings,
    notes,
  };
}
