// The web client as the browser receives it: security headers on the page and its assets, no
// Content-Security-Policy violation while it runs, and no inline script in the built files.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WEB_DIR, launchBrowser, signIn, startGateway } from "./harness.mjs";

describe("security headers and CSP in the browser", () => {
  let stack;
  let browser;

  before(async () => {
    stack = await startGateway();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("serves the page and its assets with a strict CSP, no framing, HSTS and nosniff", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const documents = [];
    page.on("response", (r) => {
      if (new URL(r.url()).pathname.startsWith("/api")) return;
      documents.push(r);
    });
    const response = await page.goto(`${stack.baseUrl}/`);
    assert.equal(response.status(), 200);
    const headers = response.headers();
    const csp = headers["content-security-policy"] ?? "";
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "object-src 'none'",
      "base-uri 'none'",
    ]) {
      assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
    }
    assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), csp);
    assert.match(headers["strict-transport-security"] ?? "", /max-age=\d{7,}/);
    assert.equal(headers["x-content-type-options"], "nosniff");
    assert.equal(headers["x-frame-options"], "DENY");
    assert.ok(documents.length >= 3, "the page, its script and its style");
    for (const r of documents) {
      assert.equal(r.headers()["x-content-type-options"], "nosniff", r.url());
      assert.ok((r.headers()["content-security-policy"] ?? "").includes("script-src 'self'"), r.url());
    }
    await context.close();
  });

  it("runs without a single CSP violation, and the API answers no-store with a charset", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const violations = [];
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    page.on("pageerror", (e) => violations.push(String(e)));
    const apiResponses = [];
    page.on("response", (r) => {
      if (new URL(r.url()).pathname.startsWith("/api/")) apiResponses.push(r);
    });
    await page.goto(`${stack.baseUrl}/`);
    await signIn(page, stack.baseUrl, "admin", stack.adminPassword);
    await page.getByRole("heading").first().waitFor();
    assert.deepEqual(violations, []);
    assert.ok(apiResponses.length > 0);
    for (const r of apiResponses) {
      const h = r.headers();
      assert.equal(h["cache-control"], "no-store", r.url());
      if (r.status() !== 204) {
        assert.match(h["content-type"] ?? "", /^application\/json; charset=utf-8/i, r.url());
      }
    }
    await context.close();
  });

  it("ships no inline script or style in the built files", () => {
    const dist = join(WEB_DIR, "dist");
    const html = readFileSync(join(dist, "index.html"), "utf8");
    const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>/g)];
    assert.deepEqual(inline, [], "no <script> without src");
    assert.ok(!/<style[\s>]/.test(html) && !/\sstyle=/.test(html), "no inline style");
    assert.ok(!/\son[a-z]+=/.test(html), "no inline event handlers");
    const assets = readdirSync(join(dist, "assets"));
    assert.ok(assets.some((f) => f.endsWith(".js")));
  });
});
