// Typed calls to the admin routes (docs/ARCHITECTURE.md §3; shapes as shared/src/*.rs serialise
// them). Every call goes through apiRequest: bearer token, one refresh-and-retry, typed errors.
import {
  apiRequest,
  badShape,
  isRecord,
  isRole,
  parseClient,
  type AdminClient,
  type Role,
} from "./api";

const enc = encodeURIComponent;

// --- clients and values ------------------------------------------------------------------------

/** A client name as the server accepts it. */
export const CLIENT_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** The longest client description the server accepts. */
export const MAX_CLIENT_DESCRIPTION = 2000;

export interface NewClient {
  name: string;
  description?: string;
}

/**
 * `POST /api/admin/clients` (Administrator): an empty client with a new random client secret,
 * shown once. The service registers its definitions with that secret. 409 `CLIENT_EXISTS` or
 * `CLIENT_LIMIT_REACHED`; 400 `INVALID_BODY` for a bad name.
 */
export async function createClient(input: NewClient): Promise<{ name: string; clientSecret: string }> {
  const body = await apiRequest("POST", "/admin/clients", input);
  if (!isRecord(body) || typeof body["clientSecret"] !== "string" || body["clientSecret"] === "") {
    throw badShape("new client");
  }
  return { name: typeof body["name"] === "string" ? body["name"] : input.name, clientSecret: body["clientSecret"] };
}

/** The answer to a declassification. */
export interface Declassification {
  /** The client's version after the change. */
  version: number;
  /** How many values (base and instances) were deleted. */
  deletedValues: number;
  /** How many history entries were deleted. */
  deletedHistory: number;
}

/**
 * `POST /api/admin/clients/{name}/settings/{setting}/declassify` (Administrator, no body): the
 * secret setting becomes plain and its values (base and every instance) and history are deleted.
 * 409 `NOT_SECRET` or `CONFLICT`; 404 for an unknown client or setting.
 */
export async function declassifySetting(client: string, setting: string): Promise<Declassification> {
  const body = await apiRequest(
    "POST",
    `/admin/clients/${enc(client)}/settings/${enc(setting)}/declassify`,
  );
  const whole = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (!isRecord(body) || !whole(body["version"]) || !whole(body["deletedValues"]) || !whole(body["deletedHistory"])) {
    throw badShape("declassification");
  }
  return { version: body["version"], deletedValues: body["deletedValues"], deletedHistory: body["deletedHistory"] };
}

/** `GET /api/admin/clients/{name}`: one client, as in the list. */
export async function getClient(name: string): Promise<AdminClient> {
  const body = await apiRequest("GET", `/admin/clients/${enc(name)}`);
  return parseClient(isRecord(body) && isRecord(body["client"]) ? body["client"] : body);
}

export interface ValueChange {
  /** Why: kept in history and the audit trail. */
  changeMessage: string;
  values: Array<{ name: string; value: unknown }>;
  /** Set the values of this instance instead of the base client's. */
  instance?: string;
  /**
   * The client version the change was made from (optimistic concurrency): if the client changed
   * since, the server refuses with 409 `STALE_VERSION` and writes nothing.
   */
  version?: number;
}

/**
 * `PUT /api/admin/clients/{name}/settings`: all or nothing; answers the client's new version
 * (left out if the answer has none, so that a caller never sends a made-up one).
 */
export async function updateValues(client: string, change: ValueChange): Promise<{ version?: number }> {
  const body = await apiRequest("PUT", `/admin/clients/${enc(client)}/settings`, change);
  const version = isRecord(body) ? body["version"] : undefined;
  return typeof version === "number" && Number.isSafeInteger(version) && version >= 0 ? { version } : {};
}

/** One change of a setting. Secret settings have no `oldValue`/`newValue`. */
export interface HistoryEntry {
  time: string;
  user: string;
  message: string;
  version: number;
  oldValue?: unknown;
  newValue?: unknown;
}

