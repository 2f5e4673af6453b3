/**
 * The checkpoint's chat template (Jinja, rendered with `@huggingface/jinja`),
 * applied the way Ideogram 4's reference does it: one user message whose
 * content is `[{"type": "text", "text": PROMPT}]`, `add_generation_prompt`
 * on. For Qwen3-VL's template that gives
 * `<|im_start|>user\nPROMPT<|im_end|>\n<|im_start|>assistant\n`.
 *
 * A template written for string content only (the text-only Qwen3 template
 * calls string methods on `message.content`) cannot render a content list;
 * for such a template the prompt is passed as a plain string, which renders
 * the same text. The template variables also carry the special tokens of
 * `tokenizer_config.json` (`bos_token`, `eos_token`, …) as transformers does.
 */
import { Template } from "@huggingface/jinja";

/** `tokenizer_config.json` keys passed to the template, as transformers passes them. */
const SPECIAL_TOKEN_KEYS = [
  "bos_token",
  "eos_token",
  "unk_token",
  "sep_token",
  "pad_token",
  "cls_token",
  "mask_token",
  "additional_special_tokens",
] as const;

/**
 * The template text in any of the forms checkpoints store it: a string; a
 * list of `{name, template}` (the one named `default`, or the only one); or
 * an object with a `chat_template` key holding either (`chat_template.json`).
 * `undefined` where `value` is absent or null.
 */
export function chatTemplateText(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value.map((v, i) => {
      const e = v as { name?: unknown; template?: unknown } | null;
      if (typeof e?.name !== "string" || typeof e.template !== "string") {
        throw new Error(`${where}[${i}]: expected {"name": string, "template": string}`);
      }
      return { name: e.name, template: e.template };
    });
    const pick = named.find((t) => t.name === "default") ??
      (named.length === 1 ? named[0] : undefined);
    if (pick === undefined) {
      throw new Error(
        `${where}: ${named.length} templates (${named.map((t) => t.name).join(", ")}) ` +
          `and none named "default"`,
      );
    }
    return pick.template;
  }
  if (typeof value === "object" && "chat_template" in value) {
    return chatTemplateText(
      (value as { chat_template: unknown }).chat_template,
      `${where}.chat_template`,
    );
  }
  throw new Error(
    `${where}: expected a template string, a list of {name, template}, or {chat_template}`,
  );
}

/** The special-token variables of a `tokenizer_config.json` (strings or `{content}` objects). */
export function specialTokenVariables(config: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof config !== "object" || config === null) return out;
  const c = config as Record<string, unknown>;
  const text = (v: unknown): string | undefined =>
    typeof v === "string"
      ? v
      : typeof (v as { content?: unknown } | null)?.content === "string"
      ? (v as { content: string }).content
      : undefined;
  for (const key of SPECIAL_TOKEN_KEYS) {
    const v = c[key];
    if (Array.isArray(v)) out[key] = v.map(text).filter((s) => s !== undefined);
    else if (text(v) !== undefined) out[key] = text(v);
  }
  return out;
}

export class ChatTemplate {
  private readonly template: Template;

  /** Parses `source`; a syntax error names `where`. */
  constructor(
    readonly source: string,
    private readonly variables: Record<string, unknown>,
    private readonly where: string,
  ) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new Error(`${where}: chat template does not parse: ${errorText(e)}`);
    }
  }

  /** The prompt as the one user message, followed by the assistant's generation prompt. */
  renderUserPrompt(prompt: string): string {
    const render = (content: unknown) =>
      this.template.render({
        ...this.variables,
        messages: [{ role: "user", content }],
        add_generation_prompt: true,
      });
    let structured: string | undefined;
    let firstError: unknown;
    try {
      structured = render([{ type: "text", text: prompt }]);
      if (structured.includes(prompt)) return structured;
    } catch (e) {
      firstError = e;
    }
    try {
      const plain = render(prompt);
      if (plain.includes(prompt) || structured === undefined) return plain;
    } catch {
      // Keep the first error: it is the one for the documented message shape.
    }
    if (structured !== undefined) return structured;
    throw new Error(
      `${this.where}: chat template failed on a user message: ${errorText(firstError)}`,
    );
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
