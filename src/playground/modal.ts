/**
 * Modals in the playground: the emulator's open views as page items (a modal overlay on the page, page-modal.ts), and
 * what the page sends back, a submission or a close, delivered to berth signed, as Slack would.
 */
import type { ServerResponse } from "node:http";
import { type SlackFake, viewClosed, viewSubmission } from "@berth/slack-emulator";
import { z } from "zod";

export type ViewItem = {
  kind: "view";
  id: string;
  user: string;
  open: boolean;
  title: string;
  submit: string;
  close: string;
  blocks: unknown;
  errors: Record<string, string>;
  /** The playground's channel, the one choice of a conversations_select. */
  channel: { id: string; name: string };
};

const ViewBody = z.object({
  viewId: z.string().regex(/^V[0-9A-Z]+$/),
  user: z.string().regex(/^U[0-9A-Z]+$/),
  close: z.boolean().optional(),
  values: z.record(z.string().max(255), z.union([z.string().max(4000), z.array(z.string().max(150)).max(10)])).default({}),
});

const label = (value: unknown) => (typeof value === "object" && value !== null ? String((value as { text?: unknown }).text ?? "") : "");

/** Every view the emulator has held (closed ones too, so the page takes them down), keyed and versioned for the feed. */
export function viewItems(emulator: SlackFake, channel: string) {
  const name = emulator.ws.channels.get(channel)?.name ?? channel;
  return [...emulator.ws.views.values()].map((r) => ({
    key: `v:${r.id}`,
    version: `${r.open}/${String(r.view.hash)}/${JSON.stringify(r.errors)}`,
    item: (): ViewItem => ({
      kind: "view",
      id: r.id,
      user: r.user,
      open: r.open,
      title: label(r.view.title),
      submit: label(r.view.submit) || "Submit",
      close: label(r.view.close) || "Cancel",
      blocks: r.view.blocks ?? [],
      errors: { ...r.errors },
      channel: { id: channel, name },
    }),
  }));
}

/** POST /view: the page's person submits (or closes) their open modal. */
export async function answerView(emulator: SlackFake, eventsUrl: string, channel: string, body: unknown, res: ServerResponse) {
  const parsed = ViewBody.safeParse(body);
  const reply = (status: number, json: unknown) => {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
    res.end(JSON.stringify(json));
  };
  if (!parsed.success) return reply(400, { error: "Send {viewId, user, values} for the open form." });
  const { viewId, user, close, values } = parsed.data;
  const record = emulator.ws.views.get(viewId);
  if (!record?.open || record.user !== user) return reply(404, { error: "That form is closed. Open it again." });
  try {
    const result = close
      ? await viewClosed(emulator, { url: eventsUrl, viewId })
      : await viewSubmission(emulator, { url: eventsUrl, viewId, values, currentChannel: channel });
    const status = result?.status ?? 200;
    return reply(status === 200 ? 200 : 502, { ok: status === 200, status });
  } catch (error) {
    // What Slack's client itself refuses to submit (a required field left empty).
    return reply(400, { error: (error as Error).message.replace(/^viewSubmission: /, "") });
  }
}