/** `GET /api/admin/clients/{name}/settings/{setting}/history`: newest first. */
export async function settingHistory(client: string, setting: string): Promise<HistoryEntry[]> {
  const body = await apiRequest(
    "GET",
    `/admin/clients/${enc(client)}/settings/${enc(setting)}/history`,
  );
  if (!isRecord(body) || !Array.isArray(body["history"])) throw badShape("history");
  return body["history"].map((h: unknown): HistoryEntry => {
    if (!isRecord(h)) throw badShape("history");
    const entry: HistoryEntry = {
      time: typeof h["time"] === "string" ? h["time"] : "",
      user: typeof h["user"] === "string" ? h["user"] : "",
      message: typeof h["message"] === "string" ? h["message"] : "",
      version: typeof h["version"] === "number" ? h["version"] : 0,
    };
    if ("oldValue" in h) entry.oldValue = h["oldValue"];
    if ("newValue" in h) entry.newValue = h["newValue"];
    return entry;
  });
}

/** `POST /api/admin/clients/{name}/instances` (Administrator): a copy of the base values. */
export async function createInstance(client: string, instance: string): Promise<void> {
  await apiRequest("POST", `/admin/clients/${enc(client)}/instances`, { instance });
}

/** `DELETE /api/admin/clients/{name}/instances/{instance}` (Administrator). */
export async function deleteInstance(client: string, instance: string): Promise<void> {
  await apiRequest("DELETE", `/admin/clients/${enc(client)}/instances/${enc(instance)}`);
}

/** `POST /api/admin/clients/{name}/secret` (Administrator): the new secret, shown once. */
export async function rotateClientSecret(
  client: string,
  graceMinutes: number,
): Promise<{ clientSecret: string; previousSecretValidUntil?: string }> {
  const body = await apiRequest("POST", `/admin/clients/${enc(client)}/secret`, { graceMinutes });
  if (!isRecord(body) || typeof body["clientSecret"] !== "string" || body["clientSecret"] === "") {
    throw badShape("rotation");
  }
  const until = body["previousSecretValidUntil"];
  return typeof until === "string"
    ? { clientSecret: body["clientSecret"], previousSecretValidUntil: until }
    : { clientSecret: body["clientSecret"] };
}

/** The answer to a data-key rotation. */
export interface DataKeyRotation {
  /** The new data key's version (2 after the first rotation). */
  dataKeyVersion: number;
  /** How many values (base and instances) were sealed again under it. */
  resealedValues: number;
}

/**
 * `POST /api/admin/clients/{name}/data-key` (Administrator, no body): the client's definitions
 * and values sealed again under a new KMS data key. The client's version goes up (services see a
 * new version with the same values). 409 `CONFLICT` if the client changed at the same time,
 * 409 `CLIENT_TOO_LARGE` if it has too many values for one step.
 */
export async function rotateDataKey(client: string): Promise<DataKeyRotation> {
  const body = await apiRequest("POST", `/admin/clients/${enc(client)}/data-key`);
  const whole = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (!isRecord(body) || !whole(body["dataKeyVersion"]) || !whole(body["resealedValues"])) {
    throw badShape("data key rotation");
  }
  return { dataKeyVersion: body["dataKeyVersion"], resealedValues: body["resealedValues"] };
}

/** `DELETE /api/admin/clients/{name}` (Administrator) → 204. */
export async function deleteClient(client: string): Promise<void> {
  await apiRequest("DELETE", `/admin/clients/${enc(client)}`);
}

// --- audit -------------------------------------------------------------------------------------

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

// --- users -------------------------------------------------------------------------------------

export interface UserView {
  username: string;
  role: Role;
  clientFilter: string | null;
  classifications: string[] | null;
  enabled: boolean;
  mfaEnabled: boolean;
  passwordChangeRequired: boolean;
  created: string;
  updated: string;
}

function parseUser(u: unknown): UserView {
  if (!isRecord(u) || typeof u["username"] !== "string" || !isRole(u["role"])) {
    throw badShape("user");
  }
  const cls = u["classifications"];
  return {
    username: u["username"],
    role: u["role"],
    clientFilter: typeof u["clientFilter"] === "string" ? u["clientFilter"] : null,
    classifications:
      Array.isArray(cls) && cls.every((c: unknown) => typeof c === "string") ? (cls as string[]) : null,
    enabled: u["enabled"] !== false,
    mfaEnabled: u["mfaEnabled"] === true,
    passwordChangeRequired: u["passwordChangeRequired"] === true,
    created: typeof u["created"] === "string" ? u["created"] : "",
    updated: typeof u["updated"] === "string" ? u["updated"] : "",
  };
}

