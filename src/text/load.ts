/**
 * Loads the tokenizer folder of a checkpoint through the platform (files
 * under Deno, `File`s or URLs in a browser): `tokenizer.json` (required),
 * `tokenizer_config.json`, and a chat template from `chat_template.jinja`,
 * `chat_template.json` or the config, in that order of precedence (as
 * transformers reads them). A missing or unreadable file, bad JSON or a
 * folder without any chat template is an error that names the file.
 */
import { type Platform, platform as currentPlatform } from "../platform/mod.ts";
import { Qwen3Tokenizer } from "./tokenizer.ts";

/**
 * The tokenizer of a checkpoint's `tokenizer/` folder, with its chat template.
 *
 * @example
 * ```ts
 * import { loadTokenizer } from "@ideogram4/webgpu";
 *
 * const tok = await loadTokenizer("/models/ideogram-4-nf4/tokenizer");
 * const { ids, text } = tok.encodePrompt("a lighthouse at dusk");
 * console.log(ids.length, text);
 * ```
 */
export async function loadTokenizer(
  dir: string,
  p: Platform = currentPlatform(),
): Promise<Qwen3Tokenizer> {
  const files = {
    tokenizer: p.join(dir, "tokenizer.json"),
    config: p.join(dir, "tokenizer_config.json"),
    templateJson: p.join(dir, "chat_template.json"),
    templateJinja: p.join(dir, "chat_template.jinja"),
  };
  const [hasTokenizer, hasConfig, hasJson, hasJinja] = await Promise.all([
    p.exists(files.tokenizer),
    p.exists(files.config),
    p.exists(files.templateJson),
    p.exists(files.templateJinja),
  ]);
  if (!hasTokenizer) {
    throw new Error(
      `${files.tokenizer}: not found (the checkpoint's tokenizer folder must have it)`,
    );
  }
  const [tokenizerJson, config, template] = await Promise.all([
    readJson(p, files.tokenizer),
    hasConfig ? readJson(p, files.config) : undefined,
    hasJinja
      ? readText(p, files.templateJinja)
      : hasJson
      ? readJson(p, files.templateJson)
      : undefined,
  ]);
  const templateFile = hasJinja ? files.templateJinja : files.templateJson;
  const tok = Qwen3Tokenizer.fromJson(tokenizerJson, config, template, {
    tokenizer: files.tokenizer,
    config: files.config,
    chatTemplate: templateFile,
  });
  if (!tok.hasChatTemplate) {
    throw new Error(
      `${dir}: no chat template: tokenizer_config.json ${
        hasConfig ? "has no chat_template" : "is missing"
      }` +
        ` and there is no chat_template.json or chat_template.jinja`,
    );
  }
  return tok;
}

async function readText(p: Platform, path: string): Promise<string> {
  try {
    return await p.readText(path);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(msg.includes(path) ? msg : `${path}: ${msg}`, { cause: e });
  }
}

async function readJson(p: Platform, path: string): Promise<unknown> {
  const text = await readText(p, path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${e instanceof Error ? e.message : e})`);
  }
}
