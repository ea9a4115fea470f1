import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { clearAccessToken, getAccessToken, setSessionEndedHandler } from "../src/api/session";
import { MFA_ENABLED_NOTICE, SESSION_EXPIRED_NOTICE, SIGNED_OUT_NOTICE, startApp } from "../src/app";
import {
  CODE_REJECTED,
  RECOVERY_CODE_REJECTED,
  SECOND_STEP_TIMED_OUT,
  SECOND_STEP_TIMEOUT_MS,
} from "../src/views/login";
import { SAVE_CODES_NOW } from "../src/views/mfaEnrollment";
import { callOf, emptyResponse, errorBody, jsonResponse, meResponse, mockFetch, noSession, tokenBody } from "./helpers";

let root: HTMLElement;

beforeEach(() => {
  root = document.createElement("main");
  document.body.append(root);
});

afterEach(() => {
  clearAccessToken();
  setSessionEndedHandler(null);
  document.body.replaceChildren();
  vi.useRealTimers();
});

const XSS = `<img src=x onerror="window.__pwned=1">`;

function input(name: string): HTMLInputElement {
  const el = root.querySelector<HTMLInputElement>(`input[name="${name}"]`);
  if (el === null) throw new Error(`no input ${name}`);
  return el;
}

function button(text: string): HTMLButtonElement {
  const b = [...root.querySelectorAll("button")].find((x) => x.textContent === text);
  if (b === undefined) throw new Error(`no button "${text}"`);
  return b;
}

function submit(): void {
  const form = root.querySelector("form");
  if (form === null) throw new Error("no form");
  form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
}

const heading = (): string => root.querySelector("h1")?.textContent ?? "";
const alertText = (): string => root.querySelector('[role="alert"]:not([hidden])')?.textContent ?? "";
const statusText = (): string => root.querySelector('[role="status"]:not([hidden])')?.textContent ?? "";
const bodyOf = (fetchMock: ReturnType<typeof mockFetch>, i: number): unknown =>
  JSON.parse(String(callOf(fetchMock, i).init.body));

function signIn(username: string, password: string): void {
  input("username").value = username;
  input("password").value = password;
  submit();
}

function expectEveryInputLabelled(): void {
  for (const el of root.querySelectorAll("input")) {
    expect(el.id).not.toBe("");
    expect(root.querySelector(`label[for="${el.id}"]`)?.textContent ?? "").not.toBe("");
    expect(el.getAttribute("autocomplete")).not.toBeNull();
  }
}

/** Every input's current value: the password must not linger in the DOM. */
const inputValues = (): string[] => [...root.querySelectorAll("input")].map((i) => i.value);

const mfaRequired = (): Response =>
  jsonResponse(401, errorBody("MFA_REQUIRED", "Enter the code from your authenticator app (or a recovery code)."));
const wrongCredentials = (): Response =>
  jsonResponse(401, errorBody("INVALID_CREDENTIALS", "The user name or password is incorrect."));

async function reachSecondStep(...after: Response[]): Promise<ReturnType<typeof mockFetch>> {
  const fetchMock = mockFetch(noSession(), mfaRequired(), ...after);
  await startApp(root);
  signIn("alice", "correct horse battery staple");
  await expect.poll(heading).toBe("Two-factor authentication");
  return fetchMock;
}

