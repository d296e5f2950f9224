/**
 * The playground's Home tab: what the page's Home pane shows (the Home view berth published for each of the people at
 * the keyboard, as the emulator stored it) and what it sends, as Slack would deliver it: opening the pane is a signed
 * `app_home_opened`, a tap on a button in it a signed `block_actions` from a view.
 */
import { appHomeOpened, homeView, SEED, type SlackFake, viewAction } from "@berth/slack-emulator";
import { z } from "zod";

const Person = z.enum([SEED.operator, SEED.approver]);
const OpenBody = z.object({ user: Person });
const TapBody = z.object({
  actionId: z.string().min(1).max(255),
  value: z.string().max(2000).optional(),
  blockId: z.string().max(255).optional(),
  user: Person,
});

/** One person's Home view, as the page's feed carries it. */
export type HomeItem = { kind: "home"; user: string; blocks: unknown };

type Answer = { status: number; body: unknown };

export function playgroundHome(emulator: SlackFake, eventsUrl: string, people: readonly { id: string }[]) {
  const delivered = (status: number): Answer => ({ status: status === 200 ? 200 : 502, body: { ok: status === 200, status } });
  return {
    /** POST /home {user}: the person opened the Home tab. */
    async open(body: unknown): Promise<Answer> {
      const parsed = OpenBody.safeParse(body);
      if (!parsed.success) return { status: 400, body: { error: "Send {user}: one of the playground's people." } };
      return delivered((await appHomeOpened(emulator, { url: eventsUrl, user: parsed.data.user })).status);
    },
    /** POST /home-action {actionId, value, blockId, user}: a tap on a button of that person's Home view. */
    async tap(body: unknown): Promise<Answer> {
      const parsed = TapBody.safeParse(body);
      if (!parsed.success) return { status: 400, body: { error: "Send {actionId, value, blockId, user}: the button that was tapped." } };
      const { user, actionId, value, blockId } = parsed.data;
      if (!homeView(emulator, user)) return { status: 404, body: { error: "That Home view is gone. Open Home again." } };
      try {
        const result = await viewAction(emulator, {
          url: eventsUrl,
          user,
          actionId,
          ...(value !== undefined && { value }),
          ...(blockId !== undefined && { blockId }),
        });
        return delivered(result.status);
      } catch {
        return { status: 404, body: { error: "That button is no longer on the Home view. Open Home again." } };
      }
    },
    /** The feed's Home items: one per person with a published view, versioned by the view's hash. */
    items(): { key: string; version: string; item: () => HomeItem }[] {
      return people.flatMap((p) => {
        const view = homeView(emulator, p.id);
        return view
          ? [{ key: `h:${p.id}`, version: view.hash, item: () => ({ kind: "home" as const, user: p.id, blocks: view.blocks }) }]
          : [];
      });
    },
  };
}
