import assert from "node:assert/strict";
import { test } from "node:test";
import { validateBlocks } from "@berth/slack-emulator";
import { registry } from "../../commands/index.ts";
import { parse } from "../../src/core/parse.ts";
import { renderRunModal } from "../../src/slack/render-modal.ts";
import { findCommandLine, parseRunFields, prefillFrom, type RunFields, readRunSubmission, runLine } from "../../src/slack/run-form.ts";

/** Slack's view.state.values for the given fields, in the shapes view_submission carries. */
function state(fields: {
  image?: string;
  image_ref?: string;
  host?: string;
  command?: string;
  env?: string;
  detach?: boolean;
  timeout?: string;
  channel?: string;
}) {
  const text = (value: string | undefined) => ({ value: { type: "plain_text_input", value: value ?? null } });
  const select = (value: string | undefined) => ({
    value: { type: "static_select", selected_option: value === undefined ? null : { text: { type: "plain_text", text: value }, value } },
  });
  return {
    image: select(fields.image),
    image_ref: text(fields.image_ref),
    host: select(fields.host),
    command: text(fields.command),
    env: text(fields.env),
    detach: {
      value: { type: "checkboxes", selected_options: fields.detach ? [{ text: { type: "plain_text", text: "d" }, value: "detach" }] : [] },
    },
    timeout: text(fields.timeout),
    ...(fields.channel !== undefined && { channel: { value: { type: "conversations_select", selected_conversation: fields.channel } } }),
  };
}
const anyImage = () => undefined;

test("a submitted form becomes the run line a person would type, and parses to the same action", () => {
  const read = readRunSubmission(
    state({
      image: "busybox:1",
      host: "local",
      command: "sh -c 'echo $LEVEL'",
      env: "LEVEL=debug\n\nTOKEN=a b=c\n",
      detach: true,
      timeout: "5m",
    }),
    anyImage,
  );
  assert.ok(read.ok);
  const line = runLine(read.fields);
  assert.equal(line, "run -H local -e LEVEL=debug -e 'TOKEN=a b=c' -d --timeout 5m busybox:1 sh -c 'echo $LEVEL'");
  const built = parseRunFields(read.fields, registry);
  assert.ok("parsed" in built);
  const typed = parse(line, registry);
  assert.deepEqual(built.parsed, typed);
  assert.deepEqual(built.parsed.action, {
    kind: "container.run",
    image: "busybox:1",
    cmd: ["sh", "-c", "echo $LEVEL"],
    env: [
      { name: "LEVEL", value: "debug" },
      { name: "TOKEN", value: "a b=c" },
    ],
    detach: true,
    autoRemove: false,
    privileged: false,
    mounts: [],
    host: "local",
    timeoutSeconds: 300,
  });
});

test("a typed image wins over the list; the image's own command when none is given", () => {
  const read = readRunSubmission(state({ image: "busybox:1", image_ref: "registry.example/tools:2" }), anyImage);
  assert.ok(read.ok);
  assert.equal(runLine(read.fields), "run registry.example/tools:2");
});

test("each wrong field gets its own message, and an env value is never quoted back", () => {
  const cases: [Parameters<typeof state>[0], Record<string, RegExp>][] = [
    [{ image: "busybox:1", timeout: "soon" }, { timeout: /"soon" is not a duration; write e\.g\. 30s/ }],
    [{ image: "busybox:1", timeout: "0s" }, { timeout: /not a duration/ }],
    [{ image: "busybox:1", env: "OK=1\nsecret-value-only" }, { env: /^Line 2 is not NAME=value/ }],
    [{ image: "busybox:1", env: "1BAD=x" }, { env: /^Line 1 is not NAME=value/ }],
    [{}, { image: /Pick an image/ }],
    [{ image_ref: "bad image" }, { image_ref: /no spaces/ }],
    [{ image: "busybox:1", channel: "" }, { channel: /Pick the channel/ }],
  ];
  for (const [fields, expected] of cases) {
    const read = readRunSubmission(state(fields), anyImage);
    assert.ok(!read.ok, JSON.stringify(fields));
    assert.deepEqual(Object.keys(read.errors).sort(), Object.keys(expected).sort(), JSON.stringify(fields));
    for (const [block, pattern] of Object.entries(expected)) assert.match(read.errors[block] ?? "", pattern);
    assert.ok(!JSON.stringify(read.errors).includes("secret-value-only"));
  }
  const refused = readRunSubmission(state({ image_ref: "alpine:3" }), (image) => `${image} is not allowed`);
  assert.deepEqual(refused, { ok: false, errors: { image_ref: "alpine:3 is not allowed" } });
  assert.ok(!readRunSubmission({ image: "not a state" }, anyImage).ok);
});

