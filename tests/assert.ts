/**
 * Minimal assertions (the JSR standard library is not reachable from our
 * machines, and these cover the tests).
 */
export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new AssertionError(`${msg ? msg + ": " : ""}expected ${e}, got ${a}`);
}

/** Checks that `e` is an error whose message contains every `parts` string; returns it. */
function mentioning(e: unknown, parts: string[]): Error {
  const msg = e instanceof Error ? e.message : String(e);
  for (const p of parts) {
    if (!msg.includes(p)) throw new AssertionError(`error "${msg}" does not mention "${p}"`);
  }
  return e as Error;
}

function noError(parts: string[]): AssertionError {
  return new AssertionError(
    `expected an error mentioning ${parts.map((p) => `"${p}"`).join(", ")}`,
  );
}

/** Runs `fn` and checks it throws an error whose message contains every `parts` string. */
export async function assertRejects(fn: () => unknown, ...parts: string[]): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return mentioning(e, parts);
  }
  throw noError(parts);
}

/** Runs `fn` and checks it throws synchronously an error whose message contains every `parts` string. */
export function assertThrows(fn: () => unknown, ...parts: string[]): Error {
  try {
    fn();
  } catch (e) {
    return mentioning(e, parts);
  }
  throw noError(parts);
}
