import type { ActionOf } from "../action.ts";
import { auditDecision, auditOutcome, errorCode } from "../audit.ts";
import { code, command, msg, strong, tone } from "../message.ts";
import type { Outcome } from "../pipeline-types.ts";
import { replyOutcome } from "../pipeline-types.ts";
import { imageRefusal } from "../policy.ts";
import { serviceList, servicePs } from "../reply.ts";
import { serviceChange, serviceLogs } from "../service-job.ts";
import { answered, engineJob, failure } from "./execution.ts";
import { type Handler, type HandlerContext, noPreview, plainSummary } from "./handler.ts";

const logsSummary = (a: ActionOf<"service.logs">, host: string | undefined) =>
  `service logs${a.follow ? " -f" : ""} ${a.service} on ${host ?? "?"}`;
const scaleSummary = (a: ActionOf<"service.scale">, host: string | undefined) =>
  `service scale ${a.service}=${a.replicas} on ${host ?? "?"}`;
const updateSummary = (a: ActionOf<"service.update">, host: string | undefined) =>
  `service update --image ${a.image} ${a.service} on ${host ?? "?"}`;
const rollbackSummary = (a: ActionOf<"service.rollback">, host: string | undefined) => `service rollback ${a.service} on ${host ?? "?"}`;

export const list: Handler<"service.list"> = {
  runs: "reply",
  summary: plainSummary,
  preview: noPreview,
  execute: answered(serviceList),
  inverse: undefined,
};

export const ps: Handler<"service.ps"> = {
  runs: "reply",
  target: { of: "service" },
  summary: plainSummary,
  preview: noPreview,
  execute: answered(servicePs),
  inverse: undefined,
};

export const logs: Handler<"service.logs"> = {
  runs: "job",
  target: { of: "service" },
  summary: logsSummary,
  preview: noPreview,
  execute: engineJob(serviceLogs, logsSummary),
  inverse: undefined,
};

export const scale: Handler<"service.scale"> = {
  runs: "job",
  summary: scaleSummary,
  preview: (a) => [msg`${strong("Service:")} ${code(a.service)} → ${a.replicas} replicas`],
  execute: engineJob(serviceChange, scaleSummary),
  // The replicas before the change are not known here.
  inverse: undefined,
};

export const update: Handler<"service.update"> = {
  runs: "job",
  target: { of: "service" },
  summary: updateSummary,
  preview: (a) => [msg`${strong("Service:")} ${code(a.service)}`, msg`${strong("New image:")} ${code(a.image)}`],
  execute: engineJob(serviceChange, updateSummary),
  inverse: (a) => ({ kind: "service.rollback", host: a.host, service: a.service }),
};

export const rollback: Handler<"service.rollback"> = {
  runs: "job",
  target: { of: "service" },
  summary: rollbackSummary,
  preview: (a) => [msg`${strong("Service:")} ${code(a.service)} → its previous spec`],
  async execute(a, c) {
    // A rollback deploys the previous spec's image: it passes the same allow-list as `service update --image`.
    const checked = await checkRollback(a, c);
    if (!checked.ok) return checked.outcome;
    return engineJob(serviceChange, rollbackSummary, { rollbackImage: checked.image })(a, c);
  },
  inverse: undefined,
};

/**
 * Reads the image a rollback would bring back and holds it to the image allow-list. Runs after the rollback itself
 * was allowed and audited (it reads the engine); a refusal is audited as a denial by `policy:images`.
 */
async function checkRollback(
  action: ActionOf<"service.rollback">,
  c: HandlerContext,
): Promise<{ ok: true; image: string | undefined } | { ok: false; outcome: Outcome }> {
  const { deps, requestId, actor } = c;
  const host = c.host as string;
  let image: string | undefined;
  try {
    image = await deps.engine(host).previousServiceImage(action.service, c.signal);
  } catch (error) {
    await auditOutcome(deps, { requestId, actor, action, host, outcome: `error: ${errorCode(error)}`, approver: c.approval?.approver });
    return { ok: false, outcome: failure(error, c) };
  }
  // No previous spec: the engine refuses the rollback itself, with its own clear message.
  const refused = image === undefined ? undefined : imageRefusal(c.policy, image);
  if (!refused) return { ok: true, image };
  const reason = msg`A rollback of ${code(action.service)} would bring back its previous image. ${refused} Or deploy an allowed image with ${command(`service update --image IMAGE ${action.service}`)}.`;
  await auditDecision(deps, { requestId, actor, action, host, decision: { allow: false, rule: "policy:images", reason } });
  return { ok: false, outcome: replyOutcome(requestId, msg`${tone("denied")} ${reason}`, "ephemeral", "denied") };
}
