/**
 * The prompt step of generation, run before any weight is loaded: magic prompt
 * (when configured), text moderation, caption verification and canonical form.
 * It returns the exact string for the text encoder, or throws a typed error
 * (`PromptError.exitCode` says how a command line should end).
 */
import { canonicalizeCaption } from "./canonical.ts";
import type { CaptionIssue } from "./verify.ts";
import { formatIssue, isJsonCaption, verifyCaption } from "./verify.ts";
import { CaptionInvalidError, MagicPromptConfigError, PromptRejectedError } from "./errors.ts";
import type { RetryPolicy } from "./http.ts";
import {
  aspectRatio,
  IdeogramMagicPrompt,
  type MagicPromptBackend,
  OpenAiMagicPrompt,
} from "./magic_prompt.ts";
import { type ModerationSettings, screenPrompt } from "./moderation.ts";

export interface MagicPromptSettings {
  /**
   * `true`: expand (an error when no backend is configured); `false`: send the
   * prompt as is; absent: expand when a backend is configured and the prompt
   * is not already a JSON caption.
   */
  enabled?: boolean;
  /** Key of Ideogram's hosted magic prompt (the default backend when set). */
  ideogramKey?: string;
  ideogramBaseUrl?: string;
  /** An OpenAI-compatible endpoint; when set it is used instead of the hosted API. */
  url?: string;
  /** Model name sent to the OpenAI-compatible endpoint (required with `url`). */
  model?: string;
  /** Bearer key of the OpenAI-compatible endpoint, when it needs one. */
  apiKey?: string;
  /** Our system prompt is used when absent. */
  systemPrompt?: string;
  /** Keep the bboxes the magic prompt wrote (dropped by default). */
  keepBboxes?: boolean;
  timeoutMs?: number;
  retry?: RetryPolicy;
}

export interface PreparePromptOptions {
  prompt: string;
  /** Image size in pixels; gives the aspect ratio the magic prompt composes for. */
  width: number;
  height: number;
  magicPrompt?: MagicPromptSettings;
  moderation?: ModerationSettings;
  /** Report caption issues as warnings instead of refusing the prompt. */
  warnOnCaptionIssues?: boolean;
  /** Replaces the global `fetch` for every service call. */
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Progress lines, e.g. "Ideogram magic prompt: expanding the prompt for 16:9". */
  onStatus?: (line: string) => void;
}

export interface PreparedPrompt {
  /** What the text encoder gets: canonical minified JSON, or the plain text as given. */
  prompt: string;
  isJson: boolean;
  /** `W:H`, reduced. */
  aspectRatio: string;
  /** Name of the magic prompt backend that wrote the caption, if one did. */
  magicPrompt?: string;
  /** Whether Hive text moderation screened the prompt. */
  screened: boolean;
  /** Caption issues let through by `warnOnCaptionIssues`. */
  captionIssues: CaptionIssue[];
  /** Lines to show the user (screening off, caption issues let through). */
  warnings: string[];
  /** Informational lines (magic prompt skipped for a JSON caption). */
  notes: string[];
}

/** The three ways out when magic prompt is asked for without a backend. */
export const NO_MAGIC_PROMPT_KEY = "magic prompt is on but no key is configured. Either\n" +
  "  - pass --magic-prompt-key KEY (or set IDEOGRAM_API_KEY) for Ideogram's hosted magic prompt,\n" +
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
      systemPrompt: s.systemPrompt,
    });
  }
  if (s.ideogramKey) {
    return new IdeogramMagicPrompt({
      ...common,
      apiKey: s.ideogramKey,
      baseUrl: s.ideogramBaseUrl,
    });
  }
  if (s.enabled === true) throw new MagicPromptConfigError(NO_MAGIC_PROMPT_KEY);
  return undefined;
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

  const source = backend ? `the caption from ${backend.name}` : "the prompt";
  const captionIssues: CaptionIssue[] = [];
  const isJson = isJsonCaption(text);
  if (isJson) {
    const issues = verifyCaption(text);
    if (issues.length > 0 && !opts.warnOnCaptionIssues) {
      throw new CaptionInvalidError(issues, source, backend !== undefined);
    }
    captionIssues.push(...issues);
    for (const issue of issues) warnings.push(`caption: ${formatIssue(issue)}`);
    // Re-written canonically unless it is not even JSON (then it goes as given).
    if (!issues.some((i) => i.rule === "json")) text = canonicalizeCaption(text);
  }

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
