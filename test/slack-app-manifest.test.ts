import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { z } from "zod";
import { commands } from "../commands/index.ts";
import { loadConfig } from "../src/config.ts";
import { runModalIds } from "../src/slack/run-form.ts";

// Keeps manifests/slack-app.yaml equal to what berth's code does: the command it answers, the Web API methods it
// calls and so the bot scopes it needs, no more and no fewer.

const Manifest = z.object({
  _metadata: z.object({ major_version: z.number().int(), minor_version: z.number().int() }),
  display_information: z.object({ name: z.string().min(1).max(35), description: z.string().max(140) }),
  features: z.object({
    bot_user: z.object({ display_name: z.string().min(1).max(80), always_online: z.boolean() }),
    slash_commands: z
      .array(
        z.object({
          command: z.string().regex(/^\/.{1,31}$/),
          url: z.url().optional(),
          description: z.string().min(1).max(2000),
          usage_hint: z.string().max(1000),
          should_escape: z.boolean(),
        }),
      )
      .min(1),
    // Slack's limits for shortcuts (docs/reference/slack-platform.md §6).
    shortcuts: z
      .array(
        z.object({
          name: z.string().min(1).max(24),
          type: z.enum(["global", "message"]),
          callback_id: z.string().min(1).max(255),
          description: z.string().min(1).max(150),
        }),
      )
      .max(10)
      .optional(),
    app_home: z
      .object({ home_tab_enabled: z.boolean(), messages_tab_enabled: z.boolean(), messages_tab_read_only_enabled: z.boolean() })
      .strict(),
  }),
  oauth_config: z.object({ scopes: z.object({ bot: z.array(z.string()) }).strict() }),
  settings: z.object({
    event_subscriptions: z.object({ request_url: z.url().optional(), bot_events: z.array(z.string()).max(100) }).strict(),
    interactivity: z.object({ is_enabled: z.boolean(), request_url: z.url().optional() }),
    org_deploy_enabled: z.boolean(),
    socket_mode_enabled: z.boolean(),
    token_rotation_enabled: z.boolean(),
  }),
});

const manifest = Manifest.parse(parse(readFileSync("manifests/slack-app.yaml", "utf8")));

/**
 * Bot scopes per Web API method, from docs/reference/slack-platform.md §4.1 and each method's reference page. A method berth starts
 * calling must be added here, with its scope, before this test passes.
 */
const scopesByMethod: Readonly<Record<string, readonly string[]>> = {
  "chat.postMessage": ["chat:write"],
  "chat.update": ["chat:write"],
  "chat.postEphemeral": ["chat:write"],
  "files.getUploadURLExternal": ["files:write"],
  "files.completeUploadExternal": ["files:write"],
  "usergroups.users.list": ["usergroups:read"],
  "conversations.info": ["channels:read", "groups:read"],
  "users.info": ["users:read"],
  "views.open": [],
  // No scope (its reference page lists none): it publishes the app's own Home tab.
  "views.publish": [],
  // Bolt calls it with the bot token when the App starts; it needs no scope.
  "auth.test": [],
  // Socket Mode's own call, made with the app-level token (connections:write, set on that token, not a bot scope).
  "apps.connections.open": [],
};

/** SDK helpers that are several Web API calls. */
const helpers: Readonly<Record<string, readonly string[]>> = {
  filesUploadV2: ["files.getUploadURLExternal", "files.completeUploadExternal"],
  "files.uploadV2": ["files.getUploadURLExternal", "files.completeUploadExternal"],
};

/** The scope each Events API event berth subscribes to needs (its reference page on docs.slack.dev). */
const scopesByEvent: Readonly<Record<string, readonly string[]>> = { app_mention: ["app_mentions:read"], app_home_opened: [] };

/** Every event berth listens to (`app.event("…")`), with the files that do. */
function eventsHandled(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const file of sourceFiles("src")) {
    for (const m of readFileSync(file, "utf8").matchAll(/\bapp\s*\.\s*event\s*\(\s*["'`]([a-z_]+)["'`]/g)) {
      found.set(m[1] ?? "", (found.get(m[1] ?? "") ?? new Set()).add(file));
    }
  }
  return found;
}

/** Scopes the app needs for what it receives rather than calls: the slash command, and the events it listens to. */
const receivingScopes = ["commands", ...[...eventsHandled().keys()].flatMap((e) => scopesByEvent[e] ?? [`(no scope known for ${e})`])];

const namespaces =
  "admin|api|apps|assistant|auth|bookmarks|bots|calls|canvases|chat|conversations|dialog|dnd|emoji|files|functions|pins|reactions|reminders|search|stars|team|usergroups|users|views|workflows";

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name))
    .filter((path) => {
      // The playground drives the Slack emulator (packages/slack-emulator), which serves these methods; neither calls Slack.
      return !relative("src", path).startsWith("playground");
    });
}

