import { afterEach, describe, expect, it } from "vitest";
import { changePassword } from "../src/api/auth";
import { listClients } from "../src/api/clients";
import { ApiError } from "../src/api/http";
import { clearAccessToken, getAccessToken, login, logout, setAccessToken } from "../src/api/session";
import { callOf, emptyResponse, errorBody, jsonResponse, mockFetch } from "./helpers";

afterEach(() => clearAccessToken());

describe("login", () => {
  it("posts JSON credentials without a bearer header and keeps the token in memory", async () => {
    const fetchMock = mockFetch(
      jsonResponse(200, { accessToken: "tok-1", expiresIn: 900, passwordChangeRequired: false }),
    );
    const result = await login("alice", "correct horse battery staple");
    // An older server without mfaEnrollmentRequired reads as "not required".
    expect(result).toEqual({
      accessToken: "tok-1",
      expiresIn: 900,
      passwordChangeRequired: false,
      mfaEnrollmentRequired: false,
    });
    expect(getAccessToken()).toBe("tok-1");

    const { url, init, headers } = callOf(fetchMock, 0);
    expect(url).toBe("/api/auth/login");
    expect(init.method).toBe("POST");
    expect(headers["Content-Type"]).toMatch(/^application\/json/);
    expect(headers["Authorization"]).toBeUndefined();
    expect(JSON.parse(String(init.body))).toEqual({
      username: "alice",
      password: "correct horse battery staple",
    });
  });

  it("never writes the token to web storage", async () => {
    mockFetch(jsonResponse(200, { accessToken: "tok-2", expiresIn: 900, passwordChangeRequired: true }));
    await login("alice", "pw");
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
    expect(document.cookie).not.toContain("tok-2");
  });

  it("parses the error shape into a typed ApiError and keeps no token", async () => {
    mockFetch(jsonResponse(401, errorBody("invalid_credentials", "Wrong username or password.", "r-9")));
    const err = await login("alice", "nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const apiErr = err as ApiError;
    expect(apiErr.status).toBe(401);
    expect(apiErr.code).toBe("invalid_credentials");
    expect(apiErr.message).toBe("Wrong username or password.");
    expect(apiErr.requestId).toBe("r-9");
    expect(getAccessToken()).toBeNull();
  });

  it("gives a generic ApiError for a non-JSON error body", async () => {
    mockFetch(new Response("<html>bad gateway</html>", { status: 502 }));
    const err = (await login("a", "b").catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(502);
    expect(err.code).toBe("http_error");
    expect(err.message).not.toContain("<html>");
  });

  it("turns a network failure into an ApiError", async () => {
    mockFetch(new TypeError("Failed to fetch"));
    const err = (await login("a", "b").catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("network_error");
  });

  it("rejects a malformed success body", async () => {
    mockFetch(jsonResponse(200, { token: "x" }));
    const err = (await login("a", "b").catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe("bad_response");
    expect(getAccessToken()).toBeNull();
  });
});

describe("changePassword", () => {
  it("sends the bearer token and the camelCase body, and handles 204", async () => {
    setAccessToken("tok-3");
    const fetchMock = mockFetch(emptyResponse(204));
    await expect(changePassword("old-password", "a much better passphrase")).resolves.toBeUndefined();
    const { url, init, headers } = callOf(fetchMock, 0);
    expect(url).toBe("/api/auth/password");
    expect(init.method).toBe("POST");
    expect(headers["Authorization"]).toBe("Bearer tok-3");
    expect(JSON.parse(String(init.body))).toEqual({
      currentPassword: "old-password",
      newPassword: "a much better passphrase",
    });
  });

  it("surfaces the server's rejection of a weak password", async () => {
    setAccessToken("tok-3");
    mockFetch(jsonResponse(400, errorBody("weak_password", "This password is too easy to guess.")));
    await expect(changePassword("old", "password1234")).rejects.toMatchObject({
      code: "weak_password",
      message: "This password is too easy to guess.",
      status: 400,
    });
  });

  it("refuses to call the server without a token", async () => {
    const fetchMock = mockFetch();
    await expect(changePassword("a", "b")).rejects.toMatchObject({ code: "not_signed_in" });
    expect(fetchMock).not.toHaveBeenCalled();
  });
});

describe("listClients", () => {
  it("sends the bearer token with a GET and no body", async () => {
    setAccessToken("tok-4");
    const fetchMock = mockFetch(jsonResponse(200, { clients: [] }));
    await expect(listClients()).resolves.toEqual({ clients: [] });
    const { url, init, headers } = callOf(fetchMock, 0);
    expect(url).toBe("/api/admin/clients");
    expect(init.method).toBe("GET");
    expect(init.body).toBeUndefined();
    expect(headers["Authorization"]).toBe("Bearer tok-4");
  });

  it("parses clients and drops any value sent for a secret setting", async () => {
    setAccessToken("tok-5");
    mockFetch(
      jsonResponse(200, {
        clients: [
          {
            name: "orders",
            description: "Order service",
            version: 3,
            settings: [
              { name: "Timeout", type: "int", description: "ms", secret: false, value: 30 },
              {
                name: "DbPassword",
                type: "string",
                description: "db",
                secret: true,
                isSet: true,
                lastChanged: "2025-01-02T03:04:05Z",
                value: "leaked!",
              },
            ],
          },
        ],
      }),
    );
    const { clients } = await listClients();
    expect(clients).toHaveLength(1);
    const settings = clients[0]?.settings ?? [];
    expect(settings[0]).toMatchObject({ name: "Timeout", value: 30, secret: false });
    expect(settings[1]).toEqual({
      name: "DbPassword",
      type: "string",
      description: "db",
      secret: true,
      isSet: true,
      lastChanged: "2025-01-02T03:04:05Z",
    });
    expect(JSON.stringify(clients)).not.toContain("leaked!");
  });

  it("rejects a body without a clients array", async () => {
    setAccessToken("tok-6");
    mockFetch(jsonResponse(200, { items: [] }));
    await expect(listClients()).rejects.toMatchObject({ code: "bad_response" });
  });
});

describe("logout", () => {
  it("forgets the token even when the server call fails", async () => {
    setAccessToken("tok-7");
    const fetchMock = mockFetch(new TypeError("offline"));
    await logout();
    expect(getAccessToken()).toBeNull();
    const { url, init, headers } = callOf(fetchMock, 0);
    expect(url).toBe("/api/auth/logout");
    expect(init.method).toBe("POST");
    expect(headers["Authorization"]).toBeUndefined();
  });
});