describe("second sign-in step (MFA_REQUIRED)", () => {
  it("asks for the app's code, then signs in with the same credentials plus totp", async () => {
    const fetchMock = await reachSecondStep(
      jsonResponse(200, tokenBody("tok-mfa")),
      meResponse(),
      jsonResponse(200, { clients: [] }),
    );
    // The MFA_REQUIRED answer is a prompt, not an error.
    expect(alertText()).toBe("");
    const code = input("totp");
    expect(code.getAttribute("autocomplete")).toBe("one-time-code");
    expect(code.getAttribute("inputmode")).toBe("numeric");
    expect(document.activeElement).toBe(code);
    expectEveryInputLabelled();
    expect(root.querySelector('input[type="password"]')).toBeNull();
    expect(inputValues()).not.toContain("correct horse battery staple");

    code.value = "123 456";
    submit();
    await expect.poll(heading).toBe("Clients");
    expect(bodyOf(fetchMock, 1)).toEqual({ username: "alice", password: "correct horse battery staple" });
    expect(bodyOf(fetchMock, 2)).toEqual({
      username: "alice",
      password: "correct horse battery staple",
      totp: "123456",
    });
    expect(callOf(fetchMock, 3).headers["Authorization"]).toBe("Bearer tok-mfa");
  });

  it("checks the code's format before calling the server", async () => {
    const fetchMock = await reachSecondStep();
    input("totp").value = "12ab";
    submit();
    expect(alertText()).toBe("Enter the 6-digit code from your authenticator app.");
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it("stays on the step with a clear message when the code is wrong, and can try again", async () => {
    const fetchMock = await reachSecondStep(
      wrongCredentials(),
      jsonResponse(200, tokenBody("tok-2nd", { passwordChangeRequired: true })),
    );
    input("totp").value = "000000";
    submit();
    await expect.poll(alertText).toBe(CODE_REJECTED);
    expect(heading()).toBe("Two-factor authentication");
    expect(input("totp").value).toBe("");

    input("totp").value = "654321";
    submit();
    await expect.poll(heading).toBe("Change your password");
    // The password was kept for the retry, and only for it.
    expect(bodyOf(fetchMock, 3)).toEqual({
      username: "alice",
      password: "correct horse battery staple",
      totp: "654321",
    });
  });

  it("offers a recovery code instead, and sends recoveryCode without totp", async () => {
    const fetchMock = await reachSecondStep(
      jsonResponse(200, tokenBody("tok-rc")),
      meResponse(),
      jsonResponse(200, { clients: [] }),
    );
    button("Use a recovery code instead").click();
    expect(root.querySelector('input[name="totp"]')).toBeNull();
    const rc = input("recovery-code");
    expectEveryInputLabelled();
    expect(document.activeElement).toBe(rc);
    rc.value = " abcde-fghij ";
    submit();
    await expect.poll(heading).toBe("Clients");
    expect(bodyOf(fetchMock, 2)).toEqual({
      username: "alice",
      password: "correct horse battery staple",
      recoveryCode: "abcde-fghij",
    });
  });

  it("says so when a recovery code is refused, and can switch back to the app", async () => {
    await reachSecondStep(wrongCredentials());
    button("Use a recovery code instead").click();
    input("recovery-code").value = "used0-code0";
    submit();
    await expect.poll(alertText).toBe(RECOVERY_CODE_REJECTED);
    button("Use the authenticator app instead").click();
    expect(input("totp").getAttribute("autocomplete")).toBe("one-time-code");
  });

  it("cancel forgets the password and returns to the first step", async () => {
    const fetchMock = await reachSecondStep(mfaRequired());
    button("Cancel").click();
    expect(heading()).toBe("Sign in");
    expect(input("username").value).toBe("alice");
    expect(input("password").value).toBe("");
    // Signing in again needs the password again (the old one is not reused).
    input("password").value = "typed again";
    submit();
    await expect.poll(heading).toBe("Two-factor authentication");
    expect(bodyOf(fetchMock, 2)).toEqual({ username: "alice", password: "typed again" });
  });
});

describe("second step time limit", () => {
  it("forgets the password after a few minutes and asks for it again", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const fetchMock = await reachSecondStep();
    await vi.advanceTimersByTimeAsync(SECOND_STEP_TIMEOUT_MS);
    expect(heading()).toBe("Sign in");
    expect(statusText()).toBe(SECOND_STEP_TIMED_OUT);
    expect(input("username").value).toBe("alice");
    expect(input("password").value).toBe("");
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });
});

describe("throttling (429)", () => {
  it("shows how long to wait, from Retry-After", async () => {
    mockFetch(
      noSession(),
      jsonResponse(429, errorBody("TOO_MANY_ATTEMPTS", "Too many failed attempts."), { "Retry-After": "42" }),
    );
    await startApp(root);
    signIn("alice", "wrong");
    await expect.poll(alertText).toBe("Too many attempts, try again in 42 seconds.");
    expect(heading()).toBe("Sign in");
    expect(getAccessToken()).toBeNull();
  });

  it("shows it on the second step too", async () => {
    await reachSecondStep(
      jsonResponse(429, errorBody("TOO_MANY_ATTEMPTS", "Too many failed attempts."), { "Retry-After": "1" }),
    );
    input("totp").value = "111111";
    submit();
    await expect.poll(alertText).toBe("Too many attempts, try again in 1 second.");
    expect(heading()).toBe("Two-factor authentication");
  });
});

describe("sessions", () => {
  it("a reload with a valid refresh cookie goes straight to the console", async () => {
    const fetchMock = mockFetch(jsonResponse(200, tokenBody("tok-reload")), meResponse(), jsonResponse(200, { clients: [] }));
    await startApp(root);
    await expect.poll(heading).toBe("Clients");
    expect(callOf(fetchMock, 0).url).toBe("/api/auth/refresh");
    expect(callOf(fetchMock, 1).headers["Authorization"]).toBe("Bearer tok-reload");
  });

  it("refreshes on 401 and retries, staying on the page", async () => {
    const fetchMock = mockFetch(
      noSession(),
      jsonResponse(200, tokenBody("tok-a")),
      meResponse(),
      jsonResponse(200, { clients: [] }),
      jsonResponse(401, errorBody("UNAUTHENTICATED", "A valid access token is required.")),
      jsonResponse(200, tokenBody("tok-b")),
      jsonResponse(200, { clients: [{ name: "billing", description: "", version: 1, settings: [] }] }),
    );
    await startApp(root);
    signIn("alice", "pw");
    await expect.poll(heading).toBe("Clients");
    button("Refresh").click();
    await expect.poll(() => root.querySelector("h2")?.textContent ?? "").toBe("billing");
    expect(callOf(fetchMock, 5).url).toBe("/api/auth/refresh");
    expect(callOf(fetchMock, 6).headers["Authorization"]).toBe("Bearer tok-b");
    expect(alertText()).toBe("");
  });

  it("when the refresh fails, goes back to the login page saying the session has ended", async () => {
    const fetchMock = mockFetch(
      noSession(),
      jsonResponse(200, tokenBody("tok-a")),
      meResponse(),
      jsonResponse(200, { clients: [] }),
      jsonResponse(401, errorBody("UNAUTHENTICATED", "A valid access token is required.")),
      noSession(),
    );
    await startApp(root);
    signIn("alice", "pw");
    await expect.poll(heading).toBe("Clients");
    button("Refresh").click();
    await expect.poll(heading).toBe("Sign in");
    expect(statusText()).toBe(SESSION_EXPIRED_NOTICE);
    expect(alertText()).toBe("");
    expect(getAccessToken()).toBeNull();
    expect(fetchMock).toHaveBeenCalledTimes(6);
  });

  it("sign out posts logout with same-origin credentials and forgets the token", async () => {
    const fetchMock = mockFetch(
      jsonResponse(200, tokenBody("tok-a")),
      meResponse(),
      jsonResponse(200, { clients: [] }),
      emptyResponse(204),
    );
    await startApp(root);
    await expect.poll(heading).toBe("Clients");
    button("Sign out").click();
    expect(heading()).toBe("Sign in");
    expect(statusText()).toBe(SIGNED_OUT_NOTICE);
    expect(getAccessToken()).toBeNull();
    const { url, init } = callOf(fetchMock, 3);
    expect(url).toBe("/api/auth/logout");
    expect(init.method).toBe("POST");
    expect(init.credentials).toBe("same-origin");
  });
});

describe("MFA enrolment required by an administrator", () => {
  const SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP";
  const URI = `otpauth://totp/Fig:alice?secret=${SECRET}&issuer=Fig&algorithm=SHA1&digits=6&period=30`;

  async function reachEnrolment(...after: Response[]): Promise<ReturnType<typeof mockFetch>> {
    const fetchMock = mockFetch(
      noSession(),
      jsonResponse(200, tokenBody("tok-mer", { mfaEnrollmentRequired: true })),
      ...after,
    );
    await startApp(root);
    signIn("alice", "pw");
    await expect.poll(heading).toBe("Set up two-factor authentication");
    return fetchMock;
  }

  it("explains, enrols, confirms, shows the recovery codes once, then refreshes into the console", async () => {
    const fetchMock = await reachEnrolment(
      jsonResponse(200, { secret: SECRET, otpauthUri: URI }),
      jsonResponse(200, { recoveryCodes: ["aaaaa-bbbbb", `ccccc-${XSS}`] }),
      jsonResponse(200, tokenBody("tok-full")),
      meResponse(),
      jsonResponse(200, { clients: [] }),
    );
    expect(root.textContent).toContain("An administrator requires two-factor authentication");
    // The restricted token is not used for the clients list.
    expect(fetchMock).toHaveBeenCalledTimes(2);

    button("Set up").click();
    await expect.poll(() => root.querySelector('input[name="totp"]') !== null).toBe(true);
    const enroll = callOf(fetchMock, 2);
    expect(enroll.url).toBe("/api/auth/mfa/enroll");
    expect(enroll.init.method).toBe("POST");
    expect(enroll.headers["Authorization"]).toBe("Bearer tok-mer");
    expect(root.textContent).toContain("JBSW Y3DP EHPK 3PXP JBSW Y3DP");
    expect(root.textContent).toContain(URI);
    const code = input("totp");
    expect(code.getAttribute("autocomplete")).toBe("one-time-code");
    expect(code.getAttribute("inputmode")).toBe("numeric");
    expectEveryInputLabelled();

    code.value = "123456";
    submit();
    await expect.poll(statusText).toBe(SAVE_CODES_NOW);
    const confirm = callOf(fetchMock, 3);
    expect(confirm.url).toBe("/api/auth/mfa/confirm");
    expect(confirm.headers["Authorization"]).toBe("Bearer tok-mer");
    expect(JSON.parse(String(confirm.init.body))).toEqual({ code: "123456" });
    const codes = [...root.querySelectorAll(".recovery-codes li")].map((li) => li.textContent);
    expect(codes).toEqual(["aaaaa-bbbbb", `ccccc-${XSS}`]);
    expect(root.querySelector("img")).toBeNull();
    // The secret is no longer on screen once enrolment is confirmed.
    expect(root.textContent).not.toContain(SECRET);

    button("I have saved them, continue").click();
    await expect.poll(heading).toBe("Clients");
    const refresh = callOf(fetchMock, 4);
    expect(refresh.url).toBe("/api/auth/refresh");
    expect(refresh.init.body).toBeUndefined();
    expect(callOf(fetchMock, 5).headers["Authorization"]).toBe("Bearer tok-full");
  });

  it("a wrong confirmation code shows the server's message and lets the user retry", async () => {
    const fetchMock = await reachEnrolment(
      jsonResponse(200, { secret: SECRET, otpauthUri: URI }),
      jsonResponse(400, errorBody("INVALID_MFA_CODE", "The code is not valid.", "r-7")),
    );
    button("Set up").click();
    await expect.poll(() => root.querySelector('input[name="totp"]') !== null).toBe(true);
    input("totp").value = "999999";
    submit();
    await expect.poll(alertText).toBe("The code is not valid. (request r-7)");
    expect(input("totp").value).toBe("");
    expect(root.textContent).toContain(URI);
    expect(fetchMock).toHaveBeenCalledTimes(4);
  });

  it("if the refresh after enrolment fails, asks the user to sign in again", async () => {
    await reachEnrolment(
      jsonResponse(200, { secret: SECRET, otpauthUri: URI }),
      jsonResponse(200, { recoveryCodes: ["aaaaa-bbbbb"] }),
      noSession(),
    );
    button("Set up").click();
    await expect.poll(() => root.querySelector('input[name="totp"]') !== null).toBe(true);
    input("totp").value = "123456";
    submit();
    await expect.poll(statusText).toBe(SAVE_CODES_NOW);
    button("I have saved them, continue").click();
    await expect.poll(heading).toBe("Sign in");
    expect(statusText()).toBe(MFA_ENABLED_NOTICE);
    expect(getAccessToken()).toBeNull();
  });

  it("a reload while enrolment is required comes back to the enrolment page", async () => {
    const fetchMock = mockFetch(jsonResponse(200, tokenBody("tok-mer", { mfaEnrollmentRequired: true })));
    await startApp(root);
    expect(heading()).toBe("Set up two-factor authentication");
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });
});
