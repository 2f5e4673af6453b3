/**
 * Reading prompt files and stdin for the commands (Deno side): at most
 * {@link MAX_PROMPT_FILE_BYTES} + 1 bytes are ever read, so `/dev/zero` or a
 * huge file costs no memory, then the bytes go through
 * {@link decodePromptText}'s rules (UTF-8, text, size). A missing or
 * unreadable file is the user's input: a {@link PromptRejectedError} (exit 2).
 */
import { PromptRejectedError } from "../prompt/errors.ts";
import { decodePromptText, MAX_PROMPT_FILE_BYTES } from "../prompt/text_file.ts";

/** Up to `limit` bytes of a stream; `truncated` when it had more. */
async function readUpTo(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const reader = stream.getReader();
  const out = new Uint8Array(limit + 1);
  let n = 0;
  try {
    while (n <= limit) {
      const { value, done } = await reader.read();
      if (done) break;
      const take = Math.min(value.length, limit + 1 - n);
      out.set(value.subarray(0, take), n);
      n += take;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return { bytes: out.subarray(0, Math.min(n, limit)), truncated: n > limit };
}

/** A prompt or caption file as text, by the prompt-file rules. */
export async function readPromptFile(path: string): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
    const info = await file.stat();
    if (info.isDirectory) {
      file.close();
      throw new PromptRejectedError(`${path}: is a folder, not a prompt file`);
    }
  } catch (e) {
    if (e instanceof PromptRejectedError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new PromptRejectedError(`${path}: no such file`);
    }
    throw new PromptRejectedError(`${path}: cannot read: ${e instanceof Error ? e.message : e}`);
  }
  const { bytes, truncated } = await readUpTo(file.readable, MAX_PROMPT_FILE_BYTES);
  return decodePromptText(bytes, path, truncated);
}

/** Standard input as text, by the prompt-file rules. */
export async function readPromptStdin(): Promise<string> {
  const { bytes, truncated } = await readUpTo(Deno.stdin.readable, MAX_PROMPT_FILE_BYTES);
  return decodePromptText(bytes, "<stdin>", truncated);
}
