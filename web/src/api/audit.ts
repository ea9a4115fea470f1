// The audit view (GET /api/admin/audit): events with their filters and cursor.

import { apiRequest } from "./session";
import { badShape, isRecord } from "./http";

export interface AuditEvent {
  id: string;
  time: string;
  type: string;
  severity: "info" | "warning";
  success: boolean;
  actor: { kind: "user" | "client" | "system"; name?: string };
  source: { ip?: string | null; userAgent?: string | null; requestId?: string | null };
  /** The type-specific fields (camelCase), for display. */
  details: Record<string, unknown>;
}

export interface AuditQuery {
  from: string;
  to: string;
  type?: string;
  user?: string;
  client?: string;
  limit?: number;
  cursor?: string;
}

const AUDIT_COMMON = new Set(["id", "time", "type", "severity", "success", "actor", "source"]);

function parseAuditEvent(e: unknown): AuditEvent {
  if (!isRecord(e) || typeof e["id"] !== "string" || typeof e["type"] !== "string") {
    throw badShape("audit");
  }
  const actor = isRecord(e["actor"]) ? e["actor"] : {};
  const kind = actor["kind"];
  const source = isRecord(e["source"]) ? e["source"] : {};
  const text = (v: unknown): string | null => (typeof v === "string" ? v : null);
  const details: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (!AUDIT_COMMON.has(k)) details[k] = v;
  const event: AuditEvent = {
    id: e["id"],
    time: typeof e["time"] === "string" ? e["time"] : "",
    type: e["type"],
    severity: e["severity"] === "warning" ? "warning" : "info",
    success: e["success"] !== false,
    actor: { kind: kind === "user" || kind === "client" ? kind : "system" },
    source: { ip: text(source["ip"]), userAgent: text(source["userAgent"]), requestId: text(source["requestId"]) },
    details,
  };
  if (typeof actor["name"] === "string") event.actor.name = actor["name"];
  return event;
}

/** The query string of an audit search (empty filters are left out). */
export function auditQueryString(q: AuditQuery): string {
  const params = new URLSearchParams();
  params.set("from", q.from);
  params.set("to", q.to);
  for (const key of ["type", "user", "client", "cursor"] as const) {
    const v = q[key];
    if (v !== undefined && v !== "") params.set(key, v);
  }
  if (q.limit !== undefined) params.set("limit", String(q.limit));
  return params.toString();
}

/** `GET /api/admin/audit?...` → a page of events and the cursor of the next one. */
export async function searchAudit(q: AuditQuery): Promise<{ events: AuditEvent[]; nextCursor?: string }> {
  const body = await apiRequest("GET", `/admin/audit?${auditQueryString(q)}`);
  if (!isRecord(body) || !Array.isArray(body["events"])) throw badShape("audit");
  const events = body["events"].map(parseAuditEvent);
  const next = body["nextCursor"];
  return typeof next === "string" && next !== "" ? { events, nextCursor: next } : { events };
}
