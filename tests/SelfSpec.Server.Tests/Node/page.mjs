// Loads the chat page in headless chromium, sends a message, waits for the streamed reply and its statistics, and
// writes a screenshot. Environment: SELFSPEC_URL (the server's root), CHROMIUM (the browser), SCREENSHOT (a .png path).
import { chromium } from "playwright-core";

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  await page.goto(process.env.SELFSPEC_URL);
  await page.waitForFunction(() => !document.getElementById("model").textContent.includes("…"));
  await page.fill("#max", "24");
  await page.fill("#input", "What is 2+2?");
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector(".assistant .stats")?.textContent.includes("tokens/s"), null, { timeout: 120000 });
  const reply = await page.textContent(".assistant span");
  const stats = await page.textContent(".assistant .stats");
  const model = await page.textContent("#model");
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  // The pieces the page applied one by one: proof that it renders a stream, not one whole reply. (Counting DOM
  // updates instead depends on timing: pieces that arrive in one network read render as one update.)
  const partials = Number(await page.getAttribute(".assistant", "data-deltas") ?? 0);
  console.log(JSON.stringify({ model, reply, stats, partials, error: (await page.$(".error")) !== null }));
} finally {
  await browser.close();
}
