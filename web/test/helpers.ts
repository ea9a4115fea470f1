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
