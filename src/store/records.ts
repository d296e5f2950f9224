/** The records berth keeps, as the store port reads and writes them (both adapters). */

/** A job as stored: attached runs, log streams and execs, from start to outcome. */
export type JobRecord = {
  id: string;
  kind: string;
  userId: string;
  channelId: string;
  host: string | null;
  summary: string;
  status: "running" | "succeeded" | "failed" | "cancelled";
  createdAt: number;
  endedAt: number | null;
  exitCode: number | null;
  messageTs: string | null;
  detail: string | null;
};

/**
 * How far a job's output has been handed on (to Slack or the spool): the Docker timestamp of the last whole line, as
 * Docker prints it (RFC 3339 with nanoseconds, kept as text), and how many lines (spool lines) so far. The same shape
 * as the store port's JobCursor.
 */
export type JobCursor = { at: string; lines: number };

/** A job with what a restarted berth needs to carry it on: its cursor and the resume details its runner wrote. */
export type ResumableJob = JobRecord & { cursor: JobCursor | null; resume: unknown };

/** A request waiting for its requester's confirmation or another person's approval. */
export type PendingRecord = {
  id: string;
  requestId: string;
  gate: "confirm" | "approval";
  requester: string;
  channelId: string;
  channelName: string | null;
  host: string | null;
  summary: string;
  /** The action with environment values masked; the real values live only in memory (see approvals.ts). */
  action: unknown;
  rule: string;
  gateRule: string;
  approvers: string[];
  state: "pending" | "approved" | "denied" | "expired" | "cancelled";
  createdAt: number;
  expiresAt: number;
  decidedBy: string | null;
  decidedAt: number | null;
  messageTs: string | null;
};

export type GrantRecord = {
  id: string;
  userId: string;
  role: string;
  reason: string;
  channelId: string;
  approvedBy: string;
  startsAt: number;
  expiresAt: number;
  endedAnnounced: boolean;
};

/** A Docker host berth made in Azure: what was asked, how far provisioning got (resumable), and how to reach it. */
export type CloudHostRecord = {
  name: string;
  os: "linux" | "windows";
  size: string;
  region: string;
  hyperv: boolean;
  private: boolean;
  requester: string;
  channelId: string;
  /** The job card whose thread tells this host's story (creation, reminders, removal). */
  threadTs: string | null;
  jobId: string;
  createdAt: number;
  expiresAt: number;
  remindedAt: number | null;
  status: "provisioning" | "ready" | "unreachable" | "removing" | "removed";
  /** Per resource: done, or the stored poller of the operation in flight. */
  steps: Record<string, { state: "running" | "done"; poller?: string | undefined; id?: string | undefined }>;
  removal: Record<string, { state: "running" | "done"; poller?: string | undefined }>;
  address: string | null;
  fqdn: string | null;
  dockerUrl: string | null;
  /** The bootstrap inputs that must be identical on a retry (customData cannot change); dropped once the VM exists. */
  bootstrap: {
    customData: string;
    setupCommand?: string | undefined;
    adminPassword?: string | undefined;
    sshPublicKey?: string | undefined;
  } | null;
  detail: string | null;
};
