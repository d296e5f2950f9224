import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { type Browser, chromium, type Page } from "playwright-core";
import { loadConfig } from "../../src/config.ts";
import { type Playground, playgroundConfig, startPlayground } from "../../src/playground/playground.ts";
import { buildPorts } from "../../src/ports.ts";
import { removeOwnContainers, testImage } from "../support/berth-harness.ts";

// The playground in a real browser at a phone's width: the page, the real berth, the Slack emulator, the real engine.
const chromiumPath = "/usr/bin/chromium";
const run = promisify(execFile);
let browser: Browser;
let pg: Playground;
let page: Page;

before(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} is missing: the playground's browser test needs Debian's chromium (apt-get install chromium).`);
  }
  const dir = mkdtempSync(join(tmpdir(), "berth-playground-e2e-"));
  pg = await startPlayground(
    await buildPorts(playgroundConfig(loadConfig({ PORT: "0", BERTH_DATA_DIR: join(dir, "data") })), { write: () => {} }),
  );
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 375, height: 800 } });
  // Buttons with a Slack `confirm` dialog ask with window.confirm; the person taps OK.
  page.on("dialog", (dialog) => void dialog.accept());
  await page.goto(`http://127.0.0.1:${pg.port}/`);
  await page.locator('body[data-ready="1"]').waitFor({ timeout: 30_000 });
});

after(async () => {
  await browser?.close();
  if (pg) await removeOwnContainers(pg.berth.store);
  await pg?.stop();
});

async function type(text: string): Promise<void> {
  await page.locator("#text").fill(text);
  await page.locator("#text").press("Enter");
  // The box empties once the playground has delivered the command to berth.
  await until("the message box to empty", async () => ((await page.locator("#text").inputValue()) === "" ? true : undefined));
}

/** The IDs of containers with exactly this name (the Docker CLI: tests never import dockerode). */
async function containersNamed(name: string): Promise<string[]> {
  const { stdout } = await run("docker", ["ps", "-aq", "--filter", `name=^/${name}$`]);
  return stdout.split("\n").filter(Boolean);
}

