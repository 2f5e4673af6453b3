/**
 * One exit-code rule for every command, and the help text that states it:
 * 2 for what the user typed or gave (flags, numbers, prompt, files passed in,
 * a moderation verdict on them), 1 for the machine, the model files and the
 * services (GPU, disk, network, a damaged checkpoint, a service fault).
 */
import { HubError } from "../platform/deno/hub/http.ts";
import { NonFiniteError } from "../pipeline/nonfinite.ts";
import { SizeError } from "../pipeline/size.ts";
import { PromptError } from "../prompt/errors.ts";
import { PromptTooLongError } from "../text/tokenizer.ts";
import { UsageError } from "./usage_error.ts";

export const EXIT_CODES_HELP = `Exit codes (the same rule for every command):
  0  done
  2  rejected: something you typed or gave (a flag or number, the prompt, a file you
     passed, a caption, a moderation verdict); nothing was written
  1  failed: the machine, the model files or a service (no GPU, disk, network, a
     damaged checkpoint, a service error); nothing was written`;

/** The exit code for an error that ended a command. */
export function exitCodeOf(e: unknown): 1 | 2 {
  if (e instanceof PromptError || e instanceof HubError) return e.exitCode === 2 ? 2 : 1;
  if (e instanceof UsageError || e instanceof SizeError || e instanceof PromptTooLongError) {
    return 2;
  }
  if (e instanceof NonFiniteError) return e.origin === "settings" ? 2 : 1;
  return 1;
}