test("a command the parser refuses comes back under the command field", () => {
  const fields: RunFields = { image: "busybox:1", command: "echo 'unterminated", env: [], detach: false };
  const built = parseRunFields(fields, registry);
  assert.ok("errors" in built);
  assert.match(built.errors.command ?? "", /quote/i);
});

test("a typed run fills the form when the form can hold all of it", () => {
  const typed = (line: string) => {
    const parsed = parse(line, registry);
    assert.ok(parsed.ok, line);
    return prefillFrom(parsed.action, registry);
  };
  assert.deepEqual(typed("run -e LEVEL=debug -d --timeout 90s -H local busybox:1 sh -c 'echo hi'"), {
    image: "busybox:1",
    host: "local",
    command: "sh -c 'echo hi'",
    env: ["LEVEL=debug"],
    detach: true,
    timeout: "90s",
  });
  assert.equal(typed("run --rm busybox:1 echo hi"), undefined, "--rm is not on the form");
  assert.equal(typed("run --memory 64m busybox:1"), undefined);
  assert.equal(typed("ps"), undefined);
});

test("the berth command line in a message: code block, code span, or a line of its own", () => {
  const cases: [string, string | undefined][] = [
    ["/berth run busybox:1 echo hi", "run busybox:1 echo hi"],
    ["could you run\n/berth logs -f api\nthanks", "logs -f api"],
    ["try `/berth ps -a` please", "ps -a"],
    ["```\n$ /berth run busybox:1 sh -c 'echo &lt;x&gt;'\n```", "run busybox:1 sh -c 'echo <x>'"],
    ["```/berth hosts```", "hosts"],
    ["/Berth ps", "ps"],
    ["the /berth command is great", undefined],
    ["/berthy ps", undefined],
    ["/berth", undefined],
    ["lunch?", undefined],
  ];
  for (const [text, expected] of cases) assert.equal(findCommandLine(text, "/berth"), expected, text);
  assert.equal(findCommandLine("/ops run busybox:1", "/ops"), "run busybox:1");
});

test("the modal passes Slack's Block Kit checks, with and without a channel", () => {
  const choices = {
    images: ["busybox:1", "x".repeat(200)],
    patterns: ["registry.example/**"],
    hosts: ["local", "gpu"],
    defaultHost: "gpu",
  };
  const inChannel = renderRunModal({
    choices,
    metadata: { channelId: "C1", channelName: "ops" },
    slash: "/berth",
    prefill: { image: "busybox:1", env: ["A=1"], detach: true },
  });
  assert.deepEqual(validateBlocks(inChannel.blocks as never, { pointer: "/view/blocks", maxBlocks: 100 }), []);
  const ids = inChannel.blocks.map((b) => b.block_id);
  assert.deepEqual(ids, ["image", "image_ref", "host", "command", "env", "detach", "timeout"]);
  assert.ok(inChannel.title.text.length <= 24 && (inChannel.private_metadata ?? "").length <= 3000);
  const json = JSON.stringify(inChannel);
  assert.ok(!json.includes("x".repeat(151)), "an option value over 150 characters is left out");
  assert.ok(json.includes('"initial_option":{"text":{"type":"plain_text","text":"gpu"},"value":"gpu"}'));

  const anywhere = renderRunModal({ choices: { images: [], patterns: [], hosts: [] }, metadata: {}, slash: "/berth" });
  assert.deepEqual(validateBlocks(anywhere.blocks as never, { pointer: "/view/blocks", maxBlocks: 100 }), []);
  assert.deepEqual(
    anywhere.blocks.map((b) => b.block_id ?? b.type),
    ["channel", "image_ref", "context", "command", "env", "detach", "timeout"],
  );
});
