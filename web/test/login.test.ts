import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clearAccessToken, getAccessToken } from "../src/api/session";
import { PASSWORD_CHANGED_NOTICE, SIGNED_OUT_NOTICE, startApp } from "../src/app";
import { callOf, emptyResponse, errorBody, jsonResponse, meResponse, mockFetch, noSession } from "./helpers";

let root: HTMLElement;

beforeEach(() => {
  root = document.createElement("main");
  document.body.append(root);
});

afterEach(() => {
  clearAccessToken();
  document.body.replaceChildren();
});

function input(name: string): HTMLInputElement {
  const el = root.querySelector<HTMLInputElement>(`input[name="${name}"]`);
  if (el === null) throw new Error(`no input ${name}`);
  return el;
}

function submit(): void {
  const form = root.querySelector("form");
  if (form === null) throw new Error("no form");
  form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
}

function heading(): string {
  return root.querySelector("h1")?.textContent ?? "";
}

async function signIn(username: string, password: string): Promise<void> {
  input("username").value = username;
  input("password").value = password;
  submit();
}

function expectEveryInputLabelled(): void {
  for (const el of root.querySelectorAll("input")) {
    expect(el.id).not.toBe("");
    const label = root.querySelector(`label[for="${el.id}"]`);
    expect(label?.textContent ?? "").not.toBe("");
    expect(el.getAttribute("autocomplete")).not.toBeNull();
  }
}

describe("login flow", () => {
  it("renders a labelled login form with password-manager hints", async () => {
    const fetchMock = mockFetch(noSession());
    await startApp(root);
    // The page first tried the refresh cookie (a reload keeps a session), without a body.
    expect(callOf(fetchMock, 0).url).toBe("/api/auth/refresh");
    expect(heading()).toBe("Sign in");
    expect(input("username").getAttribute("autocomplete")).toBe("username");
    expect(input("password").getAttribute("autocomplete")).toBe("current-password");
    expect(input("password").type).toBe("password");
    expectEveryInputLabelled();
  });

  it("switches to the change-password form when passwordChangeRequired is true", async () => {
    const fetchMock = mockFetch(
      noSession(),
      jsonResponse(200, { accessToken: "tok-once", expiresIn: 900, passwordChangeRequired: true }),
    );
    await startApp(root);
    await signIn("admin", "one-time-password");

    await expect.poll(heading).toBe("Change your password");
    expect(JSON.parse(String(callOf(fetchMock, 1).init.body))).toEqual({
      username: "admin",
      password: "one-time-password",
    });
    expect(input("username").value).toBe("admin");
    expect(input("username").readOnly).toBe(true);
    expect(input("current-password").getAttribute("autocomplete")).toBe("current-password");
    expect(input("new-password").getAttribute("autocomplete")).toBe("new-password");
    expect(input("confirm-password").getAttribute("autocomplete")).toBe("new-password");
    expectEveryInputLabelled();
    // Refresh and login only: the clients list is not fetched while a change is required.
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it("goes to the clients page when no change is required", async () => {
    const fetchMock = mockFetch(
      noSession(),
      jsonResponse(200, { accessToken: "tok-ok", expiresIn: 900, passwordChangeRequired: false }),
      meResponse(),
      jsonResponse(200, { clients: [] }),
    );
    await startApp(root);
    await signIn("alice", "a long enough passphrase");
    await expect.poll(() => root.textContent ?? "").toContain("No clients have registered yet");
    expect(heading()).toBe("Clients");
    expect(callOf(fetchMock, 2).headers["Authorization"]).toBe("Bearer tok-ok");
  });

  it("shows the server's error message as text and stays on the login form", async () => {
    mockFetch(noSession(), jsonResponse(401, errorBody("invalid_credentials", "Wrong username or <b>password</b>.", "r-2")));
    await startApp(root);
    await signIn("alice", "wrong");
    const alert = () => root.querySelector('[role="alert"]')?.textContent ?? "";
    await expect.poll(alert).toBe("Wrong username or <b>password</b>. (request r-2)");
    expect(root.querySelector("b")).toBeNull();
    expect(heading()).toBe("Sign in");
    expect(input("password").value).toBe("");
    expect(getAccessToken()).toBeNull();
  });

  it("does not call the server with an empty form", async () => {
    const fetchMock = mockFetch(noSession());
    await startApp(root);
    submit();
    expect(fetchMock).toHaveBeenCalledTimes(1); // only the refresh on page load
    expect(root.querySelector('[role="alert"]')?.textContent).toBe("Enter your username and password.");
  });
});

describe("change-password flow", () => {
  async function reachChangeForm(): Promise<ReturnType<typeof mockFetch>> {
    const fetchMock = mockFetch(
      noSession(),
      jsonResponse(200, { accessToken: "tok-once", expiresIn: 900, passwordChangeRequired: true }),
      emptyResponse(204),
    );
    await startApp(root);
    await signIn("admin", "one-time-password");
    await expect.poll(heading).toBe("Change your password");
    return fetchMock;
  }

  it("refuses a mismatched confirmation without calling the server", async () => {
    const fetchMock = await reachChangeForm();
    input("current-password").value = "one-time-password";
    input("new-password").value = "a brand new passphrase";
    input("confirm-password").value = "a different passphrase";
    submit();
    expect(root.querySelector('[role="alert"]')?.textContent).toMatch(/do not match/);
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it("refuses a too-short new password without calling the server", async () => {
    const fetchMock = await reachChangeForm();
    input("current-password").value = "one-time-password";
    input("new-password").value = "short";
    input("confirm-password").value = "short";
    submit();
    expect(root.querySelector('[role="alert"]')?.textContent).toMatch(/at least 12/);
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it("posts the change with the bearer token, then returns to login to sign in again", async () => {
    const fetchMock = await reachChangeForm();
    input("current-password").value = "one-time-password";
    input("new-password").value = "a brand new passphrase";
    input("confirm-password").value = "a brand new passphrase";
    submit();

    await expect.poll(heading).toBe("Sign in");
    const call = callOf(fetchMock, 2);
    expect(call.url).toBe("/api/auth/password");
    expect(call.headers["Authorization"]).toBe("Bearer tok-once");
    expect(JSON.parse(String(call.init.body))).toEqual({
      currentPassword: "one-time-password",
      newPassword: "a brand new passphrase",
    });
    expect(root.querySelector('[role="status"]')?.textContent).toBe(PASSWORD_CHANGED_NOTICE);
    expect(getAccessToken()).toBeNull();
  });

  it("cancel signs out and returns to login", async () => {
    const fetchMock = await reachChangeForm();
    const cancel = [...root.querySelectorAll("button")].find((b) => b.textContent === "Cancel");
    cancel?.click();
    expect(heading()).toBe("Sign in");
    expect(root.querySelector('[role="status"]')?.textContent).toBe(SIGNED_OUT_NOTICE);
    expect(getAccessToken()).toBeNull();
    expect(callOf(fetchMock, 2).url).toBe("/api/auth/logout");
  });
});
