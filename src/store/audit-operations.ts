import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import type { Config } from "../config.ts";
import type { ReloadResult } from "../core/policy-reload.ts";
import type { createLogger } from "../logger.ts";
import { type AnchorOutcome, type AnchorSink, type AuditAnchor, appendAnchor, createAnchorer, readAnchors } from "./audit-anchor.ts";
import type { ChainProblem } from "./audit-log.ts";
import type { AuditStore } from "./port.ts";

/** The operators' audit channel, as the Slack layer offers it (src/slack/audit-channel.ts): structured in, posted out. */
export type AuditChannel = {
  anchor(anchor: AuditAnchor): Promise<unknown>;
  alarm(problem: ChainProblem): Promise<unknown>;
  reload(result: Extract<ReloadResult, { type: "applied" | "refused" }>): Promise<unknown>;
};

/**
 * What berth does around its audit log while it runs: anchoring the head (at start, every BERTH_AUDIT_ANCHOR_INTERVAL,
 * at shutdown and on demand) and reporting policy reloads (log, audit record, audit channel).
 */
export function createAuditOperations(deps: {
  audit: Config["audit"];
  store: { audit: Pick<AuditStore, "append" | "check"> };
  log: ReturnType<typeof createLogger>;
  clock: () => number;
  channel: AuditChannel | undefined;
}) {
  const { log, store, channel } = deps;
  const { anchorFile } = deps.audit;
  /** A failed post is logged, never thrown: the audit record and the log line are already written. */
  const post = (what: string, send: (c: AuditChannel) => Promise<unknown>) =>
    channel ? send(channel).catch((error: unknown) => log.error("audit channel post failed", { what, err: error })) : Promise.resolve();

  const sinks: AnchorSink[] = [];
  if (anchorFile) sinks.push({ name: "file", write: (a) => appendAnchor(anchorFile, a) });
  if (channel) sinks.push({ name: "channel", write: (a) => channel.anchor(a) });
  const anchorer = createAnchorer({
    check: (from) => store.audit.check(from),
    sinks,
    clock: deps.clock,
    last: anchorFile && existsSync(anchorFile) ? readAnchors(anchorFile).anchors.at(-1) : undefined,
  });
  let timer: NodeJS.Timeout | undefined;

  async function anchor(): Promise<AnchorOutcome> {
    const outcome = await anchorer.anchor();
    if (outcome.type === "anchored") {
      const { seq, hash, keyId } = outcome.anchor;
      log.info("audit head anchored", { seq, hash, keyId, sinks: sinks.map((s) => s.name) });
      for (const f of outcome.failed) log.error("audit anchor not written", { sink: f.sink, err: f.error });
    } else if (outcome.type === "refused") {
      const { seq, problem, kind } = outcome.problem;
      log.error(kind === "tampered" ? "audit log TAMPERED: not anchored" : "audit log CANNOT BE VERIFIED: not anchored", { seq, problem });
      await post("audit alarm", (c) => c.alarm(outcome.problem));
    }
    return outcome;
  }
  const anchorLogged = () => anchor().catch((error: unknown) => log.error("audit anchoring failed", { err: error }));

  /** Every applied or refused reload: the log (loudly when it loosens the rules), the audit log and the channel. */
  function reportReload(result: ReloadResult): void {
    const path = result.path;
    if (result.type === "unsettled") {
      log.warn("policy file still changing; not reloaded yet", { path });
      return;
    }
    if (result.type === "unchanged") {
      log.info("policy file changed; the policy in force is the same", { path });
      return;
    }
    if (result.type === "refused") {
      log.error("policy reload rejected; keeping the previous policy", {
        path,
        reason: result.reason,
        next: "the previous policy stays in force; berth will refuse to START with this file: fix it now",
      });
    } else {
      const { diff } = result;
      (diff.removesGate ? log.error : diff.widens ? log.warn : log.info)("policy reloaded", {
        path,
        summary: diff.summary,
        changes: diff.changes.map((c) => `${c.effect}: ${c.text}`),
      });
    }
    const record = store.audit.append({
      requestId: randomUUID(),
      type: "policy",
      userId: "berth",
      channelId: deps.audit.channel ?? "",
      action:
        result.type === "applied"
          ? { kind: "policy.reload", path, sha256: result.sha256, summary: result.diff.summary, changes: result.diff.changes }
          : { kind: "policy.reload", path, sha256: result.sha256 ?? null, reason: result.reason },
      host: null,
      decision: null,
      rule: null,
      outcome: result.type === "applied" ? `applied: ${result.diff.summary}` : "refused: the previous policy stays in force",
      messageTs: null,
    });
    void record.then(
      () => post("policy reload", (c) => c.reload(result)),
      (error: unknown) => log.error("policy reload not audited", { path, err: error }),
    );
  }

  return {
    anchor,
    reportReload,
    async start(): Promise<void> {
      if (!sinks.length) {
        log.warn("audit head not anchored: set BERTH_AUDIT_ANCHOR_FILE and/or BERTH_AUDIT_CHANNEL", {
          why: "without an anchor outside the database, records cut off the end of the audit log go unnoticed",
        });
        return;
      }
      await anchorLogged();
      timer = setInterval(() => void anchorLogged(), deps.audit.anchorIntervalMs);
      timer.unref();
    },
    /** The last anchor, before the store closes; a Slack that does not answer holds shutdown up 5 s at most. */
    async stop(): Promise<void> {
      clearInterval(timer);
      if (sinks.length) await Promise.race([anchorLogged(), new Promise((r) => setTimeout(r, 5000).unref())]);
    },
  };
}