/** Every Slack Web API method berth's source calls, with the files that call it. */
function methodsCalled(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const add = (method: string, file: string) => {
    for (const m of helpers[method] ?? [method]) found.set(m, (found.get(m) ?? new Set()).add(file));
  };
  const call = new RegExp(`\\bclient\\s*\\.\\s*((?:${namespaces})(?:\\s*\\.\\s*[a-zA-Z]+)+)\\s*\\(`, "g");
  const helper = new RegExp(`\\bclient\\s*\\.\\s*(${Object.keys(helpers).join("|").replace(/\./g, "\\.")})\\s*\\(`, "g");
  // Method names handed to the outbox (its lanes and logs are keyed by them).
  const named = new RegExp(`["'\`]((?:${namespaces})\\.[a-zA-Z]+(?:\\.[a-zA-Z]+)?)["'\`]`, "g");
  for (const file of sourceFiles("src")) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(call)) add((m[1] ?? "").replace(/\s+/g, ""), file);
    for (const m of text.matchAll(helper)) add(m[1] ?? "", file);
    for (const m of text.matchAll(named)) add(m[1] ?? "", file);
  }
  return found;
}

test("the manifest's slash command is berth's default BERTH_COMMAND", () => {
  const [command, ...others] = manifest.features.slash_commands;
  assert.equal(others.length, 0, "berth answers one slash command");
  assert.equal(command?.command, loadConfig({}).command);
});

test("the usage hint names only commands berth has", () => {
  const names = new Set(commands.map((c) => c.name));
  const hint = manifest.features.slash_commands[0]?.usage_hint ?? "";
  for (const alternative of hint.split("|")) {
    const word = alternative.trim().split(/\s+/)[0] ?? "";
    assert.ok(names.has(word), `usage_hint mentions "${word}", which is not a berth command`);
  }
});

test("the manifest's shortcuts are the ones berth listens for, with unique callback ids", () => {
  const shortcuts = manifest.features.shortcuts ?? [];
  assert.deepEqual(
    shortcuts.map((s) => [s.type, s.callback_id]),
    [
      ["global", runModalIds.globalShortcut],
      ["message", runModalIds.messageShortcut],
    ],
  );
  assert.ok(manifest.settings.interactivity.is_enabled, "shortcuts are delivered as interactivity");
});

test("berth's source calls the Web API methods this test knows the scopes of", () => {
  const called = methodsCalled();
  // The scan must find the calls berth is known to make; if it finds none, the scan itself is broken.
  for (const m of ["chat.postMessage", "chat.update", "files.getUploadURLExternal", "usergroups.users.list"]) {
    assert.ok(called.has(m), `expected berth to call ${m}`);
  }
  for (const [method, files] of called) {
    assert.ok(
      method in scopesByMethod,
      `${[...files].join(", ")} calls ${method}: add it and its scopes to scopesByMethod and to the manifest`,
    );
  }
});

test("the manifest has exactly the bot scopes berth's calls need", () => {
  const needed = new Set(receivingScopes);
  for (const method of methodsCalled().keys()) for (const scope of scopesByMethod[method] ?? []) needed.add(scope);
  const declared = manifest.oauth_config.scopes.bot;
  assert.equal(new Set(declared).size, declared.length, "a scope is listed twice");
  for (const scope of needed) assert.ok(declared.includes(scope), `berth needs ${scope}; add it to oauth_config.scopes.bot`);
  for (const scope of declared) assert.ok(needed.has(scope), `no method berth calls needs ${scope}; remove it from the manifest`);
  assert.deepEqual([...declared].sort(), ["app_mentions:read", "chat:write", "commands", "files:write", "usergroups:read"]);
});

test("the manifest subscribes to exactly the events berth listens to", () => {
  const handled = eventsHandled();
  assert.ok(handled.has("app_mention"), "the scan finds berth's app_mention listener");
  for (const [event, files] of handled) {
    assert.ok(event in scopesByEvent, `${[...files].join(", ")} listens to ${event}: add it and its scope to scopesByEvent`);
  }
  assert.deepEqual([...manifest.settings.event_subscriptions.bot_events].sort(), [...handled.keys()].sort());
  // The same URL as commands and clicks: Bolt answers all three on /slack/events.
  assert.equal(manifest.settings.event_subscriptions.request_url, manifest.settings.interactivity.request_url);
});

test("interactivity and Socket Mode are on; no org-wide deploy or token rotation", () => {
  assert.equal(manifest.settings.interactivity.is_enabled, true, "the Stop / Approve / Deny buttons need interactivity");
  assert.equal(manifest.settings.socket_mode_enabled, true);
  assert.equal(manifest.settings.org_deploy_enabled, false);
  // berth keeps one bot token for its whole life; rotating tokens would expire it.
  assert.equal(manifest.settings.token_rotation_enabled, false);
});

test("docs/deploy.md explains every scope the manifest asks for", () => {
  const deploy = readFileSync("docs/deploy.md", "utf8");
  for (const scope of manifest.oauth_config.scopes.bot) {
    assert.ok(deploy.includes(`| \`${scope}\` |`), `docs/deploy.md: add a row for \`${scope}\` to the scope table`);
  }
});

test("the Home tab is on, since app_home_opened is only sent then", () => {
  assert.ok(eventsHandled().has("app_home_opened"), "berth listens for app_home_opened");
  assert.equal(manifest.features.app_home.home_tab_enabled, true, "app_home_opened is only sent when the Home tab is on");
  assert.equal(manifest.features.app_home.messages_tab_enabled, true, "the Messages tab stays as Slack's default has it");
  assert.equal(manifest.features.app_home.messages_tab_read_only_enabled, false);
});
