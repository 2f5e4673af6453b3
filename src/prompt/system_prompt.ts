/**
 * The messages a chat model gets when it acts as magic prompt: a system
 * prompt that asks for an Ideogram 4 JSON caption, and a user message with
 * the idea and the target aspect ratio.
 *
 * Both come from a template. Ours is written for this project and asks for
 * the caption shape of upstream's v1 magic prompt: `aspect_ratio` (dropped
 * before the caption reaches the model), `high_level_description` and
 * `compositional_deconstruction`, no `style_description`. A user may pass
 * their own file (`--magic-prompt-system-file`) in either of two forms:
 * - upstream's sectioned form, so upstream's own prompt file works as is:
 *   marker lines `[SYSTEM]`, `[USER]` (and others, ignored, e.g. `[META]`);
 *   the system section is sent as written, and in the user section
 *   `{{aspect_ratio}}` and `{{original_prompt}}` are filled in (without
 *   `{{original_prompt}}` the idea is appended after a blank line);
 * - plain text: the whole file is the system prompt, `{{aspect_ratio}}` in it
 *   filled in, and our user message follows.
 */

/** A parsed prompt file. */
export interface MagicPromptTemplate {
  /** The system message. */
  system: string;
  /** The user message's template; ours when absent. */
  user?: string;
  /** Whether `{{aspect_ratio}}` is filled in the system message too (plain files). */
  fillSystem: boolean;
}

/** Our user message: the aspect ratio as `W:H` (as upstream sends it), then the idea. */
export const DEFAULT_USER_TEMPLATE =
  "Aspect ratio of the image (width:height): {{aspect_ratio}}\n\nIdea:\n{{original_prompt}}";

/** Our system prompt: asks for upstream's v1 caption shape, in our own words. */
export const DEFAULT_SYSTEM_PROMPT: string =
  `You write image captions for Ideogram 4, a text-to-image model that was trained on structured JSON captions. You get an idea for a picture and the aspect ratio of the image (W:H), and you answer with exactly one JSON caption for it.

OUTPUT
- Reply with the JSON object only: one line, minified, no markdown code fence, no explanation before or after.
- Write every character literally (é, ü, 日本語, emoji); never use \\u escapes.
- Exactly three top-level keys, in this order, and no others:
{"aspect_ratio":"W:H","high_level_description":"…","compositional_deconstruction":{"background":"…","elements":[{"type":"obj","bbox":[y_min,x_min,y_max,x_max],"desc":"…"},{"type":"text","bbox":[y_min,x_min,y_max,x_max],"text":"…","desc":"…"}]}}
- No style_description: the look of the picture (medium, lighting, mood) is written into the high level description, the background and the element descriptions.

ASPECT RATIO
Repeat the aspect ratio you were given, as "W:H". Plan every box for that frame.

HIGH LEVEL DESCRIPTION
One sentence, two at most, under 50 words, that names the subject, the medium and the overall composition the way a person would ask for the picture. Begin with the subject itself, not with "an image of". Broad words ("several", "a crowd of") are fine here; the details go into the elements.

COMPOSITIONAL DECONSTRUCTION
- background: the setting as a shell — sky, horizon, ground or floor, walls, weather, scene-wide light, distant or blurred surroundings. What is described here is not repeated as an element.
- elements: the things in front of that shell, listed from the back of the scene to the front.
  - One element per distinct subject. The parts of one subject (a person's clothes, a car's wheels, a flower's petals) belong in that element's desc, not in elements of their own.
  - "obj" elements: a desc of 20 to 60 words that opens with what the thing is, then its visible attributes — shape, material, colour, pose, expression, position in the frame. Describe what can be seen, not impressions ("stunning", "vibrant"). Commit to one concrete choice instead of listing options.
  - "text" elements, for every piece of lettering in the picture: "text" holds the exact characters to render, in the user's spelling, case and language, with \\n between lines; desc says where it is and how it looks (typeface style, weight, colour, material). Do not add lettering the idea does not ask for or clearly imply.
  - bbox (optional): [y_min, x_min, y_max, x_max], whole numbers from 0 to 1000 measured from the top-left corner, rows first. The grid is stretched over the frame, so on a wide frame a square object needs a narrower x span than y span. Give boxes to subjects whose placement matters; leave them out for scattered or uncountable things (crowds, rain, stars).

CONTENT
Keep every detail the user asked for — subjects, counts, colours, text, style, mood. Fill the gaps with concrete, plausible choices that suit the idea. Use the aspect ratio to arrange the scene.`;

/** Our template: the system prompt above and our user message. */
export const DEFAULT_TEMPLATE: MagicPromptTemplate = {
  system: DEFAULT_SYSTEM_PROMPT,
  user: DEFAULT_USER_TEMPLATE,
  fillSystem: false,
};

/** A section marker: a line `[NAME]` on its own, no spaces inside. */
function sectionName(line: string): string | undefined {
  const t = line.trim();
  return t.length > 2 && t.startsWith("[") && t.endsWith("]") && !t.includes(" ")
    ? t.slice(1, -1).trim().toLowerCase()
    : undefined;
}

/**
 * Reads a prompt file: sectioned when it has a `[SYSTEM]` marker line, else
 * plain text (see the module comment). `name` is for messages.
 */
export function parseMagicPromptFile(
  text: string,
  name = "the system prompt file",
): MagicPromptTemplate {
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
  if (!lines.some((l) => sectionName(l) === "system")) {
    if (text.trim() === "") throw new Error(`${name} is empty`);
    return { system: text, fillSystem: true };
  }
  // Text before the first marker belongs to no section and is dropped.
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of lines) {
    const section = sectionName(line);
    if (section !== undefined) {
      current = [];
      sections.set(section, current);
    } else {
      current?.push(line);
    }
  }
  const body = (key: string) => {
    const s = sections.get(key);
    return s === undefined ? undefined : s.join("\n").trim();
  };
  const system = body("system")!;
  if (system === "") throw new Error(`${name}: the [SYSTEM] section is empty`);
  return { system, user: body("user"), fillSystem: false };
}

/** The chat messages for one request. */
export function magicPromptMessages(
  template: MagicPromptTemplate,
  prompt: string,
  aspectRatio: string,
): { role: "system" | "user"; content: string }[] {
  // Replacement functions: a `$&` in a prompt stays as written.
  const ratio = () => aspectRatio;
  const system = template.fillSystem
    ? template.system.replaceAll("{{aspect_ratio}}", ratio)
    : template.system;
  let user = (template.user ?? DEFAULT_USER_TEMPLATE).replaceAll("{{aspect_ratio}}", ratio);
  user = user.includes("{{original_prompt}}")
    ? user.replaceAll("{{original_prompt}}", () => prompt)
    : `${user}\n\n${prompt}`;
  return [{ role: "system", content: system }, { role: "user", content: user }];
}