/** Polls an async check (the page, the engine) until it returns a value. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("the page fits a phone: nothing is wider than 375 px", async () => {
  const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
  assert.ok(width <= 375, `the page is ${width} px wide`);
  assert.equal(await page.locator("#user").inputValue(), "U0OPER", "Olive Operator is at the keyboard");
});

test("/berth help answers with an ephemeral, shown as only visible to you", async () => {
  await type("/berth help");
  const reply = page.locator(".ephemeral").filter({ hasText: "help COMMAND" });
  await reply.first().waitFor({ timeout: 30_000 });
  assert.match((await reply.first().textContent()) ?? "", /Only visible to you/);
  // mrkdwn is rendered: code spans are <code>, not backticks.
  assert.ok((await reply.first().locator("code").count()) > 0);
  assert.doesNotMatch((await reply.first().textContent()) ?? "", /`/);
});

test("a run streams into its thread live, and Stop ends it as stopped", async () => {
  await type(`/berth run ${testImage} sh -c 'for i in $(seq 1 1000); do echo line-$i; sleep 0.1; done'`);
  const card = page.locator(".post").filter({ hasText: "seq 1 1000" }).first();
  await card.waitFor({ timeout: 60_000 });
  await card.locator(".thread pre").filter({ hasText: "line-5" }).first().waitFor({ timeout: 60_000 });
  const stop = card.locator('button[data-action-id="berth_stop"]');
  await stop.click();
  await until("the card to show the job stopped", async () => {
    const text = (await card.locator(":scope > .msg").textContent()) ?? "";
    return text.includes("\u23f9") && (await stop.count()) === 0 ? text : undefined;
  });
  const thread = (await card.locator(".thread").textContent()) ?? "";
  assert.match(thread, /line-1\n/);
  assert.doesNotMatch(thread, /line-1000\b/, "stopped before the end");
});

test("@berth stop typed in a running job's thread box stops it", async () => {
  await type(`/berth run ${testImage} sh -c 'for i in $(seq 1 1000); do echo tock-$i; sleep 0.2; done'`);
  const card = page.locator(".post").filter({ hasText: "tock-$i" }).first();
  await card.waitFor({ timeout: 60_000 });
  await card.locator(".thread pre").filter({ hasText: "tock-3" }).first().waitFor({ timeout: 60_000 });
  const reply = card.locator("form.reply input");
  await reply.fill("@berth stop");
  await reply.press("Enter");
  await until("the reply box to empty", async () => ((await reply.inputValue()) === "" ? true : undefined));
  // The person's reply shows in the thread with the mention rendered, and the card ends as stopped.
  await card.locator(".thread .mention").filter({ hasText: "@berth" }).first().waitFor({ timeout: 30_000 });
  await until("the card to show the job stopped", async () => {
    const text = (await card.locator(":scope > .msg").textContent()) ?? "";
    return text.includes("\u23f9") && (await card.locator('button[data-action-id="berth_stop"]').count()) === 0 ? text : undefined;
  });
  const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
  assert.ok(width <= 375, `the page is ${width} px wide with a thread's reply box`);
});

test("a second person approves a gated request: Ada approves Olive's rm", async () => {
  const name = `pg-${randomBytes(3).toString("hex")}`;
  await type(`/berth run -d --name ${name} ${testImage} sleep 300`);
  await until("the detached container", async () => ((await containersNamed(name)).length === 1 ? true : undefined));
  await page.locator(".post").filter({ hasText: name }).first().waitFor({ timeout: 60_000 });

  await type(`/berth rm -f ${name}`);
  const gate = page.locator(".post").filter({ hasText: "asks for approval" }).filter({ hasText: name }).first();
  await gate.waitFor({ timeout: 30_000 });

  // Ada's view: Olive's ephemerals are not hers to see.
  await page.locator("#user").selectOption("U0APPROVER");
  await until("Olive's ephemerals to be hidden", async () => ((await page.locator(".ephemeral").count()) === 0 ? true : undefined));
  await gate.locator('button[data-action-id="berth_approve"]').click();
  await until("the gate card to say who approved", async () => {
    const text = (await gate.textContent()) ?? "";
    return text.includes("Approved by @Ada Approver") ? text : undefined;
  });
  await until("the container to be removed", async () => ((await containersNamed(name)).length === 0 ? true : undefined));
  await page.locator("#user").selectOption("U0OPER");
});

test("the run form on a phone: /berth run opens it, a bad timeout shows under its field, the fixed form runs", async () => {
  await type("/berth run");
  const dialog = page.getByRole("dialog", { name: "Run a container" });
  await dialog.waitFor({ timeout: 30_000 });
  const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
  assert.ok(width <= 375, `with the form open the page is ${width} px wide`);
  // The form's own fields fit too, one under the other (its overlay is fixed: the page's width alone would not tell).
  const right = Number(
    await page.evaluate(
      "Math.max.apply(null, Array.from(document.querySelectorAll('.modal *')).map(function (e) { return e.getBoundingClientRect().right; }))",
    ),
  );
  assert.ok(right <= 375, `a field of the form reaches ${right} px`);
  await dialog.locator("#view-image_ref").fill(testImage);
  await dialog.locator("#view-command").fill("echo typed-into-the-form");
  await dialog.locator("#view-env").fill("LEVEL=debug");
  await dialog.locator("#view-timeout").fill("soon");
  await dialog.getByRole("button", { name: "Run" }).click();
  await dialog.locator(".err").filter({ hasText: '"soon" is not a duration' }).waitFor({ timeout: 30_000 });
  assert.equal(await dialog.locator("#view-command").inputValue(), "echo typed-into-the-form", "what was typed is kept");
  await dialog.locator("#view-timeout").fill("1m");
  await dialog.getByRole("button", { name: "Run" }).click();
  await dialog.waitFor({ state: "detached", timeout: 30_000 });
  const card = page.locator(".post").filter({ hasText: "typed-into-the-form" }).first();
  await card.locator(".thread pre").filter({ hasText: "typed-into-the-form" }).first().waitFor({ timeout: 60_000 });
});

test("output in a thread is a preformatted block: literal (no mention, no link), wrapped to a phone's width", async () => {
  // The container writes the markup itself (octal escapes), so nothing of it passes through the command line.
  await type(
    `/berth run ${testImage} sh -c 'printf "\\074@U0OPER\\076 \\074!channel\\076 \\140tick\\140 \\046amp; %s\\n" $(seq -s x 1 300)'`,
  );
  const card = page.locator(".post").filter({ hasText: "seq -s x 1 300" }).first();
  await card.waitFor({ timeout: 60_000 });
  const pre = card.locator(".thread pre.rich").filter({ hasText: "1x2x3x" }).first();
  await pre.waitFor({ timeout: 60_000 });
  const shown = (await pre.textContent()) ?? "";
  assert.ok(shown.startsWith("<@U0OPER> <!channel> `tick` &amp; 1x2x3x"), shown.slice(0, 80));
  assert.equal(await card.locator(".thread .mention, .thread pre a").count(), 0, "nothing in the output became a mention or a link");
  type Styles = { getComputedStyle(e: unknown): { fontFamily: string; whiteSpace: string } };
  const style = await pre.evaluate((e) => {
    const s = (globalThis as unknown as Styles).getComputedStyle(e);
    return { fontFamily: s.fontFamily, whiteSpace: s.whiteSpace };
  });
  assert.match(style.fontFamily, /mono/, "monospace");
  assert.equal(style.whiteSpace, "pre-wrap", "long lines wrap on a phone");
  const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
  assert.ok(width <= 375, `the page is ${width} px wide`);
});

test("the Home tab shows Olive's hosts and running job, and Stop there ends the job", async () => {
  await type(`/berth run ${testImage} sleep 300`);
  await page.locator(".post").filter({ hasText: "sleep 300" }).first().waitFor({ timeout: 60_000 });
  await page.locator("#tab-home").click();
  const home = page.locator("#home");
  await home.locator(".section").filter({ hasText: "sleep 300" }).first().waitFor({ timeout: 30_000 });
  assert.match((await home.textContent()) ?? "", /Hosts/);
  const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
  assert.ok(width <= 375, `the Home tab is ${width} px wide`);
  await home.locator('button[data-action-id="berth_stop"]').first().click();
  // The playground's policy gives Olive `job.*`, job.list.all among them: her Home lists everyone's jobs.
  await until("Home without the job", async () => (/No jobs are running/.test((await home.textContent()) ?? "") ? true : undefined));
  await page.locator("#tab-channel").click();
  await page.locator("#composer").waitFor({ state: "visible" });
});

test("a whole incident on a phone, taps only after the first command: picker → logs → stop → remove → approve", async () => {
  const name = `inc-${randomBytes(3).toString("hex")}`;
  // Before the incident: a service runs (started detached; its card offers what to do next as buttons).
  await type(`/berth run -d --name ${name} ${testImage} sh -c 'while :; do echo serving-${name}; sleep 0.5; done'`);
  await until("the service's container", async () => ((await containersNamed(name)).length === 1 ? true : undefined));
  const started = page
    .locator(".post")
    .filter({ hasText: `Started ${name}` })
    .first();
  await started.waitFor({ timeout: 60_000 });
  assert.deepEqual(await started.locator(':scope > .msg button[data-action-id^="berth_choice"]').allTextContents(), [
    "Logs -f",
    "Stop container",
    "Remove",
  ]);

  // The incident: one typed command, without the container's name…
  await type("/berth logs -f");
  const picker = page.locator(".ephemeral").filter({ hasText: "Which container on local?" }).last();
  await picker.waitFor({ timeout: 30_000 });
  // …and from here on, taps only.
  // Five candidates or fewer are buttons; more (other tests' containers still run) are one menu.
  const button = picker.locator('button[data-action-id^="berth_choice"]').filter({ hasText: name });
  const menu = picker.locator('select[data-action-id^="berth_choice"]');
  await until("the picker's choice", async () => ((await button.count()) + (await menu.count()) > 0 ? true : undefined));
  if (await button.count()) await button.click();
  else await menu.selectOption((await menu.locator("option").filter({ hasText: name }).first().getAttribute("value")) ?? "");
  const logs = page
    .locator(".post")
    .filter({ hasText: `logs -f ${name} on local` })
    .first();
  await logs.waitFor({ timeout: 60_000 });
  await logs
    .locator(".thread pre")
    .filter({ hasText: `serving-${name}` })
    .first()
    .waitFor({ timeout: 60_000 });
  const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
  assert.ok(width <= 375, `the page is ${width} px wide`);

  await logs.locator('button[data-action-id="berth_stop"]').click();
  const remove = logs.locator(':scope > .msg button[data-action-id^="berth_choice"]').filter({ hasText: "Remove" });
  await remove.waitFor({ timeout: 30_000 });
  assert.deepEqual((await containersNamed(name)).length, 1, "stopping the logs leaves the container running");
  await remove.click();

  const gate = page.locator(".post").filter({ hasText: "asks for approval" }).filter({ hasText: name }).first();
  await gate.waitFor({ timeout: 30_000 });
  await page.locator("#user").selectOption("U0APPROVER");
  await gate.locator('button[data-action-id="berth_approve"]').click();
  await until("the container to be removed", async () => ((await containersNamed(name)).length === 0 ? true : undefined));
  await until("the gate card to say who approved", async () =>
    ((await gate.textContent()) ?? "").includes("Approved by @Ada Approver") ? true : undefined,
  );
  await page.locator("#user").selectOption("U0OPER");
});
