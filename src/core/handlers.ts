import { type Action, type ActionKind, targetsHost } from "./action.ts";
import type { GateCard } from "./approvals.ts";
import { publicMessage } from "./errors.ts";
import * as containers from "./handlers/containers.ts";
import * as events from "./handlers/events.ts";
import { type Handler, shown, shownMessage } from "./handlers/handler.ts";
import * as hosts from "./handlers/hosts.ts";
import * as images from "./handlers/images.ts";
import * as requests from "./handlers/requests.ts";
import { runbook } from "./handlers/runbooks.ts";
import * as services from "./handlers/services.ts";
import { timelineHandler } from "./handlers/timeline.ts";
import { undo } from "./handlers/undo.ts";
import { type Message, msg, strong } from "./message.ts";
import type { DispatchDeps } from "./pipeline-types.ts";
import type { Policy } from "./policy.ts";

export type { Checks, Handler, HandlerContext, Precondition, PreviewContext } from "./handlers/handler.ts";

/**
 * What each kind of action does: how it runs, its summary and preview, its execution, its inverse. One entry per
 * kind, like `risk` in action.ts: adding an ActionKind without a handler fails to compile.
 */
export const handlers = {
  help: requests.help,
  "policy.explain": requests.policyExplain,
  "job.list": requests.jobs,
  "job.cancel": requests.cancel,
  "approval.decide": requests.decision,
  "audit.query": requests.audit,
  // Called only once the table exists: a recorded action's card title, as its own handler writes it.
  "audit.timeline": timelineHandler((action, host) => handlerOf(action).summary(action, host)),
  "events.changes": events.changes,
  "grant.request": requests.grant,
  "grant.revoke": requests.revokeGrant,
  "container.list": containers.list,
  "container.logs": containers.logs,
  "container.inspect": containers.inspect,
  "container.stats": containers.stats,
  "container.top": containers.top,
  "container.run": containers.run,
  "container.stop": containers.stop,
  "container.start": containers.start,
  "container.restart": containers.restart,
  "container.remove": containers.remove,
  "container.exec": containers.exec,
  "image.pull": images.pull,
  "host.list": hosts.list,
  "host.create": hosts.create,
  "host.remove": hosts.remove,
  "host.extend": hosts.extend,
  "service.list": services.list,
  "service.ps": services.ps,
  "service.logs": services.logs,
  "service.scale": services.scale,
  "service.update": services.update,
  "service.rollback": services.rollback,
  undo,
  "runbook.run": runbook((action) => handlerOf(action)),
} as const satisfies { [K in ActionKind]: Handler<K> };

/** The handler of an action's kind (typed for any action: each entry only ever receives actions of its own kind). */
export const handlerOf = (action: Action): Handler<ActionKind> => handlers[action.kind] as Handler<ActionKind>;

/**
 * What a gated request's card shows: its summary, then exactly what will happen, starting with the host and its OS.
 * Reading the host's OS and version is the one engine call made before anyone confirms (after the allow was audited).
 */
export async function cardOf(
  action: Action,
  host: string | undefined,
  policy: Policy,
  deps: Pick<DispatchDeps, "engine" | "cloud"> & Partial<Pick<DispatchDeps, "registry">>,
  signal: AbortSignal,
): Promise<GateCard> {
  const handler = handlerOf(action);
  const lines: Message[] = [];
  const engineHost = targetsHost(action) ? host : undefined;
  if (engineHost) {
    const os = await deps
      .engine(engineHost)
      .info(AbortSignal.any([signal, AbortSignal.timeout(3000)]))
      .then(
        (i) => `${i.osType}, ${i.osVersion}, Docker ${i.engineVersion}`,
        (e: unknown) => msg`unreachable now (${publicMessage(e)})`,
      );
    lines.push(msg`${strong("Host:")} ${engineHost} (${os})`);
  }
  lines.push(...(await handler.preview(action, { policy, cloud: deps.cloud, registry: deps.registry })));
  return {
    summary: shown(handler.summary(action, host), action, policy),
    preview: lines.map((line) => shownMessage(line, action, policy)),
  };
}
