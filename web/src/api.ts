// Typed calls to the Fig HTTP API (docs/ARCHITECTURE.md §3; docs/openapi.json).
//
// Session model:
// - The access token lives only in this module's memory: never in web storage or in a cookie
//   readable by script. The refresh token is an HttpOnly cookie scoped to /api/auth that the
//   server sets and rotates; this page never sees it.
// - A silent refresh runs shortly before the access token expires. An API call answered with
//   401 UNAUTHENTICATED triggers one refresh and one retry; if the refresh fails, the session
//   has ended and the handler registered with setSessionEndedHandler is told.
// - Refresh tokens rotate on every use and a reused one revokes the whole session, so only one
//   refresh is ever in flight: concurrent callers share it.

export interface LoginResponse {
  accessToken: string;
  /** Lifetime of the access token, in seconds. */
  expiresIn: number;
  /** Until the password is changed, the token is good for POST /api/auth/password only. */
  passwordChangeRequired: boolean;
  /** Until TOTP is set up, the token is good for MFA enrolment (and the password route) only. */
  mfaEnrollmentRequired: boolean;
}

/** The second factor sent with a repeated login after `MFA_REQUIRED`. */
export type SecondFactor = { totp: string } | { recoveryCode: string };

/** `POST /api/auth/mfa/enroll`: the new TOTP secret (base32) and its `otpauth://` URI. */
export interface MfaEnrollment {
  secret: string;
  otpauthUri: string;
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

export type Role = "Administrator" | "User" | "ReadOnly";

/** `GET /api/auth/me`: the signed-in user (never a hash or an MFA secret). */
export interface Me {
  username: string;
  role: Role;
  clientFilter?: string | null;
  classifications?: string[] | null;
  enabled: boolean;
  mfaEnabled: boolean;
  passwordChangeRequired: boolean;
}

/** An error answered by the API (`{"error": {code, message, requestId}}`) or a transport failure. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly requestId: string | undefined;
  /** Seconds to wait, from a 429's `Retry-After` header. */
  readonly retryAfter: number | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    requestId?: string,
    retryAfter?: number,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

export const SESSION_ENDED_CODE = "SESSION_ENDED";

/**
 * The access token was refused and no new one could be had: the user must sign in again.
 * By the time this is thrown the session-ended handler has already been told, so a view that
 * catches it has nothing more to do.
 */
export class SessionEndedError extends ApiError {
  constructor() {
    super(401, SESSION_ENDED_CODE, "Your session has ended. Please sign in again.");
    this.name = "SessionEndedError";
  }
}

export function isSessionEnded(err: unknown): err is SessionEndedError {
  return err instanceof SessionEndedError;
}

const API_BASE = "/api";

/** Seconds before expiry at which the silent refresh runs (at most a quarter of the lifetime). */
const REFRESH_LEAD_SECONDS = 60;
/** Wait before retrying a silent refresh that failed for a reason other than a refusal. */
const REFRESH_RETRY_MS = 30_000;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2_147_483_647;

let accessToken: string | null = null;
/** When the current access token expires (ms since the epoch), if known. */
let tokenExpiresAt: number | null = null;
/**
 * Bumped whenever a session starts (login) or ends (sign-out, expiry): a refresh answer that
 * arrives for an older generation is dropped instead of reviving a session.
 */
let generation = 0;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let inflightRefresh: Promise<LoginResponse> | null = null;
let sessionEndedHandler: (() => void) | null = null;

export function getAccessToken(): string | null {
  return accessToken;
}

/** Set the access token directly (no refresh is scheduled). */
export function setAccessToken(token: string | null): void {
  accessToken = token;
}

function cancelRefreshTimer(): void {
  if (refreshTimer !== undefined) {
    clearTimeout(refreshTimer);
    refreshTimer = undefined;
  }
}

/** Forget the access token and stop refreshing it (sign out on this page). */
export function clearAccessToken(): void {
  generation += 1;
  accessToken = null;
  tokenExpiresAt = null;
  inflightRefresh = null;
  cancelRefreshTimer();
}

/** Called once when a session ends on its own (refresh refused); not on an explicit sign-out. */
export function setSessionEndedHandler(handler: (() => void) | null): void {
  sessionEndedHandler = handler;
}

function endSession(gen: number): void {
  if (gen !== generation) return; // already ended, or a new session has started since
  clearAccessToken();
  sessionEndedHandler?.();
}

/** When to refresh a token that lives `expiresIn` seconds: shortly before it expires. */
export function refreshDelayMs(expiresIn: number): number | null {
  if (!Number.isFinite(expiresIn) || expiresIn <= 0) return null;
  const lead = Math.min(REFRESH_LEAD_SECONDS, expiresIn / 4);
  return Math.min(Math.max(1, expiresIn - lead) * 1000, MAX_TIMER_MS);
}

function scheduleRefresh(delayMs: number, gen: number): void {
  cancelRefreshTimer();
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    void silentRefresh(gen);
  }, delayMs);
}

