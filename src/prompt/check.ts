/**
 * The check every prompt gets before it is tokenized, wherever it comes from
 * (CLI, library `generate`, web page): a JSON caption is verified and refused
 * when it breaks the schema unless issues are allowed (upstream's
 * `raise_on_caption_issues`); plain text goes through with one warning, since
 * the model was trained on JSON captions only. The prompt itself is never
 * changed: the text encoder gets it exactly as given.
 */
import { CaptionInvalidError } from "./errors.ts";
import { type CaptionIssue, formatIssue, isJsonCaption, verifyCaption } from "./verify.ts";

/** The one warning for a plain-text prompt: why, and the three ways to a caption. */
export const PLAIN_TEXT_WARNING: string =
  "the prompt is plain text, but Ideogram 4 was trained only on JSON captions and follows " +
  "plain text less closely. For a caption: turn on magic prompt (--magic-prompt, or the " +
  "library's magicPrompt settings), build one with the `caption` command (buildCaption in the " +
  'library), or write one by hand (README, "Prompts, magic prompt, moderation")';

/** How {@link checkPrompt} treats a caption's issues and names the prompt. */
export interface PromptCheckOptions {
  /** Report a JSON caption's issues as warnings instead of refusing it. */
  allowCaptionIssues?: boolean;
  /** Names the prompt in messages (default "the prompt"). */
  source?: string;
  /** How to let issues through, for the refusal (default: the CLI flag). */
  allowHint?: string;
  /** A magic prompt service wrote the caption: its issues are a service fault (exit 1). */
  byService?: boolean;
}

/** What {@link checkPrompt} found. */
export interface PromptCheck {
  /** Whether the prompt is a JSON caption. */
  isJson: boolean;
  /** The caption's issues (only when they are allowed; otherwise they throw). */
  issues: CaptionIssue[];
  /** Lines for the user: the plain-text warning, or each caption issue let through. */
  warnings: string[];
}

/**
 * Checks `prompt` as the model will get it. Throws {@link CaptionInvalidError}
 * for a JSON caption with issues unless `allowCaptionIssues`.
 */
export function checkPrompt(prompt: string, opts: PromptCheckOptions = {}): PromptCheck {
  if (!isJsonCaption(prompt)) return { isJson: false, issues: [], warnings: [PLAIN_TEXT_WARNING] };
  const issues = verifyCaption(prompt);
  if (issues.length > 0 && !opts.allowCaptionIssues) {
    throw new CaptionInvalidError(issues, opts.source, opts.allowHint, opts.byService);
  }
  return { isJson: true, issues, warnings: issues.map((i) => `caption: ${formatIssue(i)}`) };
}
