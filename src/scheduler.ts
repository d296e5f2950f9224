import { randomUUID } from "node:crypto";
import { type ProvisionDeps, provisionHost, removeHost } from "./cloud/provision.ts";
import { deadlineReached, stopOverdue } from "./container-deadlines.ts";
import { auditDeadline } from "./core/audit.ts";
import { type DispatchDeps, type JobPlan, type SweepResult, sweep } from "./core/dispatch.ts";
import { hostReminder, lifetimeDue } from "./core/host-lifetime.ts";
import type { Message } from "./core/message.ts";
import type { Policy } from "./core/policy.ts";
import { resumeJob } from "./core/resume.ts";
import { type ContainerSummary, labels } from "./engines/ports.ts";
import type { Ports } from "./ports.ts";
import { type CloudHostRecord, hostLease, jobCarried } from "./store/port.ts";

/** Where the scheduler's work is shown: the same delivery that answers requests (slack/deliver.ts). */
export type SchedulerOutput = {
  /** Resolves once the job runs here (its lease taken) or could not start. */
  startJob(plan: JobPlan): Promise<void>;
  swept(result: SweepResult): Promise<void>;
  post(channel: string, text: Message, threadTs?: string | null): Promise<string>;
  /** A host's lifetime reminder, with a button that extends it by `extendBy`. */
  remind(channel: string, threadTs: string | null, text: Message, host: { name: string; extendBy: string }): Promise<string>;
};

export type SchedulerDeps = Pick<Ports, "store" | "jobs" | "hosts" | "engine" | "clock" | "log" | "cloud" | "pendingActions"> & {
  policy: () => Policy;
  output: SchedulerOutput;
  /** How long a resumed stream retries a lost engine connection (ms). */
  engineReconnectMs?: number | undefined;
  /** The pipeline's dependencies: a runbook's remaining steps are authorized and run through it when it is carried on. */
  core?: DispatchDeps | undefined;
};

export type SchedulerIntervals = {
  /** How often requests waiting too long expire and grants end (ms, default 15 s). */
  approvalsMs?: number | undefined;
  /** How often host lifetimes (reminders, expiry) are checked (ms, default 60 s); tests call sweepHosts() instead. */
  lifetimeMs?: number | undefined;
  /** How often containers past their run-time limit are looked for on every host (ms, default 30 s). */
  deadlineMs?: number | undefined;
};

/**
 * berth's own timers, in one place: approval expiry and grant ends (`sweep`), Azure host lifetimes (reminders, removal
 * once expired, work a restart interrupted) and container deadlines. Each sweep can also be run on demand (tests).
 */