/** `GET /api/admin/users` (Administrator). */
export async function listUsers(): Promise<UserView[]> {
  const body = await apiRequest("GET", "/admin/users");
  if (!isRecord(body) || !Array.isArray(body["users"])) throw badShape("users");
  return body["users"].map(parseUser);
}

/**
 * The classification of a setting that has none, for user permissions: a User limited to a list
 * may edit such settings only when the list names it.
 */
export const UNCLASSIFIED = "Unclassified";

export interface NewUser {
  username: string;
  password: string;
  role: Role;
  clientFilter?: string;
  /**
   * Classifications the user may edit: absent means every classification; a list allows exactly
   * those it names, so `[]` allows no edit at all. List `Unclassified` for settings without one.
   */
  classifications?: string[];
}

/** `POST /api/admin/users` → 201 with the user; the password must be changed at first login. */
export async function createUser(user: NewUser): Promise<UserView> {
  return parseUser(await apiRequest("POST", "/admin/users", user));
}

/**
 * Only the fields to change. `clientFilter: ""` removes the filter. `classifications`: absent
 * leaves them as they are, `null` allows every classification, a list exactly those (`[]` no
 * edit at all).
 */
export interface UserUpdate {
  role?: Role;
  clientFilter?: string;
  classifications?: string[] | null;
  enabled?: boolean;
}

/** `PUT /api/admin/users/{username}`. */
export async function updateUser(username: string, update: UserUpdate): Promise<UserView> {
  return parseUser(await apiRequest("PUT", `/admin/users/${enc(username)}`, update));
}

/** `DELETE /api/admin/users/{username}` → 204. */
export async function deleteUser(username: string): Promise<void> {
  await apiRequest("DELETE", `/admin/users/${enc(username)}`);
}

/** `POST /api/admin/users/{username}/password-reset` → the one-time password, shown once. */
export async function resetPassword(username: string): Promise<string> {
  const body = await apiRequest("POST", `/admin/users/${enc(username)}/password-reset`);
  if (!isRecord(body) || typeof body["password"] !== "string" || body["password"] === "") {
    throw badShape("password reset");
  }
  return body["password"];
}

/** `DELETE /api/admin/users/{username}/sessions` → how many sessions were ended. */
export async function endSessions(username: string): Promise<number> {
  const body = await apiRequest("DELETE", `/admin/users/${enc(username)}/sessions`);
  return isRecord(body) && typeof body["terminated"] === "number" ? body["terminated"] : 0;
}

// --- webhooks ----------------------------------------------------------------------------------

export const WEBHOOK_TYPES = [
  "SettingValueChanged",
  "NewClientRegistration",
  "UpdatedClientRegistration",
  "ClientStatusChanged",
  "SecurityEvent",
] as const;

export interface Webhook {
  id: string;
  url: string;
  types: string[];
  clientPattern?: string;
  settingPattern?: string;
  createdAt: string;
  lastDelivery?: { time: string; ok: boolean; status?: number; error?: string };
  deadLetters: number;
}

export interface WebhookInput {
  url: string;
  types: string[];
  clientPattern?: string;
  settingPattern?: string;
}

function parseWebhook(w: unknown): Webhook {
  if (!isRecord(w) || typeof w["id"] !== "string" || typeof w["url"] !== "string") {
    throw badShape("webhook");
  }
  const types = w["types"];
  const hook: Webhook = {
    id: w["id"],
    url: w["url"],
    types: Array.isArray(types) ? types.filter((t: unknown): t is string => typeof t === "string") : [],
    createdAt: typeof w["createdAt"] === "string" ? w["createdAt"] : "",
    deadLetters: typeof w["deadLetters"] === "number" ? w["deadLetters"] : 0,
  };
  if (typeof w["clientPattern"] === "string") hook.clientPattern = w["clientPattern"];
  if (typeof w["settingPattern"] === "string") hook.settingPattern = w["settingPattern"];
  const last = w["lastDelivery"];
  if (isRecord(last) && typeof last["time"] === "string") {
    hook.lastDelivery = { time: last["time"], ok: last["ok"] === true };
    if (typeof last["status"] === "number") hook.lastDelivery.status = last["status"];
    if (typeof last["error"] === "string") hook.lastDelivery.error = last["error"];
  }
  return hook;
}

/** `GET /api/admin/webhooks` (Administrator). */
export async function listWebhooks(): Promise<Webhook[]> {
  const body = await apiRequest("GET", "/admin/webhooks");
  if (!isRecord(body) || !Array.isArray(body["webhooks"])) throw badShape("webhooks");
  return body["webhooks"].map(parseWebhook);
}

