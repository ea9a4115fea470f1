// Browser-test harness: starts the local gateway (already built: ../target/debug/fig-gateway)
// against the emulator with uniquely named resources, drives Debian's Chromium with
// playwright-core, and offers the small helpers the scenarios share (TOTP, API calls, sign-in,
// axe, screenshots). It builds nothing and downloads nothing.
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = resolve(WEB_DIR, "..");
export const GATEWAY = join(REPO_DIR, "target", "debug", "fig-gateway");
export const ARTIFACTS = join(REPO_DIR, "target", "e2e-artifacts");
export const CHROMIUM = "/usr/bin/chromium";
/** Without these Chromium tries the network and stalls (shared/TOOLCHAIN.md). */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
export const ENDPOINT = process.env.AWS_ENDPOINT_URL || "http://127.0.0.1:4566";

const HEALTH_DEADLINE_MS = 90_000;

/** A random strong password (passes the server's length and zxcvbn rules). */
export function strongPassword() {
  return `e2e ${randomBytes(18).toString("base64url")} orbit`;
}

/**
 * Start the gateway with its own table, bucket and key alias; resolve once `GET /api/health`
 * answers (polled against a deadline). `stop()` ends it.
 */
export async function startGateway() {
  if (!existsSync(GATEWAY)) {
    throw new Error(`${GATEWAY} is missing: build it first (cargo build -p fig-gateway)`);
  }
  if (!existsSync(join(WEB_DIR, "dist", "index.html"))) {
    throw new Error("web/dist is missing: run `npm run build` (or `make web`) first");
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const suffix = randomBytes(5).toString("hex");
  const adminPassword = strongPassword();
  const env = {
    ...process.env,
    AWS_ENDPOINT_URL: ENDPOINT,
    FIG_TABLE: `e2e-${suffix}`,
    FIG_AUDIT_BUCKET: `e2e-${suffix}`,
    FIG_KMS_KEY_ID: `alias/e2e-${suffix}`,
    FIG_BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
    FIG_WEB_DIR: join(WEB_DIR, "dist"),
    // Port 0: the gateway binds a free port and prints it (no race between choosing and binding).
    FIG_PORT: "0",
    RUST_LOG: process.env.RUST_LOG || "warn",
  };
  const child = spawn(GATEWAY, [], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));

  const started = Date.now();
  const deadline = started + HEALTH_DEADLINE_MS;
  let baseUrl = null;
  for (;;) {
    if (exited !== null) {
      throw new Error(`fig-gateway exited (${JSON.stringify(exited)}) before it was healthy:\n${output}`);
    }
    baseUrl ??= output.match(/Fig is running at (http:\/\/127\.0\.0\.1:\d+)\//)?.[1] ?? null;
    if (baseUrl === null) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`fig-gateway did not start within ${HEALTH_DEADLINE_MS / 1000} s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    try {
      const res = await fetch(`${baseUrl}/api/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`fig-gateway was not healthy within ${HEALTH_DEADLINE_MS / 1000} s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const startupMs = Date.now() - started;

  const stop = async () => {
    writeFileSync(join(ARTIFACTS, `gateway-${suffix}.log`), output);
    if (exited !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(timer);
  };
  return { baseUrl, adminPassword, suffix, startupMs, stop, output: () => output };
}

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
}

// --- TOTP (RFC 6238, SHA-1, 6 digits, 30 s) -----------------------------------------------------

export function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const clean = text.replace(/[\s=]/g, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of clean) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The TOTP code of `secret` (base32) for time step `step` (default: now). */
export function totp(secret, step = Math.floor(Date.now() / 1000 / 30)) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

export const currentStep = () => Math.floor(Date.now() / 1000 / 30);

// --- API from node -------------------------------------------------------------------------------

/** A JSON call; resolves to `{status, body, headers}` (never throws on an HTTP error). */
export async function call(baseUrl, method, path, { token, body, headers = {} } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (token) h.Authorization = `Bearer ${token}`;
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Log in over the API; resolves to the access token (throws unless 200). */
export async function apiLogin(baseUrl, username, password, extra = {}) {
  const r = await call(baseUrl, "POST", "/api/auth/login", { body: { username, password, ...extra } });
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.accessToken;
}

/** First login of the bootstrap admin over the API: change the one-time password. */
export async function adminWithNewPassword(stack) {
  const token = await apiLogin(stack.baseUrl, "admin", stack.adminPassword);
  const password = strongPassword();
  const r = await call(stack.baseUrl, "POST", "/api/auth/password", {
    token,
    body: { currentPassword: stack.adminPassword, newPassword: password },
  });
  if (r.status !== 204) throw new Error(`password change: ${r.status} ${JSON.stringify(r.body)}`);
  return { password, token: await apiLogin(stack.baseUrl, "admin", password) };
}

/** Register a client with its own secret (≥ 32 random characters); resolves to the secret. */
export async function registerClient(baseUrl, registration) {
  const secret = randomBytes(32).toString("base64url");
  const r = await call(baseUrl, "POST", "/api/clients", {
    body: registration,
    headers: { clientSecret: secret },
  });
  if (r.status >= 300) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
  return secret;
}

// --- the browser -----------------------------------------------------------------------------------

/** Sign in through the login form; with `code`, answers the second step too. */
export async function signIn(page, baseUrl, username, password, code) {
  if (!page.url().startsWith(baseUrl)) await page.goto(`${baseUrl}/`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (code !== undefined) {
    await page.getByLabel("Authentication code").fill(code);
    await page.getByRole("button", { name: "Verify" }).click();
  }
}

/** Go to a page of the console through its navigation link and wait for its heading. */
export async function openPage(page, linkName, heading = linkName) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: linkName }).click();
  await page.getByRole("heading", { level: 1, name: heading }).waitFor();
  await page.waitForFunction(() => document.querySelector("[aria-busy='true']") === null);
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const AXE_SOURCE = readFileSync(join(WEB_DIR, "node_modules", "axe-core", "axe.min.js"), "utf8");

/**
 * Run axe-core on the page (in a context made with `bypassCSP: true`: the real CSP forbids
 * injected scripts). Resolves to the serious and critical violations.
 */
export async function seriousViolations(page) {
  await page.addScriptTag({ content: AXE_SOURCE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}
