// The signed-in session: the access token, its silent refresh, and authenticated requests.
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

import { ApiError, SessionEndedError, badShape, isRecord, readBody, send, parseError, type RequestOptions } from "./http";

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

/** Perform a request; resolves to the parsed JSON body, or `undefined` for 204 No Content. */
export async function request(path: string, opts: RequestOptions): Promise<unknown> {
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