export function createScheduler(deps: SchedulerDeps, intervals: SchedulerIntervals = {}) {
  const { store, log, clock, output } = deps;
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, run: () => Promise<void>, failed: string) => {
    const timer = setInterval(() => void run().catch((e: unknown) => log.error(failed, { err: e })), ms);
    timer.unref();
    timers.push(timer);
  };

  /** Expires overdue requests (editing their cards) and announces grants that ended. */
  async function sweepApprovals(): Promise<void> {
    await output.swept(await sweep(deps));
  }

  /** A job for a host berth made, started by berth itself (a resume after a restart, an expiry), not by a command. */
  async function hostJob(
    cloud: ProvisionDeps,
    record: CloudHostRecord,
    kind: "host.create" | "host.remove",
    reason: string,
    cardTs?: string,
  ): Promise<void> {
    const id = deps.jobs.newId();
    await store.cloudHosts.put({ ...record, jobId: id, ...(kind === "host.remove" && { status: "removing" as const }) });
    const action =
      kind === "host.create"
        ? {
            kind,
            name: record.name,
            os: record.os,
            size: record.size,
            region: record.region,
            hyperv: record.hyperv,
            private: record.private,
          }
        : { kind, name: record.name };
    void output.startJob({
      id,
      requestId: randomUUID(),
      action,
      host: record.name,
      summary: `${kind === "host.create" ? "host create" : "host rm"} ${record.name} (${reason})`,
      actor: { userId: record.requester, channelId: record.channelId },
      cardTs,
      stopLabel: kind === "host.create" ? "Cancel" : null,
      run: (signal) =>
        kind === "host.create" ? provisionHost(record.name, cloud, signal) : removeHost(record.name, [reason], cloud, signal),
    });
  }

  /** Jobs handed to startJob whose lease is not taken yet: the next scan must not hand them over again. */
  const starting = new Set<string>();

  /**
   * Jobs no berth carries go on in their cards and threads, from their cursors (core/resume.ts): at start, those a
   * previous berth left; then, every half lease, those of a replica that died (its leases ran out) or drained. Two
   * replicas may both see a job: the one that takes its lease carries it (runJob), the other lets it be.
   */
  async function takeOverJobs(first: boolean): Promise<void> {
    // An SQLite store has one berth, which takes back its own leases at once: no need to wait for them to run out.
    const orphans = first && store.kind === "sqlite" ? await store.jobs.running() : await store.jobs.unowned();
    for (const job of orphans) {
      if (deps.jobs.get(job.id) || starting.has(job.id)) continue;
      try {
        const resumed = resumeJob(job, deps);
        if (resumed.type === "close") {
          await store.jobs.finish(job.id, { status: "failed", exitCode: null, detail: resumed.detail });
          continue;
        }
        log.info("resuming job", { job: job.id, kind: job.kind, host: job.host, fromLine: job.cursor?.lines ?? 0 });
        starting.add(job.id);
        void output.startJob(resumed.plan).finally(() => starting.delete(job.id));
      } catch (error) {
        // Its host is gone from the manifest, say: the record is closed rather than left running for ever.
        log.error("could not resume a job", { job: job.id, err: error });
        await store.jobs.finish(job.id, {
          status: "failed",
          exitCode: null,
          detail: `berth restarted and could not carry this job on: ${(error as Error).message}`,
        });
      }
    }
  }

  /**
   * Host work no berth carries goes on, in the same thread: that of a previous berth, or of a replica whose job lease
   * ran out. One replica takes each (the `host:` lease), so no VM is made or removed twice.
   */
  async function resumeHostJobs(): Promise<void> {
    const { cloud } = deps;
    if (!cloud) return;
    for (const r of await store.cloudHosts.live()) {
      if (r.status !== "provisioning" && r.status !== "removing") continue;
      if (deps.jobs.get(r.jobId) || (await carried(r.jobId))) continue;
      // A job being started right now (its card posting, its lease not taken yet) holds the host's lease.
      if (!(await claimHost(r.name))) continue;
      if (r.status === "provisioning") await hostJob(cloud, r, "host.create", "resumed after a restart", r.threadTs ?? undefined);
      else await hostJob(cloud, r, "host.remove", "resumed after a restart");
    }
  }

  const carried = (jobId: string) => jobCarried(store, jobId, clock());

  /** Takes the host's lease for starting a job on it (see hostLease); false when another start holds it. */
  async function claimHost(name: string): Promise<boolean> {
    return (await store.leases.acquire(hostLease(name), `${deps.jobs.owner}/start`, deps.jobs.leaseTtlMs * 2)).ok;
  }

  /**
   * Work that must happen once, not once per replica (reminders, expiries, deadline reports): done by whichever
   * replica holds the sweep's lease, taken for two intervals so a live holder keeps it.
   */
  async function once(name: string, intervalMs: number): Promise<boolean> {
    return (await store.leases.acquire(`sweep:${name}`, deps.jobs.owner, intervalMs * 2)).ok;
  }

  /** Reminders before expiry (with an Extend button), and removal once expired. */
  async function sweepHosts(): Promise<void> {
    const { cloud } = deps;
    if (!cloud) return;
    if (!(await once("hosts", intervals.lifetimeMs ?? 60_000))) return;
    const policy = deps.policy();
    const due = lifetimeDue(await store.cloudHosts.live(), policy, clock());
    for (const r of due.expire) {
      if (!(await claimHost(r.name))) continue; // a command or a take-over is starting a job on it: the next sweep sees
      log.info("host expired", { host: r.name, expiresAt: r.expiresAt });
      await hostJob(cloud, r, "host.remove", "expired");
    }
    await Promise.allSettled(
      due.remind.map(async (r) => {
        await store.cloudHosts.put({ ...r, remindedAt: clock() });
        await output.remind(r.channelId, r.threadTs, hostReminder(r, clock()), { name: r.name, extendBy: policy.azure.defaultTtl });
      }),
    );
  }

  /** Says where a container was started, in its job's thread, that it ran out of time; and records it. */
  async function reportDeadline(host: string, container: ContainerSummary, deadline: number): Promise<void> {
    const job = await store.jobs.get(container.labels[labels.job] ?? "");
    const channel = container.labels[labels.channel];
    const at = new Date(deadline).toISOString();
    log.info("container stopped at its deadline", { host, container: container.id, job: job?.id, deadline: at });
    await auditDeadline(
      { store },
      {
        requestId: job?.id ?? randomUUID(),
        userId: container.labels[labels.user] ?? "berth",
        channelId: channel ?? "",
        host,
        container: container.name,
        at,
        messageTs: job?.messageTs ?? null,
      },
    );
    if (!channel) return;
    await output.post(channel, deadlineReached({ host, name: container.name, id: container.id, at }), job?.messageTs);
  }

  const sweepingDeadlines = new Set<string>();
  /** Stops berth's containers past their deadline (detached runs, runs whose job a restart ended), host by host. */
  async function sweepDeadlines(): Promise<void> {
    if (!(await once("deadlines", intervals.deadlineMs ?? 30_000))) return;
    await Promise.allSettled(
      deps.hosts.connections.map(async ({ name: host }) => {
        if (sweepingDeadlines.has(host)) return; // the previous sweep still waits for this host
        sweepingDeadlines.add(host);
        try {
          // A job running here stops its own container; one engine under two names is swept under the name it ran on.
          const notHere = (c: ContainerSummary) =>
            (c.labels[labels.host] ?? host) !== host || deps.jobs.get(c.labels[labels.job] ?? "") !== undefined;
          const swept = await stopOverdue(deps.engine(host), clock(), AbortSignal.timeout(60_000), notHere);
          for (const f of swept.failed)
            log.error("could not stop a container past its deadline", { host, container: f.container.id, err: f.error });
          for (const s of swept.stopped) {
            await reportDeadline(host, s.container, s.deadline).catch((e: unknown) =>
              log.error("could not report a container stopped at its deadline", { host, container: s.container.id, err: e }),
            );
          }
        } catch (error) {
          log.error("deadline sweep failed", { host, err: error });
        } finally {
          sweepingDeadlines.delete(host);
        }
      }),
    );
  }

  return {
    sweepApprovals,
    sweepHosts,
    sweepDeadlines,
    takeOverJobs,
    resumeHostJobs,
    /** Resumes unfinished jobs and interrupted host jobs, then starts the timers. */
    async start(): Promise<void> {
      await takeOverJobs(true);
      // Half a lease: a dead replica's jobs go on within 1.5 TTL of its last heartbeat.
      every(Math.max(500, Math.floor(deps.jobs.leaseTtlMs / 2)), () => takeOverJobs(false), "job take-over failed");
      every(intervals.approvalsMs ?? 15_000, sweepApprovals, "sweep failed");
      // Expired de-duplication keys and past rate windows: idempotent, so every replica may do it.
      every(60_000, async () => void (await store.sweep()), "store sweep failed");
      if (deps.cloud) {
        await resumeHostJobs();
        // Only replicas can die under a running berth: one berth on SQLite resumes host jobs at start alone.
        if (store.kind === "postgres") {
          const cloud = deps.cloud;
          every(
            Math.max(1000, deps.jobs.leaseTtlMs),
            async () => {
              // Hosts other replicas made or removed join or leave this one's list for -H.
              cloud.changed();
              await resumeHostJobs();
            },
            "host job take-over failed",
          );
        }
        every(intervals.lifetimeMs ?? 60_000, sweepHosts, "host lifetime sweep failed");
      }
      every(intervals.deadlineMs ?? 30_000, sweepDeadlines, "deadline sweep failed");
    },
    stop(): void {
      for (const t of timers.splice(0)) clearInterval(t);
    },
  };
}
