import { vi, type Mock } from "vitest";

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", ...headers },
  });
}

export function emptyResponse(status = 204): Response {
  return new Response(null, { status });
}

export type FetchMock = Mock<(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>>;

/** Install a fetch mock that answers the queued responses in order. */
export function mockFetch(...responses: Array<Response | Error>): FetchMock {
  const queue = [...responses];
  const fn: FetchMock = vi.fn((_input: RequestInfo | URL, _init?: RequestInit) => {
    const next = queue.shift();
    if (next === undefined) return Promise.reject(new Error("unexpected fetch"));
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  });
  vi.stubGlobal("fetch", fn);
  return fn;
}

export function callOf(fn: FetchMock, i: number): { url: string; init: RequestInit; headers: Record<string, string> } {
  const call = fn.mock.calls[i];
  if (call === undefined) throw new Error(`no fetch call #${i}`);
  const init = call[1] ?? {};
  return { url: String(call[0]), init, headers: (init.headers ?? {}) as Record<string, string> };
}

export function errorBody(code: string, message: string, requestId = "req-123"): unknown {
  return { error: { code, message, requestId } };
}

/** The answer to `POST /api/auth/refresh` when the browser holds no (valid) refresh cookie. */
export function noSession(): Response {
  return jsonResponse(401, errorBody("SESSION_EXPIRED", "The session has ended. Sign in again."));
}

/** A login/refresh success body. */
export function tokenBody(
  accessToken: string,
  extra: { passwordChangeRequired?: boolean; mfaEnrollmentRequired?: boolean; expiresIn?: number } = {},
): unknown {
  return {
    accessToken,
    expiresIn: extra.expiresIn ?? 900,
    passwordChangeRequired: extra.passwordChangeRequired ?? false,
    mfaEnrollmentRequired: extra.mfaEnrollmentRequired ?? false,
  };
}

/** The answer to `GET /api/auth/me`. */
export function meResponse(role: "Administrator" | "User" | "ReadOnly" = "Administrator", username = "alice"): Response {
  return jsonResponse(200, {
    username,
    role,
    clientFilter: null,
    classifications: null,
    enabled: true,
    mfaEnabled: false,
    passwordChangeRequired: false,
    created: "2026-01-01T00:00:00Z",
    updated: "2026-01-01T00:00:00Z",
  });
}

export type Route = (init: RequestInit, url: URL) => Response | Promise<Response>;

/**
 * Install a fetch mock that answers by "METHOD /path" (query string ignored for the match).
 * Unknown routes get a JSON 404; every call is recorded with its parsed body.
 */
export function routeFetch(routes: Record<string, Route | Response | unknown>): {
  fn: FetchMock;
  calls: Array<{ method: string; path: string; url: URL; body: unknown }>;
} {
  const calls: Array<{ method: string; path: string; url: URL; body: unknown }> = [];
  const fn: FetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://fig.test");
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : undefined;
    calls.push({ method, path: url.pathname, url, body });
    const route = routes[`${method} ${url.pathname}`];
    if (route === undefined) return jsonResponse(404, errorBody("NOT_FOUND", "There is no such route."));
    if (typeof route === "function") return (route as Route)(init ?? {}, url);
    if (route instanceof Response) return route.clone();
    return jsonResponse(200, route);
  });
  vi.stubGlobal("fetch", fn);
  return { fn, calls };
}

export function meOf(role: "Administrator" | "User" | "ReadOnly", username = "alice") {
  return {
    username,
    role,
    clientFilter: null,
    classifications: null,
    enabled: true,
    mfaEnabled: false,
    passwordChangeRequired: false,
  };
}
