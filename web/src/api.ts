// Typed calls to the Fig HTTP API (DESIGN.md section 3).
//
// The access token lives only in this module's memory: never in web storage or in a
// cookie readable by script. Reloading the page forgets it.

export interface LoginResponse {
  accessToken: string;
  /** Lifetime of the access token, in seconds. */
  expiresIn: number;
  passwordChangeRequired: boolean;
}

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
}

export interface AdminClient {
  name: string;
  description: string;
  version: number | string;
  settings: AdminSetting[];
}

export interface ClientsResponse {
  clients: AdminClient[];
}

/** An error answered by the API (`{"error": {code, message, requestId}}`) or a transport failure. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly requestId: string | undefined;

  constructor(status: number, code: string, message: string, requestId?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

const API_BASE = "/api";

let accessToken: string | null = null;

export function getAccessToken(): string | null {
  return accessToken;
}

export function setAccessToken(token: string | null): void {
  accessToken = token;
}

/** Forget the access token (sign out on this page). */
export function clearAccessToken(): void {
  accessToken = null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

async function parseError(res: Response): Promise<ApiError> {
  let body: unknown = undefined;
  try {
    body = await res.json();
  } catch {
    // not JSON: fall through to a generic error
  }
  if (isRecord(body) && isRecord(body["error"])) {
    const e = body["error"];
    const code = typeof e["code"] === "string" ? e["code"] : "error";
    const message =
      typeof e["message"] === "string" && e["message"] !== ""
        ? e["message"]
        : `Request failed (HTTP ${res.status}).`;
    const requestId = typeof e["requestId"] === "string" ? e["requestId"] : undefined;
    return new ApiError(res.status, code, message, requestId);
  }
  return new ApiError(res.status, "http_error", `Request failed (HTTP ${res.status}).`);
}

interface RequestOptions {
  method: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;
  /** Send `Authorization: Bearer <token>` (throws if there is no token). */
  auth: boolean;
}

/** Perform a request; resolves to the parsed JSON body, or `undefined` for 204 No Content. */
async function request(path: string, opts: RequestOptions): Promise<unknown> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json; charset=utf-8";
  }
  if (opts.auth) {
    if (accessToken === null) {
      throw new ApiError(401, "not_signed_in", "You are not signed in.");
    }
    headers["Authorization"] = `Bearer ${accessToken}`;
  }
  const init: RequestInit = {
    method: opts.method,
    headers,
    credentials: "same-origin",
    cache: "no-store",
  };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
  }

  let res: Response;
  try {
    res = await fetch(`${API_BASE}${path}`, init);
  } catch {
    throw new ApiError(0, "network_error", "Could not reach the server. Check your connection.");
  }
  if (!res.ok) {
    throw await parseError(res);
  }
  if (res.status === 204) {
    return undefined;
  }
  try {
    return (await res.json()) as unknown;
  } catch {
    throw new ApiError(res.status, "bad_response", "The server sent an unreadable response.");
  }
}

function badShape(what: string): ApiError {
  return new ApiError(200, "bad_response", `The server sent an unexpected ${what} response.`);
}

function parseLogin(body: unknown): LoginResponse {
  if (
    !isRecord(body) ||
    typeof body["accessToken"] !== "string" ||
    body["accessToken"] === "" ||
    typeof body["expiresIn"] !== "number" ||
    typeof body["passwordChangeRequired"] !== "boolean"
  ) {
    throw badShape("login");
  }
  return {
    accessToken: body["accessToken"],
    expiresIn: body["expiresIn"],
    passwordChangeRequired: body["passwordChangeRequired"],
  };
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
    const lc = s["lastChanged"];
    if (typeof lc === "string") setting.lastChanged = lc;
  } else {
    if ("value" in s) setting.value = s["value"];
    const lc = s["lastChanged"];
    if (typeof lc === "string") setting.lastChanged = lc;
  }
  return setting;
}

function parseClients(body: unknown): ClientsResponse {
  if (!isRecord(body) || !Array.isArray(body["clients"])) {
    throw badShape("clients");
  }
  const clients = body["clients"].map((c: unknown): AdminClient => {
    if (!isRecord(c) || typeof c["name"] !== "string") {
      throw badShape("clients");
    }
    const version = c["version"];
    return {
      name: c["name"],
      description: typeof c["description"] === "string" ? c["description"] : "",
      version: typeof version === "number" || typeof version === "string" ? version : "",
      settings: Array.isArray(c["settings"]) ? c["settings"].map(parseSetting) : [],
    };
  });
  return { clients };
}

/** `POST /api/auth/login`. On success the access token is kept in memory. */
export async function login(username: string, password: string): Promise<LoginResponse> {
  const body = await request("/auth/login", {
    method: "POST",
    auth: false,
    body: { username, password },
  });
  const parsed = parseLogin(body);
  accessToken = parsed.accessToken;
  return parsed;
}

/** `POST /api/auth/password` (204). Allowed while a password change is required. */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await request("/auth/password", {
    method: "POST",
    auth: true,
    body: { currentPassword, newPassword },
  });
}

/** `GET /api/admin/clients`. */
export async function listClients(): Promise<ClientsResponse> {
  const body = await request("/admin/clients", { method: "GET", auth: true });
  return parseClients(body);
}

/**
 * Sign out: forget the access token at once, then ask the server to revoke the refresh cookie
 * (best effort; a failure there does not keep the user signed in on this page).
 */
export async function logout(): Promise<void> {
  accessToken = null;
  try {
    await request("/auth/logout", { method: "POST", auth: false });
  } catch {
    // ignored: the token is already forgotten
  }
}
