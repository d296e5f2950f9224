/**
 * The PostgreSQL schema, as numbered migrations applied in order at open (postgres-store.ts holds an advisory lock
 * while it does, so replicas starting together migrate once). A migration is never edited once released: a change is
 * a new entry, and it only adds (columns, tables, indexes), so replicas still running the previous berth keep working
 * during a rolling deploy.
 */
export type Migration = { version: number; name: string; sql: string };

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "jobs, requests, grants, cloud hosts, secrets, audit chain, leases, dedupe keys, rate windows",
    sql: `
CREATE TABLE jobs (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL, channel_id TEXT NOT NULL, host TEXT,
  summary TEXT NOT NULL, status TEXT NOT NULL, created_at BIGINT NOT NULL, ended_at BIGINT, exit_code INTEGER,
  message_ts TEXT, detail TEXT, cursor_at TEXT, cursor_lines BIGINT, resume TEXT);
CREATE INDEX jobs_running ON jobs (created_at) WHERE status = 'running';
CREATE TABLE pending (
  id TEXT PRIMARY KEY, request_id TEXT NOT NULL, gate TEXT NOT NULL, requester TEXT NOT NULL, channel_id TEXT NOT NULL,
  channel_name TEXT, host TEXT, summary TEXT NOT NULL, action TEXT NOT NULL, rule TEXT NOT NULL, gate_rule TEXT NOT NULL,
  approvers TEXT NOT NULL, state TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, decided_by TEXT,
  decided_at BIGINT, message_ts TEXT);
CREATE INDEX pending_open ON pending (expires_at) WHERE state = 'pending';
CREATE TABLE grants (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, role TEXT NOT NULL, reason TEXT NOT NULL, channel_id TEXT NOT NULL,
  approved_by TEXT NOT NULL, starts_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, ended_announced INTEGER NOT NULL DEFAULT 0);
CREATE TABLE cloud_hosts (name TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- record is TEXT, not jsonb: the HMAC covers its exact bytes.
CREATE TABLE audit (
  seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, key_id TEXT);
CREATE FUNCTION berth_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit is append-only'; END $$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION berth_audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION berth_audit_append_only();
CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT, token BIGINT NOT NULL, expires_at BIGINT NOT NULL);
CREATE TABLE dedupe (key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
CREATE TABLE rate_windows (
  bucket TEXT NOT NULL, window_start BIGINT NOT NULL, window_ms BIGINT NOT NULL, used INTEGER NOT NULL,
  PRIMARY KEY (bucket, window_start));
`,
  },
  {
    version: 2,
    name: "who asked to stop a job, for the replica carrying it",
    sql: "ALTER TABLE jobs ADD COLUMN cancel_by TEXT;",
  },
  {
    version: 3,
    // rate_windows stays for the replicas of the previous berth during a rolling deploy (they share it, not this).
    name: "rate slots: the Slack budget as each lane's next free time",
    sql: "CREATE TABLE rate_slots (key TEXT PRIMARY KEY, next_at BIGINT NOT NULL);",
  },
];