/** `POST /api/admin/webhooks` → 201 `{id, signingSecret, ...}`; the signing secret is shown once. */
export async function createWebhook(input: WebhookInput): Promise<{ id: string; signingSecret: string }> {
  const body = await apiRequest("POST", "/admin/webhooks", input);
  if (
    !isRecord(body) ||
    typeof body["id"] !== "string" ||
    typeof body["signingSecret"] !== "string" ||
    body["signingSecret"] === ""
  ) {
    throw badShape("webhook");
  }
  return { id: body["id"], signingSecret: body["signingSecret"] };
}

/**
 * `PUT /api/admin/webhooks/{id}`. A URL on another host is another receiver: the answer then
 * carries a new signing secret, shown once.
 */
export async function updateWebhook(
  id: string,
  input: WebhookInput,
): Promise<{ webhook: Webhook; signingSecret?: string }> {
  const body = await apiRequest("PUT", `/admin/webhooks/${enc(id)}`, input);
  const webhook = parseWebhook(body);
  const secret = isRecord(body) ? body["signingSecret"] : undefined;
  if (secret === undefined) return { webhook };
  if (typeof secret !== "string" || secret === "") throw badShape("webhook");
  return { webhook, signingSecret: secret };
}

/** `POST /api/admin/webhooks/{id}/secret`: a new signing secret, shown once; the old one is retired. */
export async function rotateWebhookSecret(id: string): Promise<{ signingSecret: string }> {
  const body = await apiRequest("POST", `/admin/webhooks/${enc(id)}/secret`);
  if (!isRecord(body) || typeof body["signingSecret"] !== "string" || body["signingSecret"] === "") {
    throw badShape("webhook");
  }
  return { signingSecret: body["signingSecret"] };
}

/** `DELETE /api/admin/webhooks/{id}` → 204. */
export async function deleteWebhook(id: string): Promise<void> {
  await apiRequest("DELETE", `/admin/webhooks/${enc(id)}`);
}

export interface WebhookTestResult {
  delivered: boolean;
  status?: number;
  error?: string;
}

/** `POST /api/admin/webhooks/{id}/test`: one test delivery, now. */
export async function testWebhook(id: string): Promise<WebhookTestResult> {
  const body = await apiRequest("POST", `/admin/webhooks/${enc(id)}/test`);
  if (!isRecord(body) || typeof body["delivered"] !== "boolean") throw badShape("webhook test");
  const result: WebhookTestResult = { delivered: body["delivered"] };
  if (typeof body["status"] === "number") result.status = body["status"];
  if (typeof body["error"] === "string") result.error = body["error"];
  return result;
}

export interface DeadLetter {
  eventId: string;
  type: string;
  time: string;
  attempts: number;
  lastError: string;
}

/** `GET /api/admin/webhooks/{id}/dead-letters`. */
export async function webhookDeadLetters(id: string): Promise<DeadLetter[]> {
  const body = await apiRequest("GET", `/admin/webhooks/${enc(id)}/dead-letters`);
  if (!isRecord(body) || !Array.isArray(body["deadLetters"])) throw badShape("dead letters");
  return body["deadLetters"].map((d: unknown): DeadLetter => {
    if (!isRecord(d)) throw badShape("dead letters");
    return {
      eventId: typeof d["eventId"] === "string" ? d["eventId"] : "",
      type: typeof d["type"] === "string" ? d["type"] : "",
      time: typeof d["time"] === "string" ? d["time"] : "",
      attempts: typeof d["attempts"] === "number" ? d["attempts"] : 0,
      lastError: typeof d["lastError"] === "string" ? d["lastError"] : "",
    };
  });
}

// --- server configuration ----------------------------------------------------------------------

export interface ServerConfig {
  allowNewRegistrations: boolean;
  allowUpdatedRegistrations: boolean;
  allowClientOverrides: boolean;
  clientOverridesAllowList: string[];
  allowFileImports: boolean;
  allowOfflineSettings: boolean;
  requireMfaForAdministrators: boolean;
  webhookAllowedHosts: string[];
  pollIntervalMs: number;
  /** Most clients this server holds (1 to 100000). */
  maxClients: number;
  /**
   * Fields of the server's answer this page does not know, sent back as they came: a write
   * replaces the whole configuration, and a field left out would fall back to its default.
   */
  otherFields?: Record<string, unknown>;
}