async function silentRefresh(gen: number): Promise<void> {
  try {
    await refreshSession();
  } catch (err: unknown) {
    if (gen !== generation) return;
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      endSession(gen);
    } else if (tokenExpiresAt !== null && Date.now() + REFRESH_RETRY_MS < tokenExpiresAt) {
      // Offline or a server hiccup: the token is still good, so try again a little later.
      scheduleRefresh(REFRESH_RETRY_MS, gen);
    }
    // Otherwise leave it: the next API call gets a 401 and tries once more.
  }
}

/** Keep a fresh token (if it belongs to the current session) and schedule its refresh. */
function adopt(parsed: LoginResponse, gen: number): boolean {
  if (gen !== generation) return false;
  accessToken = parsed.accessToken;
  tokenExpiresAt = Date.now() + parsed.expiresIn * 1000;
  const delay = refreshDelayMs(parsed.expiresIn);
  if (delay === null) cancelRefreshTimer();
  else scheduleRefresh(delay, gen);
  return true;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `Retry-After` as seconds: either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.max(1, Number.parseInt(v, 10));
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(1, Math.ceil((at - now) / 1000));
}

async function parseError(res: Response): Promise<ApiError> {
  const retryAfter = res.status === 429 ? parseRetryAfter(res.headers.get("Retry-After")) : undefined;
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
    return new ApiError(res.status, code, message, requestId, retryAfter);
  }
  return new ApiError(
    res.status,
    "http_error",
    `Request failed (HTTP ${res.status}).`,
    undefined,
    retryAfter,
  );
}

interface RequestOptions {
  method: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;
  /**
   * Send `Authorization: Bearer <token>` (throws if there is no token). A 401 UNAUTHENTICATED
   * answer then gets one refresh and one retry.
   */
  auth: boolean;
}

/** Send one request with the current token; resolves to the raw response. */
async function send(path: string, opts: RequestOptions, token: string | null): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json; charset=utf-8";
  }
  if (token !== null) {
    headers["Authorization"] = `Bearer ${token}`;
  }
  const init: RequestInit = {
    method: opts.method,
    headers,
    // Same-origin requests carry the refresh cookie (it is scoped to /api/auth by the server).
    credentials: "same-origin",
    cache: "no-store",
  };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
  }
  try {
    return await fetch(`${API_BASE}${path}`, init);
  } catch {
    throw new ApiError(0, "network_error", "Could not reach the server. Check your connection.");
  }
}

