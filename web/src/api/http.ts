// The transport: one request to the Fig HTTP API (docs/ARCHITECTURE.md §3; docs/openapi.json),
// its JSON body, and its errors as ApiError (a stable code, the server's message, the request
// id). Nothing here knows about tokens: session.ts adds them.

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

/** Path segments are encoded before they go into a URL. */
export const enc = encodeURIComponent;

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

export async function parseError(res: Response): Promise<ApiError> {
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

export interface RequestOptions {
  method: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;
  /**
   * Send `Authorization: Bearer <token>` (throws if there is no token). A 401 UNAUTHENTICATED
   * answer then gets one refresh and one retry.
   */
  auth: boolean;
}

/** Send one request with the current token; resolves to the raw response. */
export async function send(path: string, opts: RequestOptions, token: string | null): Promise<Response> {
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

export async function readBody(res: Response): Promise<unknown> {
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

export function badShape(what: string): ApiError {
  return new ApiError(200, "bad_response", `The server sent an unexpected ${what} response.`);
}

export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
export const num = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : undefined;
