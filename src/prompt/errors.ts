/**
 * Errors of the prompt step. Each carries the process exit code a command line
 * should end with: 2 when the input was refused (invalid caption, flagged by
 * moderation, magic prompt asked for without a key), 1 when a service failed
 * or answered with something unusable (a broken caption from the magic
 * prompt, a moderation reply that is not a verdict).
 */
import { type CaptionIssue, FIXED_BY_CANONICAL, formatIssue } from "./verify.ts";

/** A prompt could not be prepared; `exitCode` is what the CLI exits with. */
export class PromptError extends Error {
  /** Error name. */
  override name = "PromptError";
  /** `message` and the exit code (2 rejected input, 1 anything else). */
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/**
 * The prompt (its text or file, a caption, a moderation verdict on it or on
 * the image) was refused; nothing should be written. Exit code 2. Flags and
 * numbers the user typed are the command line's own `UsageError`
 * (`src/cli/usage_error.ts`), with the same exit code.
 */
export class PromptRejectedError extends PromptError {
  /** Error name. */
  override name = "PromptRejectedError";
  /** Says why the prompt was refused. */
  constructor(message: string) {
    super(message, 2);
  }
}

/**
 * A JSON caption broke the schema (and warnings were not asked for). Exit
 * code 2 when the user wrote it; 1 when a magic prompt service did (`byService`:
 * a service fault, not the user's input).
 */
export class CaptionInvalidError extends PromptError {
  /** Error name. */
  override name = "CaptionInvalidError";
  /** Lists `issues` of `source` in the message, with how to generate anyway. */
  constructor(
    readonly issues: CaptionIssue[],
    readonly source = "the caption",
    /** How to generate anyway (the library names its option instead of the CLI flag). */
    allowHint = "pass --warn-on-caption-issues",
    /** Whether a magic prompt service wrote the caption (exit code 1). */
    readonly byService = false,
  ) {
    const fixable = issues.every((i) => FIXED_BY_CANONICAL.has(i.rule));
    super(
      `${source} is not a valid Ideogram 4 caption:\n` +
        issues.map((i) => `  ${formatIssue(i)}`).join("\n") +
        (byService
          ? `\nthe service wrote a broken caption: try again, pass --no-magic-prompt, or ${allowHint} to generate anyway`
          : (fixable ? "\n(`caption --canonical` rewrites it in the canonical form)" : "") +
            `\nfix it, or ${allowHint} to generate anyway`),
      byService ? 1 : 2,
    );
  }
}

/** One moderation class at or above its threshold. */
export interface ModerationFlag {
  /** Hive's class name, e.g. `violence`. */
  class: string;
  /** Hive's score for it. */
  score: number;
}

/** Hive moderation flagged the prompt or the generated image. */
export class ModerationFlaggedError extends PromptRejectedError {
  /** Error name. */
  override name = "ModerationFlaggedError";
  /** Lists the flagged classes of the prompt or image. */
  constructor(readonly stage: "prompt" | "image", readonly flags: ModerationFlag[]) {
    super(
      `${stage === "prompt" ? "prompt rejected by Hive text" : "image rejected by Hive visual"} ` +
        `moderation:\n${flags.map((f) => `  ${f.class}: ${f.score}`).join("\n")}`,
    );
  }
}

/** Magic prompt was asked for but cannot run as configured (no key, no model). */
export class MagicPromptConfigError extends PromptRejectedError {
  /** Error name. */
  override name = "MagicPromptConfigError";
}

/**
 * A remote service failed: HTTP status (absent for timeouts and network
 * errors) and the service's own message. Never contains an API key.
 */
export class ServiceError extends PromptError {
  /** Error name. */
  override name = "ServiceError";
  /** The service's name, HTTP status (if any) and its message. */
  constructor(
    readonly service: string,
    readonly status: number | undefined,
    readonly serviceMessage: string,
  ) {
    super(`${service}: ${status === undefined ? "" : `HTTP ${status}: `}${serviceMessage}`, 1);
  }
}

/** The magic prompt service failed or replied with something unusable. */
export class MagicPromptError extends ServiceError {
  /** Error name. */
  override name = "MagicPromptError";
}

/** The Hive moderation service failed; screening could not run, so nothing is generated. */
export class ModerationServiceError extends ServiceError {
  /** Error name. */
  override name = "ModerationServiceError";
}
