import type { ActionOf } from "./action.ts";
import type { Choice } from "./events.ts";
import type { PrecheckContext, Refusal } from "./handlers/handler.ts";
import { msg, tone } from "./message.ts";
import { checkPlatform, type PlatformFix } from "./windows.ts";

const fixLabel = (fix: PlatformFix): string =>
  "image" in fix
    ? `Use ${fix.image}`
    : fix.isolation === "default"
      ? "Run without --isolation"
      : fix.isolation === "hyperv"
        ? "Retry with Hyper-V isolation"
        : "Retry with process isolation";

/**
 * `run` on a host whose OS or Windows build cannot run the image, decided before any card when the image is already
 * on the host (a pull is a change: then the job's own check, after the pull, says it on the card). The fixes the
 * refusal names (Hyper-V isolation, a matching tag, no --isolation) are offered as taps.
 */
export async function runPrecheck(action: ActionOf<"container.run">, c: PrecheckContext): Promise<Refusal | undefined> {
  if (!(await c.engine.hasImage(action.image, c.signal))) return undefined;
  const [host, image] = await Promise.all([c.engine.info(c.signal), c.engine.imagePlatform(action.image, c.signal)]);
  if (!image) return undefined;
  const requested = action.isolation === "default" ? undefined : action.isolation;
  const checked = checkPlatform(
    { ...host, name: c.host, defaultIsolation: c.isolation ?? host.defaultIsolation },
    image,
    requested ?? (host.osType === "windows" ? c.isolation : undefined),
    action.image,
  );
  if (checked.ok) return undefined;
  const choices = checked.fixes.map((fix): Choice => ({ label: fixLabel(fix), action: { ...action, host: c.host, ...fix } }));
  return { text: msg`${tone("warning")} Nothing was run. ${checked.message}`, choices };
}
