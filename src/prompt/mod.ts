/**
 * Prompting and safety: JSON captions (types, verifier, canonical form,
 * builder), magic prompt backends, Hive moderation, and the prompt step that
 * generation runs before loading weights. Browser-safe: web APIs only.
 */
export type {
  ArtStyle,
  BBox,
  Caption,
  CaptionElement,
  CompositionalDeconstruction,
  ElementType,
  HexColour,
  ObjElement,
  PhotoStyle,
  StyleDescription,
  TextElement,
} from "./caption.ts";
export {
  type CaptionIssue,
  type CaptionRule,
  formatIssue,
  isJsonCaption,
  verifyCaption,
} from "./verify.ts";
export { canonicalizeCaption, serializeCaption } from "./canonical.ts";
export {
  buildCaption,
  CaptionBuildError,
  type CaptionSpec,
  parseBBox,
  parseElementSpec,
  parsePalette,
  type StyleSpec,
} from "./builder.ts";
export {
  CaptionInvalidError,
  MagicPromptConfigError,
  MagicPromptError,
  type ModerationFlag,
  ModerationFlaggedError,
  ModerationServiceError,
  PromptError,
  PromptRejectedError,
  ServiceError,
} from "./errors.ts";
export type { RetryPolicy } from "./http.ts";
export {
  aspectRatio,
  type ClientOptions,
  DEFAULT_MAGIC_PROMPT_CONFIG,
  IdeogramMagicPrompt,
  isMagicPromptConfigName,
  MAGIC_PROMPT_CONFIGS,
  type MagicPromptBackend,
  type MagicPromptConfigName,
  OpenAiMagicPrompt,
  type OpenRouterConfig,
  openRouterMagicPrompt,
} from "./magic_prompt.ts";
export {
  DEFAULT_SYSTEM_PROMPT,
  DEFAULT_TEMPLATE,
  magicPromptMessages,
  type MagicPromptTemplate,
  parseMagicPromptFile,
} from "./system_prompt.ts";
export {
  checkPrompt,
  PLAIN_TEXT_WARNING,
  type PromptCheck,
  type PromptCheckOptions,
} from "./check.ts";
export {
  type ModerationSettings,
  screenImage,
  screenPrompt,
  type ScreenResult,
} from "./moderation.ts";
export {
  type MagicPromptSettings,
  type PreparedPrompt,
  preparePrompt,
  type PreparePromptOptions,
} from "./prepare.ts";
