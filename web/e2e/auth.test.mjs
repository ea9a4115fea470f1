// Identity in a real browser: the first login with its forced password change, TOTP enrolment
// (required by the server configuration, switched on through the Configuration page) and a
// login with a code, and sign-out clearing everything.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  call,
  currentStep,
  launchBrowser,
  openPage,
  screenshot,
  signIn,
  startGateway,
  strongPassword,
  totp,
} from "./harness.mjs";

describe("identity in the browser", () => {
  let stack;
  let browser;
  let context;
  let page;
  let password;
  let mfaSecret;

  before(async () => {
    stack = await startGateway();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("first login forces a password change, then the new password signs in", async () => {
    await page.goto(`${stack.baseUrl}/`);
    await signIn(page, stack.baseUrl, "admin", stack.adminPassword);
    await page.getByRole("heading", { name: "Change your password" }).waitFor();
    await screenshot(page, "change-password-1280");
    password = strongPassword();
    await page.getByLabel("Current password").fill(stack.adminPassword);
    await page.getByLabel("New password", { exact: true }).fill(password);
    await page.getByLabel("Confirm new password").fill(password);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    assert.match(await page.getByRole("status").first().textContent(), /password has been changed/);

    // The one-time password no longer works.
    const old = await call(stack.baseUrl, "POST", "/api/auth/login", {
      body: { username: "admin", password: stack.adminPassword },
    });
    assert.equal(old.status, 401);

    await signIn(page, stack.baseUrl, "admin", password);
    await page.getByRole("heading", { level: 1, name: "Clients" }).waitFor();
    const nav = page.getByRole("navigation", { name: "Main" });
    assert.match(await nav.textContent(), /admin/);
    assert.match(await nav.textContent(), /Administrator/);
    for (const link of ["Clients", "Audit", "Users", "Webhooks", "Configuration", "Import / export"]) {
      assert.equal(await nav.getByRole("link", { name: link }).count(), 1, link);
    }
  });

  it("TOTP: required by configuration, enrolled with a code, then needed at login", async () => {
    await openPage(page, "Configuration");
    await page.getByLabel("Require two-factor authentication for Administrators").check();
    await page.getByRole("button", { name: "Save configuration" }).click();
    await page.getByText("Configuration saved.").waitFor();

    await page.getByRole("button", { name: "Sign out" }).click();
    await signIn(page, stack.baseUrl, "admin", password);
    await page.getByRole("heading", { name: "Set up two-factor authentication" }).waitFor();
    await page.getByRole("button", { name: "Set up" }).click();
    const key = page.getByLabel("Secret key");
    await key.waitFor();
    mfaSecret = (await key.textContent()).replace(/\s+/g, "");
    assert.match(mfaSecret, /^[A-Z2-7]{16,}$/);
    const step = currentStep();
    await page.getByLabel("Code from the app").fill(totp(mfaSecret, step));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("heading", { name: "Two-factor authentication is on" }).waitFor();
    const codes = await page.getByRole("list", { name: "Recovery codes" }).locator("li").count();
    assert.ok(codes >= 5, `recovery codes shown: ${codes}`);
    await page.getByRole("button", { name: "I have saved them, continue" }).click();
    await page.getByRole("heading", { level: 1, name: "Clients" }).waitFor();

    // Sign out and in again: the password alone is not enough now.
    await page.getByRole("button", { name: "Sign out" }).click();
    await signIn(page, stack.baseUrl, "admin", password);
    await page.getByRole("heading", { name: "Two-factor authentication" }).waitFor();
    const wrong = totp(mfaSecret, step + 5);
    await page.getByLabel("Authentication code").fill(wrong);
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByText("That code was not accepted").waitFor();
    // A code works once: the one used for enrolment is spent, the next step's is good.
    await page.getByLabel("Authentication code").fill(totp(mfaSecret, Math.max(step + 1, currentStep())));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("heading", { level: 1, name: "Clients" }).waitFor();
  });

  it("sign-out clears everything: no token, no cookie, no storage, back to login", async (t) => {
    let lastToken = null;
    page.on("request", (req) => {
      const auth = req.headers()["authorization"];
      if (auth) lastToken = auth;
    });
    // A reload proves the session lives in the refresh cookie, not in storage.
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Clients" }).waitFor();
    assert.ok(lastToken, "the page used an access token");
    const cookieBefore = (await context.cookies()).find((c) => c.name === "fig_refresh");
    assert.ok(cookieBefore, "a refresh cookie was set");
    assert.equal(cookieBefore.httpOnly, true);
    assert.equal(cookieBefore.secure, true);
    assert.equal(cookieBefore.sameSite, "Strict");
    assert.equal(cookieBefore.path, "/api/auth");

    const tokenBefore = lastToken.replace(/^Bearer /, "");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    assert.match(await page.getByRole("status").first().textContent(), /signed out/);
    assert.equal(new URL(page.url()).hash, "", "the next user starts on the first page");
    await page.waitForResponse((r) => r.url().endsWith("/api/auth/logout")).catch(() => undefined);

    const state = await page.evaluate(() => ({
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
    }));
    assert.deepEqual(state, { local: 0, session: 0, cookie: "" });
    assert.equal((await context.cookies()).find((c) => c.name === "fig_refresh"), undefined);

    // The revoked refresh token gets nothing, from the page or from anywhere else.
    const refreshed = await page.evaluate(async () => (await fetch("/api/auth/refresh", { method: "POST" })).status);
    assert.equal(refreshed, 401);
    const replay = await call(stack.baseUrl, "POST", "/api/auth/refresh", {
      headers: { Cookie: `fig_refresh=${cookieBefore.value}`, Origin: stack.baseUrl },
    });
    assert.equal(replay.status, 401);

    // No request after sign-out carries a token, and a reload lands on the login page.
    lastToken = null;
    await page.reload();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.goBack().catch(() => undefined);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    assert.equal(lastToken, null);

    // The page forgot its access token, and the server ended its session: an access token taken
    // before sign-out and replayed from outside the browser is refused at once.
    const stale = await call(stack.baseUrl, "GET", "/api/auth/me", { token: tokenBefore });
    assert.equal(stale.status, 401);
  });
});
