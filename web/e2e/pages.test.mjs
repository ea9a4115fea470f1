// The other pages in a real browser: configuration, webhooks (with a real receiver on loopback,
// allow-listed through the configuration page), audit, import/export; then every main page
// checked with axe-core, at 1280 px and at 390 px phone width, with screenshots, and the
// console worked by keyboard.
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { after, before, describe, it } from "node:test";
import {
  adminWithNewPassword,
  call,
  launchBrowser,
  openPage,
  registerClient,
  screenshot,
  seriousViolations,
  signIn,
  startGateway,
} from "./harness.mjs";

const MAIN_PAGES = ["Clients", "Audit", "Users", "Webhooks", "Configuration", "Import / export"];
// What a receiver does: HMAC-SHA256 of "t.body" under the signing secret, compared in constant time.
const signedWith = (secret, delivery) => {
  const [t, v1] = String(delivery.headers["fig-signature"]).replace(/^t=/, "").split(",v1=");
  const expected = createHmac("sha256", secret).update(`${t}.${delivery.body}`).digest();
  const given = Buffer.from(v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
};
const fileName = (title) => title.toLowerCase().replace(/[^a-z]+/g, "-").replace(/-+$/, "");

describe("console pages in the browser", () => {
  let stack;
  let browser;
  let admin;
  let context;
  let page;
  let receiver;
  let receiverUrl;
  const deliveries = [];

  before(async () => {
    stack = await startGateway();
    admin = await adminWithNewPassword(stack);
    await registerClient(stack.baseUrl, {
      name: "e2e-pages",
      description: "A client so that pages have something to show",
      settings: [
        { name: "Greeting", type: "string", defaultValue: "hello", description: "Front page", group: "Front" },
        { name: "ApiKey", type: "string", secret: true, description: "Key", category: "Security" },
        { name: "Tuning", type: "json", defaultValue: { a: 1 }, advanced: true, description: "Knobs" },
      ],
    });
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        deliveries.push({ headers: req.headers, body });
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("ok");
      });
    });
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
    receiverUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    await signIn(page, stack.baseUrl, "admin", admin.password);
    await page.getByRole("heading", { level: 1, name: "Clients" }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
    receiver?.close();
  });

  it("configuration: checked before saving, saved, read back", async () => {
    await openPage(page, "Configuration");
    let puts = 0;
    const countPuts = (req) => {
      if (req.method() === "PUT") puts += 1;
    };
    page.on("request", countPuts);
    await page.getByLabel("Poll interval (milliseconds)").fill("5");
    await page.getByRole("button", { name: "Save configuration" }).click();
    await page.getByText("The poll interval must be a whole number").waitFor();
    assert.equal(puts, 0);
    page.off("request", countPuts);

    await page.getByLabel("Poll interval (milliseconds)").fill("15000");
    await page.getByLabel("Allow file imports").check();
    await page.getByLabel("Webhook hosts allowed even when private or loopback").fill(`127.0.0.1:${receiver.address().port}\n`);
    await page.getByRole("button", { name: "Save configuration" }).click();
    await page.getByText("Configuration saved.").waitFor();

    const read = await call(stack.baseUrl, "GET", "/api/admin/configuration", { token: admin.token });
    assert.equal(read.status, 200);
    assert.equal(read.body.pollIntervalMs, 15000);
    assert.equal(read.body.allowFileImports, true);
    assert.deepEqual(read.body.webhookAllowedHosts, [`127.0.0.1:${receiver.address().port}`]);
  });

  it("webhooks: create (secret once), send a test, edit, dead letters, delete", async () => {
    await openPage(page, "Webhooks");
    await page.getByText("No webhooks yet.").waitFor();
    await page.getByLabel("Receiver URL").fill(receiverUrl);
    await page.getByLabel("SettingValueChanged").check();
    await page.getByLabel("Client pattern (optional)").fill("e2e-.*");
    await page.getByRole("button", { name: "Create webhook" }).click();
    const once = page.getByRole("region", { name: "Signing secret of the new webhook" });
    await once.waitFor();
    assert.match(await once.textContent(), /you will not see it again/);
    const secret = (await once.getByLabel("Signing secret").textContent()).trim();
    assert.ok(secret.length >= 16);
    const card = page.locator("section.webhook");
    await card.waitFor();
    assert.match(await card.textContent(), /SettingValueChanged/);
    assert.match(await card.textContent(), /e2e-\.\*/);
    await once.getByRole("button", { name: "Done, hide it" }).click();
    assert.ok(!(await page.content()).includes(secret), "the signing secret stays on the page");

    await card.getByRole("button", { name: /^Send test to/ }).click();
    await card.getByText(/^Test (not )?delivered/).waitFor();
    assert.match(await card.locator(".test-result").textContent(), /^Test delivered \(HTTP 200\)\.$/);
    assert.ok(deliveries.length >= 1, "the receiver got the test");
    assert.ok(signedWith(secret, deliveries.at(-1)), "signed with the secret shown at creation");

    // Replace the secret: shown once, and the next delivery is signed with it, not the old one.
    await card.getByRole("button", { name: /^Replace the signing secret/ }).click();
    await page.getByRole("button", { name: "Replace signing secret" }).click();
    const replaced = page.getByRole("region", { name: "New signing secret" });
    await replaced.waitFor();
    const newSecret = (await replaced.getByLabel("Signing secret").textContent()).trim();
    assert.notEqual(newSecret, secret);
    await replaced.getByRole("button", { name: "Done, hide it" }).click();
    assert.ok(!(await page.content()).includes(newSecret));
    // The list reloads after the change (progress shown synchronously with the secret).
    await page.locator(".webhooks-content[aria-busy]").waitFor({ state: "detached" });
    const sent = deliveries.length;
    await card.getByRole("button", { name: /^Send test to/ }).click();
    await card.getByText(/^Test (not )?delivered/).waitFor();
    assert.equal(deliveries.length, sent + 1);
    assert.ok(signedWith(newSecret, deliveries.at(-1)), "signed with the new secret");
    assert.ok(!signedWith(secret, deliveries.at(-1)), "the old secret is retired");

    await card.getByRole("button", { name: /^Edit the webhook/ }).click();
    await card.getByLabel("SecurityEvent").check();
    await card.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByText("Webhook saved.").waitFor();
    assert.match(await page.locator("section.webhook").textContent(), /SecurityEvent/);
    // A webhook with a delivery, for the README (the signing secret is hidden by now).
    assert.ok(!(await page.content()).includes(secret));
    await screenshot(page, "webhooks-configured-1280");

    await page.locator("section.webhook").getByRole("button", { name: /^Dead letters \(\d+\) of/ }).click();
    await page.getByText("No dead letters").waitFor();

    await page.locator("section.webhook").getByRole("button", { name: /^Delete the webhook/ }).click();
    await page.getByRole("button", { name: "Delete webhook" }).click();
    await page.getByText("No webhooks yet.").waitFor();
  });

  it("audit: the last 24 hours by default, filters by type", async () => {
    await openPage(page, "Audit");
    // Events reach the audit view through the stream; search again until they are there.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const text = (await page.locator(".audit-results").textContent()) ?? "";
      if (text.includes("ServerConfigurationChanged")) break;
      assert.ok(Date.now() < deadline, `no ServerConfigurationChanged event in the audit view: ${text.slice(0, 300)}`);
      await page.getByRole("button", { name: "Search" }).click();
      await page.waitForFunction(() => document.querySelector("[aria-busy='true']") === null);
    }
    const from = await page.getByLabel("From").inputValue();
    const hoursBack = (Date.now() - new Date(from).getTime()) / 3_600_000;
    assert.ok(hoursBack > 23.9 && hoursBack < 24.1, `default range starts ${hoursBack} h back`);

    await page.getByLabel("Event type").fill("LoginSucceeded");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForFunction(() => document.querySelector("[aria-busy='true']") === null);
    const types = await page.locator("tr.audit-event .event-type").allTextContents();
    assert.ok(types.length >= 1);
    assert.deepEqual([...new Set(types)], ["LoginSucceeded"]);
  });

  it("import / export: downloads without and with sealed secrets, imports a file", async () => {
    await openPage(page, "Import / export");
    // A download, or the error the page shows instead (fails fast, with the server's message).
    const download = async () => {
      const alert = page.locator('[role="alert"]:not([hidden])');
      const got = page.waitForEvent("download");
      await page.getByRole("button", { name: "Download export" }).click();
      const first = await Promise.race([got, alert.first().waitFor().then(() => null)]);
      if (first === null) assert.fail(`no download; the page says: ${await alert.first().textContent()}`);
      return first;
    };
    const plain = await download();
    assert.match(plain.suggestedFilename(), /^fig-export-.*\.json$/);
    const plainPath = await plain.path();
    const doc = JSON.parse(await readFile(plainPath, "utf8"));
    assert.ok(JSON.stringify(doc).includes("e2e-pages"));
    await page.getByText("Export downloaded (no secret values).").waitFor();

    await page.getByLabel("Passphrase to seal secret values (optional)").fill("e2e sealed passphrase 1984");
    const sealed = await download();
    assert.match(sealed.suggestedFilename(), /-sealed\.json$/);

    await page.getByLabel("Export file").setInputFiles(plainPath);
    await page.getByLabel("Values only").check();
    await page.getByRole("button", { name: "Import", exact: true }).click();
    await page.getByText(/^Imported \d+ clients? and \d+ values?\.$/).waitFor();
  });

  it("every main page: no serious axe violations, fits 1280 and 390 px, works by keyboard", async () => {
    // axe is injected, which the real CSP forbids: this context bypasses CSP for that alone.
    const axeContext = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    const p = await axeContext.newPage();
    const problems = [];
    await p.goto(`${stack.baseUrl}/`);
    await p.getByRole("heading", { name: "Sign in" }).waitFor();
    problems.push(...(await seriousViolations(p)).map((v) => ({ page: "Sign in", ...v })));
    await screenshot(p, "sign-in-1280");
    await signIn(p, stack.baseUrl, "admin", admin.password);
    await p.getByRole("heading", { level: 1, name: "Clients" }).waitFor();

    for (const title of MAIN_PAGES) {
      await openPage(p, title);
      await p.setViewportSize({ width: 1280, height: 900 });
      problems.push(...(await seriousViolations(p)).map((v) => ({ page: title, ...v })));
      await screenshot(p, `${fileName(title)}-1280`);
      await p.setViewportSize({ width: 390, height: 844 });
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${title} is ${overflow}px wider than a 390px screen`);
      problems.push(...(await seriousViolations(p)).map((v) => ({ page: `${title} (390px)`, ...v })));
      await screenshot(p, `${fileName(title)}-390`);
      await p.setViewportSize({ width: 1280, height: 900 });
    }
    assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));

    // Keyboard: Tab reaches the navigation with a visible focus ring; Enter follows a link.
    await openPage(p, "Clients");
    await p.locator("body").focus();
    let reached = null;
    // Focus may start on the page's heading, so Tab may first go through the page's controls
    // and wrap around to the navigation: allow for every control of the Clients page.
    for (let i = 0; i < 40 && reached === null; i += 1) {
      await p.keyboard.press("Tab");
      reached = await p.evaluate(() => {
        const a = document.activeElement;
        if (!(a instanceof HTMLAnchorElement) || a.textContent !== "Audit") return null;
        const style = getComputedStyle(a);
        return { outline: style.outlineStyle, width: style.outlineWidth };
      });
    }
    assert.ok(reached !== null, "Tab never reached the Audit link");
    assert.notEqual(reached.outline, "none");
    assert.notEqual(reached.width, "0px");
    await p.keyboard.press("Enter");
    await p.getByRole("heading", { level: 1, name: "Audit" }).waitFor();
    const focused = await p.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.textContent}`);
    assert.equal(focused, "H1 Audit", "focus moves to the new page's heading");
    await axeContext.close();
  });
});
