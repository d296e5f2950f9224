import type { ActionOf } from "./action.ts";
import { formatBytes, formatDuration } from "./duration.ts";
import type { JobEvent } from "./events.ts";
import { cancelledBy, type JobContext, suspended } from "./job-context.ts";
import { code, msg, user } from "./message.ts";

/**
 * Pulls an image with the registry login the manifest has for it (none for others), its progress on the card at
 * most once a second. Returns the engine's last status ("Downloaded newer image for …", "Image is up to date for …").
 */
export async function* pullWithProgress(image: string, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent, string> {
  const clock = ctx.clock ?? Date.now;
  yield { type: "status", text: [`Pulling ${image} on ${ctx.host}…`] };
  const auth = await ctx.registries?.authFor(image, signal);
  let last = 0;
  let final = "";
  for await (const p of ctx.engine.pull(image, signal, auth)) {
    if (p.status.startsWith("Status: ")) final = p.status.slice("Status: ".length);
    if (clock() - last < 1000) continue;
    last = clock();
    const size = p.current !== undefined && p.total ? ` ${formatBytes(p.current)}/${formatBytes(p.total)}` : "";
    yield { type: "status", text: [`Pulling ${image}: ${p.status}${size}`] };
  }
  return final;
}

/** `pull`: the image fetched onto the host as `docker pull` does, whether or not it is there already. */
export async function* pullImage(action: ActionOf<"image.pull">, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent> {
  const clock = ctx.clock ?? Date.now;
  const started = clock();
  let final: string;
  try {
    final = yield* pullWithProgress(action.image, ctx, signal);
  } catch (error) {
    if (!signal.aborted || suspended(signal)) throw error;
    yield { type: "end", outcome: "cancelled", text: msg`Pull of ${code(action.image)} stopped by ${user(cancelledBy(signal))}.` };
    return;
  }
  const took = formatDuration(clock() - started);
  yield {
    type: "end",
    outcome: "succeeded",
    text: final ? msg`${final} on ${ctx.host} (${took}).` : msg`Pulled ${code(action.image)} on ${ctx.host} (${took}).`,
  };
}