/** The built-in default of `maxClients` (used when an answer has none). */
export const DEFAULT_MAX_CLIENTS = 1000;

const CONFIG_FIELDS = new Set([
  "allowNewRegistrations",
  "allowUpdatedRegistrations",
  "allowClientOverrides",
  "clientOverridesAllowList",
  "allowFileImports",
  "allowOfflineSettings",
  "requireMfaForAdministrators",
  "webhookAllowedHosts",
  "pollIntervalMs",
  "maxClients",
]);

export const CONFIG_SWITCHES = [
  ["allowNewRegistrations", "Allow new client registrations"],
  ["allowUpdatedRegistrations", "Allow registered clients to change their definitions"],
  ["allowClientOverrides", "Allow client overrides (values from a client's environment)"],
  ["allowFileImports", "Allow file imports"],
  ["allowOfflineSettings", "Allow clients to keep an encrypted offline copy"],
  ["requireMfaForAdministrators", "Require two-factor authentication for Administrators"],
] as const;

function parseConfig(body: unknown): ServerConfig {
  if (!isRecord(body) || typeof body["pollIntervalMs"] !== "number") throw badShape("configuration");
  const list = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x: unknown): x is string => typeof x === "string") : [];
  const maxClients = body["maxClients"];
  const otherFields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!CONFIG_FIELDS.has(k)) otherFields[k] = v;
  const config: ServerConfig = {
    allowNewRegistrations: body["allowNewRegistrations"] === true,
    allowUpdatedRegistrations: body["allowUpdatedRegistrations"] === true,
    allowClientOverrides: body["allowClientOverrides"] === true,
    clientOverridesAllowList: list(body["clientOverridesAllowList"]),
    allowFileImports: body["allowFileImports"] === true,
    allowOfflineSettings: body["allowOfflineSettings"] === true,
    requireMfaForAdministrators: body["requireMfaForAdministrators"] === true,
    webhookAllowedHosts: list(body["webhookAllowedHosts"]),
    pollIntervalMs: body["pollIntervalMs"],
    maxClients:
      typeof maxClients === "number" && Number.isSafeInteger(maxClients) ? maxClients : DEFAULT_MAX_CLIENTS,
  };
  if (Object.keys(otherFields).length > 0) config.otherFields = otherFields;
  return config;
}

/** The body of a configuration write: every known field, and the unknown ones as they came. */
export function configurationBody(config: ServerConfig): Record<string, unknown> {
  const { otherFields, ...known } = config;
  return { ...(otherFields ?? {}), ...known };
}

/** `GET /api/admin/configuration` (any role). */
export async function getConfiguration(): Promise<ServerConfig> {
  return parseConfig(await apiRequest("GET", "/admin/configuration"));
}

/** `PUT /api/admin/configuration` (Administrator): the whole configuration. */
export async function putConfiguration(config: ServerConfig): Promise<ServerConfig> {
  return parseConfig(await apiRequest("PUT", "/admin/configuration", configurationBody(config)));
}

// --- import / export ---------------------------------------------------------------------------

/**
 * `GET /api/admin/export` (no secrets), or `POST /api/admin/export {passphrase}` (secret values
 * sealed with the passphrase). The document is passed through as it came.
 */
export async function exportDocument(passphrase?: string): Promise<unknown> {
  const body =
    passphrase === undefined
      ? await apiRequest("GET", "/admin/export")
      : await apiRequest("POST", "/admin/export", { passphrase });
  if (!isRecord(body)) throw badShape("export");
  return body;
}

export type ImportMode = "addNewClients" | "replaceClients" | "valuesOnly";

/** `POST /api/admin/import` → how many clients and values were imported. */
export async function importDocument(
  mode: ImportMode,
  document: unknown,
  passphrase?: string,
): Promise<{ clients: number; values: number }> {
  const request: Record<string, unknown> = { mode, document };
  if (passphrase !== undefined && passphrase !== "") request["passphrase"] = passphrase;
  const body = await apiRequest("POST", "/admin/import", request);
  if (!isRecord(body)) throw badShape("import");
  return {
    clients: typeof body["clients"] === "number" ? body["clients"] : 0,
    values: typeof body["values"] === "number" ? body["values"] : 0,
  };
}
