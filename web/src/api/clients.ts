// Setting clients as admins see them: the list, one client, values, history, instances,
// secrets and data keys (shapes as shared/src/admin.rs and shared/src/clients.rs serialise them).
// Secret settings carry isSet/lastChanged, never a value.

import { apiRequest } from "./session";
import { badShape, enc, isRecord, num, str } from "./http";

export type SettingType = string;

/** A setting as the admin API returns it. Secret settings carry `isSet`/`lastChanged`, never `value`. */
export interface AdminSetting {
  name: string;
  type: SettingType;
  description: string;
  secret: boolean;
  value?: unknown;
  isSet?: boolean;
  lastChanged?: string | null;
  lastChangedBy?: string;
  defaultValue?: unknown;
  group?: string;
  category?: string;
  classification?: string;
  validationRegex?: string;
  validationExplanation?: string;
  validValues?: string[];
  minimum?: number;
  maximum?: number;
  /** Folded away by default. */
  advanced?: boolean;
  displayOrder?: number;
  /** Set by the client from its environment (a client override). */
  externallyManaged?: boolean;
  supportsLiveUpdate?: boolean;
}

export interface AdminClient {
  name: string;
  description: string;
  version: number | string;
  settings: AdminSetting[];
  /** Names of the client's instances. */
  instances?: string[];
}

export interface ClientsResponse {
  clients: AdminClient[];
}

function parseSetting(s: unknown): AdminSetting {
  if (!isRecord(s) || typeof s["name"] !== "string") {
    throw badShape("clients");
  }
  const secret = s["secret"] === true;
  const setting: AdminSetting = {
    name: s["name"],
    type: typeof s["type"] === "string" ? s["type"] : "",
    description: typeof s["description"] === "string" ? s["description"] : "",
    secret,
  };
  if (secret) {
    // Defence in depth: a secret's value is never kept client-side, even if a server sent one.
    setting.isSet = s["isSet"] === true;
  } else {
    if ("value" in s) setting.value = s["value"];
    if ("defaultValue" in s) setting.defaultValue = s["defaultValue"];
  }
  const lc = str(s["lastChanged"]);
  if (lc !== undefined) setting.lastChanged = lc;
  const texts = [
    "lastChangedBy",
    "group",
    "category",
    "classification",
    "validationRegex",
    "validationExplanation",
  ] as const;
  for (const key of texts) {
    const v = str(s[key]);
    if (v !== undefined) setting[key] = v;
  }
  for (const key of ["minimum", "maximum", "displayOrder"] as const) {
    const v = num(s[key]);
    if (v !== undefined) setting[key] = v;
  }
  const valid = s["validValues"];
  if (Array.isArray(valid) && valid.every((v: unknown) => typeof v === "string")) {
    setting.validValues = valid as string[];
  }
  if (s["advanced"] === true) setting.advanced = true;
  if (s["externallyManaged"] === true) setting.externallyManaged = true;
  if (s["supportsLiveUpdate"] === true) setting.supportsLiveUpdate = true;
  return setting;
}

export function parseClient(c: unknown): AdminClient {
  if (!isRecord(c) || typeof c["name"] !== "string") {
    throw badShape("clients");
  }
  const version = c["version"];
  const client: AdminClient = {
    name: c["name"],
    description: typeof c["description"] === "string" ? c["description"] : "",
    version: typeof version === "number" || typeof version === "string" ? version : "",
    settings: Array.isArray(c["settings"]) ? c["settings"].map(parseSetting) : [],
  };
  const instances = c["instances"];
  if (Array.isArray(instances)) {
    client.instances = instances.filter((i: unknown): i is string => typeof i === "string");
  }
  return client;
}

function parseClients(body: unknown): ClientsResponse {
  if (!isRecord(body) || !Array.isArray(body["clients"])) {
    throw badShape("clients");
  }
  return { clients: body["clients"].map(parseClient) };
}

/** `GET /api/admin/clients`. */
export async function listClients(): Promise<ClientsResponse> {
  const body = await apiRequest("GET", "/admin/clients");
  return parseClients(body);
}

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
