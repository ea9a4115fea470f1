import { afterEach, describe, expect, it, vi } from "vitest";
import { confirmMfa, enrollMfa, usernameFromToken } from "../src/api/auth";
import { listClients } from "../src/api/clients";
import { ApiError, SessionEndedError, parseRetryAfter } from "../src/api/http";
import { clearAccessToken, getAccessToken, login, logout, refreshDelayMs, refreshSession, setAccessToken, setSessionEndedHandler } from "../src/api/session";
import { updateUser } from "../src/api/users";
import { callOf, emptyResponse, errorBody, jsonResponse, mockFetch, noSession, tokenBody } from "./helpers";

const unauthenticated = (): Response =>
  jsonResponse(401, errorBody("UNAUTHENTICATED", "A valid access token is required."));

afterEach(() => {
  clearAccessToken();
  setSessionEndedHandler(null);
  vi.useRealTimers();
});

describe("login with a second factor", () => {
  it("sends totp with the same username and password", async () => {
    const fetchMock = mockFetch(jsonResponse(200, tokenBody("tok-mfa")));
    await login("alice", "pw", { totp: "123456" });
    expect(JSON.parse(String(callOf(fetchMock, 0).init.body))).toEqual({
      username: "alice",
      password: "pw",
      totp: "123456",
    });
    expect(getAccessToken()).toBe("tok-mfa");
  });

  it("sends recoveryCode (and no totp) for the recovery path", async () => {
    const fetchMock = mockFetch(jsonResponse(200, tokenBody("tok-rc")));
    await login("alice", "pw", { recoveryCode: "abcde-fghij" });
    expect(JSON.parse(String(callOf(fetchMock, 0).init.body))).toEqual({
      username: "alice",
      password: "pw",
      recoveryCode: "abcde-fghij",
    });
  });

  it("reports MFA_REQUIRED as a typed error and keeps no token", async () => {
    mockFetch(jsonResponse(401, errorBody("MFA_REQUIRED", "Enter the code.")));
    await expect(login("alice", "pw")).rejects.toMatchObject({ status: 401, code: "MFA_REQUIRED" });
    expect(getAccessToken()).toBeNull();
  });

  it("reads Retry-After from a 429", async () => {
    mockFetch(
      jsonResponse(429, errorBody("TOO_MANY_ATTEMPTS", "Too many failed attempts."), {
        "Retry-After": "42",
      }),
    );
    const err = (await login("alice", "pw").catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(429);
    expect(err.retryAfter).toBe(42);
  });

  it("parses Retry-After as seconds or as an HTTP date", () => {
    expect(parseRetryAfter("7")).toBe(7);
    expect(parseRetryAfter("0")).toBe(1);
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:01:30 GMT", now)).toBe(90);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe("refresh", () => {
  it("posts no body with same-origin credentials and keeps the new token", async () => {
    const fetchMock = mockFetch(jsonResponse(200, tokenBody("tok-r1")));
    const result = await refreshSession();
    expect(result.accessToken).toBe("tok-r1");
    expect(getAccessToken()).toBe("tok-r1");
    const { url, init, headers } = callOf(fetchMock, 0);
    expect(url).toBe("/api/auth/refresh");
    expect(init.method).toBe("POST");
    expect(init.body).toBeUndefined();
    expect(init.credentials).toBe("same-origin");
    expect(headers["Authorization"]).toBeUndefined();
    expect(headers["Content-Type"]).toBeUndefined();
  });

  it("shares one request between concurrent callers (a refresh token works once)", async () => {
    const fetchMock = mockFetch(jsonResponse(200, tokenBody("tok-shared")));
    const [a, b] = await Promise.all([refreshSession(), refreshSession()]);
    expect(a.accessToken).toBe("tok-shared");
    expect(b.accessToken).toBe("tok-shared");
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it("does not revive a session that was signed out while the refresh was in flight", async () => {
    let answer: (r: Response) => void = () => undefined;
    vi.stubGlobal(
      "fetch",
      vi.fn(() => new Promise<Response>((resolve) => (answer = resolve))),
    );
    const pending = refreshSession().catch((e: unknown) => e);
    clearAccessToken();
    answer(jsonResponse(200, tokenBody("tok-late")));
    expect(await pending).toBeInstanceOf(SessionEndedError);
    expect(getAccessToken()).toBeNull();
  });
});

describe("refresh on 401", () => {
  it("refreshes once and retries the original request with the new token", async () => {
    setAccessToken("tok-old");
    const fetchMock = mockFetch(
      unauthenticated(),
      jsonResponse(200, tokenBody("tok-new")),
      jsonResponse(200, { clients: [] }),
    );
    await expect(listClients()).resolves.toEqual({ clients: [] });
    expect(fetchMock).toHaveBeenCalledTimes(3);
    expect(callOf(fetchMock, 0).headers["Authorization"]).toBe("Bearer tok-old");
    const refresh = callOf(fetchMock, 1);
    expect(refresh.url).toBe("/api/auth/refresh");
    expect(refresh.init.credentials).toBe("same-origin");
    expect(refresh.init.body).toBeUndefined();
    const retry = callOf(fetchMock, 2);
    expect(retry.url).toBe("/api/admin/clients");
    expect(retry.init.method).toBe("GET");
    expect(retry.headers["Authorization"]).toBe("Bearer tok-new");
    expect(getAccessToken()).toBe("tok-new");
  });

  it("retries a request with a body unchanged", async () => {
    setAccessToken("tok-old");
    const fetchMock = mockFetch(
      unauthenticated(),
      jsonResponse(200, tokenBody("tok-new", { mfaEnrollmentRequired: true })),
      jsonResponse(200, { recoveryCodes: ["aaaaa-bbbbb"] }),
    );
    await expect(confirmMfa("123456")).resolves.toEqual(["aaaaa-bbbbb"]);
    expect(JSON.parse(String(callOf(fetchMock, 2).init.body))).toEqual({ code: "123456" });
    expect(callOf(fetchMock, 2).headers["Authorization"]).toBe("Bearer tok-new");
  });

  it("retries only once: a second 401 is passed on", async () => {
    setAccessToken("tok-old");
    const fetchMock = mockFetch(
      unauthenticated(),
      jsonResponse(200, tokenBody("tok-new")),
      unauthenticated(),
    );
    await expect(listClients()).rejects.toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
    expect(fetchMock).toHaveBeenCalledTimes(3);
  });

  it("does not refresh for a 401 with another code, nor for a 403", async () => {
    setAccessToken("tok");
    const fetchMock = mockFetch(
      jsonResponse(403, errorBody("FORBIDDEN", "You are not allowed to do this.")),
    );
    await expect(listClients()).rejects.toMatchObject({ status: 403 });
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it("ends the session when the refresh fails: token gone, handler told once", async () => {
    setAccessToken("tok-old");
    const ended = vi.fn();
    setSessionEndedHandler(ended);
    const fetchMock = mockFetch(unauthenticated(), noSession());
    const err = await listClients().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionEndedError);
    expect(fetchMock).toHaveBeenCalledTimes(2);
    expect(getAccessToken()).toBeNull();
    expect(ended).toHaveBeenCalledTimes(1);
  });

  it("a token revoked at once (signed out elsewhere, disabled, role changed): one refresh, refused, then the session ends", async () => {
    // Any admin route answers 401 UNAUTHENTICATED for a token whose session has ended; the
    // refresh cookie of that session is refused too, so the page goes back to the login.
    setAccessToken("tok-revoked");
    const ended = vi.fn();
    setSessionEndedHandler(ended);
    const fetchMock = mockFetch(unauthenticated(), noSession());
    const err = await updateUser("bob", { role: "ReadOnly" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionEndedError);
    expect(fetchMock.mock.calls.map((c) => `${c[1]?.method} ${String(c[0])}`)).toEqual([
      "PUT /api/admin/users/bob",
      "POST /api/auth/refresh",
    ]);
    expect(getAccessToken()).toBeNull();
    expect(ended).toHaveBeenCalledTimes(1);
  });

  it("two calls refused at once share one refresh", async () => {
    setAccessToken("tok-old");
    const fetchMock = mockFetch(
      unauthenticated(),
      unauthenticated(),
      jsonResponse(200, tokenBody("tok-new")),
      jsonResponse(200, { clients: [] }),
      jsonResponse(200, { clients: [] }),
    );
    await Promise.all([listClients(), listClients()]);
    const urls = fetchMock.mock.calls.map((c) => String(c[0]));
    expect(urls.filter((u) => u === "/api/auth/refresh")).toHaveLength(1);
    expect(callOf(fetchMock, 3).headers["Authorization"]).toBe("Bearer tok-new");
    expect(callOf(fetchMock, 4).headers["Authorization"]).toBe("Bearer tok-new");
  });
});

describe("silent refresh", () => {
  it("refreshes shortly before the token expires, and again after that", async () => {
    vi.useFakeTimers();
    const fetchMock = mockFetch(
      jsonResponse(200, tokenBody("tok-1", { expiresIn: 900 })),
      jsonResponse(200, tokenBody("tok-2", { expiresIn: 900 })),
      jsonResponse(200, tokenBody("tok-3", { expiresIn: 900 })),
    );
    await login("alice", "pw");
    await vi.advanceTimersByTimeAsync(839_000);
    expect(fetchMock).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fetchMock).toHaveBeenCalledTimes(2);
    expect(callOf(fetchMock, 1).url).toBe("/api/auth/refresh");
    expect(getAccessToken()).toBe("tok-2");
    await vi.advanceTimersByTimeAsync(840_000);
    expect(getAccessToken()).toBe("tok-3");
  });

  it("ends the session when the scheduled refresh is refused", async () => {
    vi.useFakeTimers();
    const ended = vi.fn();
    setSessionEndedHandler(ended);
    mockFetch(jsonResponse(200, tokenBody("tok-1", { expiresIn: 900 })), noSession());
    await login("alice", "pw");
    await vi.advanceTimersByTimeAsync(840_000);
    expect(ended).toHaveBeenCalledTimes(1);
    expect(getAccessToken()).toBeNull();
  });

  it("retries later when the server cannot be reached, keeping the token", async () => {
    vi.useFakeTimers();
    const ended = vi.fn();
    setSessionEndedHandler(ended);
    const fetchMock = mockFetch(
      jsonResponse(200, tokenBody("tok-1", { expiresIn: 900 })),
      new TypeError("offline"),
      jsonResponse(200, tokenBody("tok-2", { expiresIn: 900 })),
    );
    await login("alice", "pw");
    await vi.advanceTimersByTimeAsync(840_000);
    expect(getAccessToken()).toBe("tok-1");
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fetchMock).toHaveBeenCalledTimes(3);
    expect(getAccessToken()).toBe("tok-2");
    expect(ended).not.toHaveBeenCalled();
  });

  it("stops after sign-out", async () => {
    vi.useFakeTimers();
    const fetchMock = mockFetch(jsonResponse(200, tokenBody("tok-1")), emptyResponse(204));
    await login("alice", "pw");
    await logout();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(fetchMock).toHaveBeenCalledTimes(2);
    const { url, init } = callOf(fetchMock, 1);
    expect(url).toBe("/api/auth/logout");
    expect(init.credentials).toBe("same-origin");
  });

  it("computes the delay from expiresIn", () => {
    expect(refreshDelayMs(900)).toBe(840_000);
    expect(refreshDelayMs(60)).toBe(45_000);
    expect(refreshDelayMs(0)).toBeNull();
    expect(refreshDelayMs(Number.NaN)).toBeNull();
  });
});

describe("MFA enrolment calls", () => {
  it("enroll posts with the bearer token and no body", async () => {
    setAccessToken("tok-mer");
    const fetchMock = mockFetch(
      jsonResponse(200, { secret: "JBSWY3DPEHPK3PXP", otpauthUri: "otpauth://totp/Fig:alice?secret=JBSWY3DPEHPK3PXP" }),
    );
    await expect(enrollMfa()).resolves.toEqual({
      secret: "JBSWY3DPEHPK3PXP",
      otpauthUri: "otpauth://totp/Fig:alice?secret=JBSWY3DPEHPK3PXP",
    });
    const { url, init, headers } = callOf(fetchMock, 0);
    expect(url).toBe("/api/auth/mfa/enroll");
    expect(init.method).toBe("POST");
    expect(init.body).toBeUndefined();
    expect(headers["Authorization"]).toBe("Bearer tok-mer");
  });

  it("rejects malformed answers", async () => {
    setAccessToken("tok-mer");
    mockFetch(jsonResponse(200, { secret: "" }), jsonResponse(200, { recoveryCodes: [1, 2] }));
    await expect(enrollMfa()).rejects.toMatchObject({ code: "bad_response" });
    await expect(confirmMfa("123456")).rejects.toMatchObject({ code: "bad_response" });
  });
});

describe("usernameFromToken", () => {
  it("reads sub from the payload for display, and tolerates junk", () => {
    const payload = btoa(JSON.stringify({ sub: "ops.team@example.com", exp: 1 }))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    expect(usernameFromToken(`h.${payload}.s`)).toBe("ops.team@example.com");
    expect(usernameFromToken("not-a-jwt")).toBe("");
    expect(usernameFromToken("a.%%%.c")).toBe("");
  });
});
