/**
 * The error for what the user typed on the command line (or as the options
 * of a request to `serve` and `batch`): an unknown or malformed flag, a
 * number out of range, contradictory options, a file a flag names that
 * cannot be used (`--output`, `--init-noise`). Exit code 2, like every input
 * the user gave (`exit_codes.ts`); HTTP 400 for `serve`.
 *
 * The prompt itself (its text, its file, a caption, a magic prompt template,
 * a moderation verdict) is refused with `PromptRejectedError`
 * (`src/prompt/errors.ts`) instead: that one belongs to the library's prompt
 * step, this one to the command line.
 */

/** A flag, number or option the user gave was refused. Exit code 2. */
export class UsageError extends Error {
  /** Error name. */
  override name = "UsageError";
  /** The exit code of a refused input. */
  readonly exitCode = 2;
}
