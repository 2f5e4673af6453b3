/**
 * Headless Debian Chromium for the page tests, driven over the DevTools
 * protocol by puppeteer-core, with WebGPU on SwiftShader (Chromium's CPU
 * Vulkan: no GPU or driver needed; it has no shader-f16, so pipelines run
 * f32).
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** What the tests pass to Chromium besides puppeteer's own flags. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--use-webgpu-adapter=swiftshader",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Path of `chromium` on PATH, or undefined when it is not installed. */
export async function findChromium(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("which", {
      args: ["chromium"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    const path = new TextDecoder().decode(out.stdout).trim();
    return out.success && path !== "" ? path : undefined;
  } catch {
    return undefined;
  }
}

export interface LaunchedChromium {
  browser: Browser;
  /** Closes the browser (killing it if it does not close) and removes its profile. */
  close(): Promise<void>;
}

/** Starts Chromium with a fresh profile in a temporary folder. */
export async function launchChromium(executablePath: string): Promise<LaunchedChromium> {
  const userDataDir = await Deno.makeTempDir({ prefix: "ideogram4-chromium-" });
  const browser = await puppeteer.launch({
    executablePath,
    userDataDir,
    headless: true,
    // puppeteer adds --headless=new itself; ours must not fight it.
    args: CHROMIUM_FLAGS.filter((f) => f !== "--headless"),
    // A whole generation on SwiftShader can take minutes, and a
    // waitForFunction is one protocol call for as long as it waits.
    protocolTimeout: 20 * 60_000,
  });
  return {
    browser,
    async close() {
      const proc = browser.process();
      const closed = browser.close().then(() => true, () => false);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<boolean>((r) => timer = setTimeout(() => r(false), 10_000));
      const inTime = await Promise.race([closed, late]);
      clearTimeout(timer);
      if (!inTime && proc?.pid !== undefined) {
        try {
          Deno.kill(proc.pid, "SIGKILL");
        } catch { /* already gone */ }
      }
      await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
    },
  };
}

/** A screenshot of the whole page at `scale` (docs/screenshots keeps them small). */
export async function smallScreenshot(page: Page, path: string, scale = 0.6): Promise<void> {
  const { width, height } = await page.evaluate(() => ({
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  }));
  await page.screenshot({
    path: path as `${string}.png`,
    clip: { x: 0, y: 0, width, height, scale },
    captureBeyondViewport: true,
  });
}
