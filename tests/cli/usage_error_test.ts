/**
 * Which error refuses what the user gave: flags, numbers and options are a
 * `UsageError` of the command line, the prompt stays a `PromptRejectedError`
 * of the prompt step; both exit 2 (and are a 400 for `serve`). No GPU.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { UsageError } from "../../src/cli/usage_error.ts";
import { exitCodeOf } from "../../src/cli/exit_codes.ts";
import {
  flagsFromJson,
  imageRequestFromFlags,
  jsonLabel,
  modelChoice,
} from "../../src/cli/generate_request.ts";
import { statusOf } from "../../src/serve/api.ts";
import { PromptRejectedError } from "../../src/prompt/errors.ts";
import { decodePromptText } from "../../src/prompt/text_file.ts";

const noEnv = () => undefined;

Deno.test("usage errors: bad flags and numbers are UsageErrors, exit 2, HTTP 400", () => {
  const refused = [
    assertThrows(() => imageRequestFromFlags({ width: "wide" }, false), "--width wide"),
    assertThrows(() => imageRequestFromFlags({ seed: "-1" }, true), "--seed -1"),
    assertThrows(() => imageRequestFromFlags({ guidance: "1e308x" }, false), "--guidance"),
    assertThrows(() => imageRequestFromFlags({ mu: "x" }, false, jsonLabel), "$.mu x"),
    assertThrows(() => modelChoice({ quantization: "int3" }, noEnv), "--quantization int3"),
    assertThrows(() => modelChoice({ "gpu-memory": "0" }, noEnv), "--gpu-memory 0"),
    assertThrows(() => flagsFromJson({ colour: "red" }, { width: "string" }), "$.colour"),
  ];
  for (const e of refused) {
    assert(e instanceof UsageError, `${e.name}: ${e.message}`);
    assert(!(e instanceof PromptRejectedError), e.message);
    assertEquals([exitCodeOf(e), statusOf(e)], [2, 400], e.message);
  }
});

Deno.test("usage errors: the prompt itself is still refused as the prompt", () => {
  const e = assertThrows(
    () => decodePromptText(new Uint8Array([0x61, 0xff]), "p.txt"),
    "p.txt",
  );
  assert(e instanceof PromptRejectedError && !(e instanceof UsageError), e.name);
  assertEquals([exitCodeOf(e), statusOf(e)], [2, 400]);
});

Deno.test("usage errors: the model flags pick the embedded model only when no model is named", () => {
  assertEquals(modelChoice({}, noEnv).embedded, true);
  assertEquals(modelChoice({ quantization: "fp8" }, noEnv).embedded, false);
  const fromEnv = modelChoice({}, (n) => n === "IDEOGRAM4_MODEL" ? "/models/x" : undefined);
  assertEquals([fromEnv.model, fromEnv.embedded], ["/models/x", false]);
  assertEquals(modelChoice({ model: "a/b", offline: true }, noEnv).offline, true);
});
