/**
 * The process environment the commands run in (Deno side), set before the
 * first WebGPU call, and what the adapter choice means for the user.
 *
 * Mesa's drivers print "error: XDG_RUNTIME_DIR is invalid or not set in the
 * environment." on every adapter request when the variable is unset or does
 * not name a private folder (containers, cron, ssh without a session). The
 * message is harmless noise in the user's terminal, so when the variable is
 * unusable we point it at a private folder of our own (mode 0700) under the
 * system's temporary folder.
 */

/** Points XDG_RUNTIME_DIR at a private folder when it is unset or unusable. Returns it. */
export function ensureRuntimeDir(): string | undefined {
  try {
    if (Deno.build.os === "windows") return undefined;
    if (Deno.permissions.querySync({ name: "env" }).state !== "granted") return undefined;
    const current = Deno.env.get("XDG_RUNTIME_DIR");
    if (current && usable(current)) return current;
    const uid = Deno.uid();
    const tmp = Deno.env.get("TMPDIR") || "/tmp";
    const dir = `${tmp}/ideogram4-runtime-${uid ?? "user"}`;
    try {
      Deno.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) return undefined;
    }
    if (!usable(dir)) return undefined;
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    return dir;
  } catch {
    return undefined;
  }
}

/** A folder owned by this user with mode 0700 (what Mesa and the XDG spec ask). */
function usable(dir: string): boolean {
  try {
    const info = Deno.statSync(dir);
    const uid = Deno.uid();
    return info.isDirectory && (uid === null || info.uid === uid) &&
      ((info.mode ?? 0o700) & 0o777) === 0o700;
  } catch {
    return false;
  }
}

/**
 * A note about the chosen adapter when it is likely much slower than
 * needed: wgpu's OpenGL backend on Linux, picked when no Vulkan driver
 * answered (about 35× slower than lavapipe on the same CPU, and no f16).
 * The GL backend shows as an adapter without `shader-f16` that offers the
 * ETC2/ASTC texture formats of OpenGL ES. Undefined when there is nothing
 * to say.
 */
export function adapterAdvice(
  features: ReadonlySet<string>,
  env: (name: string) => string | undefined,
  os: string = Deno.build.os,
): string | undefined {
  if (os !== "linux") return undefined;
  const forced = env("DENO_WEBGPU_BACKEND");
  if (forced) return undefined; // the user chose the backend
  const gl = !features.has("shader-f16") && features.has("texture-compression-etc2");
  if (!gl) return undefined;
  return "this adapter runs on OpenGL because no Vulkan driver was found; it is about 35× " +
    "slower than Vulkan and has no f16. Install a Vulkan driver: your GPU's, or without a " +
    "GPU `apt-get install mesa-vulkan-drivers` (lavapipe); DENO_WEBGPU_BACKEND=gl keeps " +
    "OpenGL and silences this note";
}