async function readBody(res: Response): Promise<unknown> {
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

/** Perform a request; resolves to the parsed JSON body, or `undefined` for 204 No Content. */
async function request(path: string, opts: RequestOptions): Promise<unknown> {
  if (!opts.auth) {
    return readBody(await send(path, opts, null));
  }
  const token = accessToken;
  if (token === null) {
    throw new ApiError(401, "not_signed_in", "You are not signed in.");
  }
  const gen = generation;
  const res = await send(path, opts, token);
  if (res.status !== 401) {
    return readBody(res);
  }
  const err = await parseError(res);
  if (err.code !== "UNAUTHENTICATED" || gen !== generation) {
    throw err;
  }
  // The token was refused (expired, or its signing key rolled away): refresh once, retry once.
  // If another call refreshed meanwhile, just retry with its token.
  if (accessToken === token || accessToken === null) {
    try {
      await refreshSession();
    } catch {
      endSession(gen);
      throw new SessionEndedError();
    }
  }
  if (gen !== generation || accessToken === null) {
    throw new SessionEndedError();
  }
  return readBody(await send(path, opts, accessToken));
}

export function badShape(what: string): ApiError {
  return new ApiError(200, "bad_response", `The server sent an unexpected ${what} response.`);
}

function parseLogin(body: unknown): LoginResponse {
  if (
    !isRecord(body) ||
    typeof body["accessToken"] !== "string" ||
    body["accessToken"] === "" ||
    typeof body["expiresIn"] !== "number" ||
    typeof body["passwordChangeRequired"] !== "boolean" ||
    (body["mfaEnrollmentRequired"] !== undefined &&
      typeof body["mfaEnrollmentRequired"] !== "boolean")
  ) {
    throw badShape("login");
  }
  return {
    accessToken: body["accessToken"],
    expiresIn: body["expiresIn"],
    passwordChangeRequired: body["passwordChangeRequired"],
    mfaEnrollmentRequired: body["mfaEnrollmentRequired"] === true,
  };
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : undefined;

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

const ROLES: readonly Role[] = ["Administrator", "User", "ReadOnly"];

export function isRole(v: unknown): v is Role {
  return typeof v === "string" && (ROLES as readonly string[]).includes(v);
}

function parseMe(body: unknown): Me {
  if (!isRecord(body) || typeof body["username"] !== "string" || !isRole(body["role"])) {
    throw badShape("profile");
  }
  const classifications = body["classifications"];
  return {
    username: body["username"],
    role: body["role"],
    clientFilter: typeof body["clientFilter"] === "string" ? body["clientFilter"] : null,
    classifications:
      Array.isArray(classifications) &&
      classifications.every((c: unknown) => typeof c === "string")
        ? (classifications as string[])
        : null,
    enabled: body["enabled"] !== false,
    mfaEnabled: body["mfaEnabled"] === true,
    passwordChangeRequired: body["passwordChangeRequired"] === true,
  };
}

/**
 * `POST /api/auth/login`. On success the access token is kept in memory and its refresh is
 * scheduled. A user with MFA first gets a 401 `MFA_REQUIRED`; send the login again with the
 * same credentials and a `factor`.
 */
export async function login(
  username: string,
  password: string,
  factor?: SecondFactor,
): Promise<LoginResponse> {
  clearAccessToken(); // a new session replaces whatever this page had
  const gen = generation;
  const body = await request("/auth/login", {
    method: "POST",
    auth: false,
    body: { username, password, ...factor },
  });
  const parsed = parseLogin(body);
  if (!adopt(parsed, gen)) {
    throw new ApiError(0, "superseded", "The sign-in was cancelled.");
  }
  return parsed;
}

/**
 * `POST /api/auth/refresh` (no body; the HttpOnly refresh cookie authenticates it). Rotates the
 * cookie and returns a new access token with the user's current rights. Concurrent callers
 * share one request, since a refresh token presented twice revokes the session.
 */
export function refreshSession(): Promise<LoginResponse> {
  if (inflightRefresh !== null) return inflightRefresh;
  const gen = generation;
  const attempt = (async (): Promise<LoginResponse> => {
    const parsed = parseLogin(await request("/auth/refresh", { method: "POST", auth: false }));
    if (!adopt(parsed, gen)) {
      throw new SessionEndedError();
    }
    return parsed;
  })();
  inflightRefresh = attempt;
  const done = (): void => {
    if (inflightRefresh === attempt) inflightRefresh = null;
  };
  attempt.then(done, done);
  return attempt;
}

/**
 * The user name in an access token, for display only (for example the read-only user name on
 * the change-password form after a reload). The token is not verified here; the server does that.
 */
export function usernameFromToken(token: string): string {
  const payload = token.split(".")[1];
  if (payload === undefined) return "";
  try {
    const b64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), "="));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return isRecord(claims) && typeof claims["sub"] === "string" ? claims["sub"] : "";
  } catch {
    return "";
  }
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

/** `GET /api/auth/me`: who is signed in, and with which role (decides what the console shows). */
export async function getMe(): Promise<Me> {
  return parseMe(await request("/auth/me", { method: "GET", auth: true }));
}

/**
 * An authenticated call to any API route (bearer token, one refresh-and-retry on a refused
 * token). Resolves to the parsed JSON body, or `undefined` for 204.
 */
export function apiRequest(
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
): Promise<unknown> {
  return request(path, body === undefined ? { method, auth: true } : { method, auth: true, body });
}

/** `POST /api/auth/mfa/enroll`: start (or restart) TOTP enrolment. */
export async function enrollMfa(): Promise<MfaEnrollment> {
  const body = await request("/auth/mfa/enroll", { method: "POST", auth: true });
  if (
    !isRecord(body) ||
    typeof body["secret"] !== "string" ||
    body["secret"] === "" ||
    typeof body["otpauthUri"] !== "string"
  ) {
    throw badShape("enrolment");
  }
  return { secret: body["secret"], otpauthUri: body["otpauthUri"] };
}

/** `POST /api/auth/mfa/confirm {code}`: turns MFA on; the recovery codes are shown only now. */
export async function confirmMfa(code: string): Promise<string[]> {
  const body = await request("/auth/mfa/confirm", {
    method: "POST",
    auth: true,
    body: { code },
  });
  if (
    !isRecord(body) ||
    !Array.isArray(body["recoveryCodes"]) ||
    !body["recoveryCodes"].every((c: unknown) => typeof c === "string")
  ) {
    throw badShape("confirmation");
  }
  return body["recoveryCodes"] as string[];
}

/**
 * Sign out: forget the access token at once, then ask the server to revoke the refresh cookie
 * (best effort; a failure there does not keep the user signed in on this page).
 */
export async function logout(): Promise<void> {
  clearAccessToken();
  try {
    await request("/auth/logout", { method: "POST", auth: false });
  } catch {
    // ignored: the token is already forgotten
  }
}
