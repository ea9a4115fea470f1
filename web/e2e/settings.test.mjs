// Settings in a real browser: an edit checked against the definition, saved with a change
// message and the client version the page loaded, seen in the history and in the client's own
// fetch; an edit from a stale page refused until reloaded; a secret value that never reaches the
// page; instances, client secret rotation and data-key rotation (same values for the client, a new
// version the page picks up); client deletion; and a ReadOnly user who sees no edit controls and
// whom the API refuses anyway.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  adminWithNewPassword,
  apiLogin,
  call,
  launchBrowser,
  openPage,
  registerClient,
  screenshot,
  signIn,
  startGateway,
  strongPassword,
} from "./harness.mjs";

const CLIENT = "e2e-shop";

const row = (page, setting) =>
  page.locator("tr.setting", { has: page.locator(".setting-name", { hasText: new RegExp(`^${setting}$`) }) });
const valueCell = (page, setting, text) =>
  row(page, setting).locator('td[data-label="Value"]', { hasText: new RegExp(`^${text}$`) });
/** The client version a page shows in the client's header ("version 3"). */
const shownVersion = async (page) =>
  Number((await page.locator(`section[data-client="${CLIENT}"] .version`).textContent()).replace(/\D+/g, ""));
const isPut = (r) => r.request().method() === "PUT";

describe("settings in the browser", () => {
  let stack;
  let browser;
  let admin;
  let clientSecret;
  let context;
  let page;
  /** Every API response body the admin page received. */
  const bodies = [];
  const pending = [];

  before(async () => {
    stack = await startGateway();
    admin = await adminWithNewPassword(stack);
    clientSecret = await registerClient(stack.baseUrl, {
      name: CLIENT,
      description: "Shop service (e2e)",
      settings: [
        { name: "Greeting", type: "string", defaultValue: "hello", description: "Shown on the front page", group: "Front" },
        { name: "MaxItems", type: "int", defaultValue: 10, minimum: 1, maximum: 100, description: "Basket size", group: "Basket" },
        { name: "DbPassword", type: "string", secret: true, description: "Database password" },
        { name: "Mode", type: "string", defaultValue: "safe", validValues: ["fast", "safe"], description: "Mode", category: "Ops" },
        { name: "Tracing", type: "bool", defaultValue: false, advanced: true, description: "Verbose tracing" },
      ],
    });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on("response", (r) => {
      if (new URL(r.url()).pathname.startsWith("/api/")) {
        pending.push(r.text().then((t) => bodies.push(t), () => undefined));
      }
    });
    await signIn(page, stack.baseUrl, "admin", admin.password);
    await page.getByRole("heading", { level: 1, name: "Clients" }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("filters, folds advanced settings, checks a value against its definition before saving", async () => {
    await row(page, "Greeting").waitFor();
    // Advanced settings are folded away by default.
    assert.equal(await row(page, "Tracing").isVisible(), false);
    await page.getByText("Advanced settings (1)").click();
    assert.equal(await row(page, "Tracing").isVisible(), true);

    // The group filter narrows the settings.
    await page.getByLabel("Group").selectOption("Basket");
    assert.equal(await row(page, "Greeting").count(), 0);
    assert.equal(await row(page, "MaxItems").count(), 1);
    await page.getByLabel("Group").selectOption("");
    await page.getByLabel("Search").fill("no-such-thing");
    await page.getByText("Nothing matches the filter.").waitFor();
    await page.getByLabel("Search").fill("");

    // Out of range: refused in the page, no request sent.
    let puts = 0;
    const countPuts = (req) => {
      if (req.method() === "PUT") puts += 1;
    };
    page.on("request", countPuts);
    await page.getByRole("button", { name: "Edit MaxItems" }).click();
    await page.getByLabel("New value").fill("500");
    await page.getByLabel("Change message").fill("too many");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByText("The largest value allowed is 100.").waitFor();
    await page.getByLabel("New value").fill("ten");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByText("Enter a whole number.").waitFor();
    page.off("request", countPuts);
    assert.equal(puts, 0);
    await page.getByRole("button", { name: "Cancel" }).click();
  });

  it("an edit needs a change message, shows in the history and in the client's fetch", async () => {
    const loaded = await shownVersion(page);
    assert.ok(loaded >= 1);
    await page.getByRole("button", { name: "Edit Greeting" }).click();
    await page.getByLabel("New value").fill("bonjour");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByText("Enter a change message").waitFor();
    await page.getByLabel("Change message").fill("e2e: greet in French");
    const saved = page.waitForResponse((r) => r.request().method() === "PUT");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    const put = await saved;
    assert.equal(put.status(), 200);
    assert.deepEqual(JSON.parse(put.request().postData()), {
      changeMessage: "e2e: greet in French",
      values: [{ name: "Greeting", value: "bonjour" }],
      version: loaded,
    });
    assert.deepEqual(await put.json(), { version: loaded + 1 });
    await row(page, "Greeting").locator('td[data-label="Value"]', { hasText: "bonjour" }).waitFor();
    assert.equal(await shownVersion(page), loaded + 1);

    await page.getByRole("button", { name: "History of Greeting" }).click();
    const history = page.locator("tr.history-row");
    await history.getByText("e2e: greet in French").waitFor();
    const change = await history.locator('td[data-label="Change"]').first().textContent();
    assert.equal(change, "hello → bonjour");
    assert.match(await history.locator('td[data-label="Who"]').first().textContent(), /admin/);

    const fetched = await call(stack.baseUrl, "GET", `/api/clients/${CLIENT}/settings`, {
      headers: { clientSecret },
    });
    assert.equal(fetched.status, 200);
    const greeting = fetched.body.settings.find((s) => s.name === "Greeting");
    assert.equal(greeting.value, "bonjour");
  });

  it("a value changed by another admin meanwhile: the save is refused, Reload shows it, saving again works", async () => {
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.waitForFunction(() => document.querySelector("[aria-busy='true']") === null);
    await valueCell(page, "MaxItems", "10").waitFor();
    const loaded = await shownVersion(page);
    await page.getByRole("button", { name: "Edit MaxItems" }).click();
    await page.getByLabel("New value").fill("30");
    await page.getByLabel("Change message").fill("e2e: a bigger basket");

    // Another administrator changes the same setting through the API, from the version they saw.
    const other = await apiLogin(stack.baseUrl, "admin", admin.password);
    const seen = await call(stack.baseUrl, "GET", `/api/admin/clients/${CLIENT}`, { token: other });
    assert.equal(seen.status, 200);
    assert.equal(seen.body.version, loaded);
    const theirs = await call(stack.baseUrl, "PUT", `/api/admin/clients/${CLIENT}/settings`, {
      token: other,
      body: { changeMessage: "e2e: the other admin", values: [{ name: "MaxItems", value: 42 }], version: seen.body.version },
    });
    assert.equal(theirs.status, 200, JSON.stringify(theirs.body));
    assert.equal(theirs.body.version, loaded + 1);

    // The page still holds the old version: its save is refused and nothing is written.
    const refused = page.waitForResponse(isPut);
    await page.getByRole("button", { name: "Save", exact: true }).click();
    const put = await refused;
    assert.equal(put.status(), 409);
    assert.equal(JSON.parse(put.request().postData()).version, loaded);
    assert.equal((await put.json()).error.code, "STALE_VERSION");
    await page.getByText("Someone changed this client after you loaded it, so nothing was saved.").waitFor();
    assert.equal(await valueCell(page, "MaxItems", "10").count(), 1, "the page still shows what it loaded");

    // Reload reads the client again: the other admin's value and version.
    const reloaded = page.waitForResponse((r) => new URL(r.url()).pathname === `/api/admin/clients/${CLIENT}`);
    await page.getByRole("button", { name: "Reload" }).click();
    assert.equal((await reloaded).status(), 200);
    await valueCell(page, "MaxItems", "42").waitFor();
    assert.equal(await shownVersion(page), loaded + 1);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Edit MaxItems");

    // Saving again works, and so does the save after it (with the version the first answered).
    await page.getByRole("button", { name: "Edit MaxItems" }).click();
    await page.getByLabel("New value").fill("30");
    await page.getByLabel("Change message").fill("e2e: a bigger basket, again");
    let saved = page.waitForResponse(isPut);
    await page.getByRole("button", { name: "Save", exact: true }).click();
    let again = await saved;
    assert.equal(again.status(), 200);
    assert.equal(JSON.parse(again.request().postData()).version, loaded + 1);
    await valueCell(page, "MaxItems", "30").waitFor();
    await page.locator(".client-notice", { hasText: "Saved MaxItems." }).waitFor();

    await page.getByRole("button", { name: "Edit Mode" }).click();
    await page.getByLabel("New value").selectOption("fast");
    await page.getByLabel("Change message").fill("e2e: go fast");
    saved = page.waitForResponse(isPut);
    await page.getByRole("button", { name: "Save", exact: true }).click();
    again = await saved;
    assert.equal(again.status(), 200);
    assert.equal(JSON.parse(again.request().postData()).version, loaded + 2);
    await valueCell(page, "Mode", "fast").waitFor();
    assert.equal(await shownVersion(page), loaded + 3);

    const fetched = await call(stack.baseUrl, "GET", `/api/clients/${CLIENT}/settings`, { headers: { clientSecret } });
    assert.equal(fetched.body.settings.find((s) => s.name === "MaxItems").value, 30);
    assert.equal(fetched.body.settings.find((s) => s.name === "Mode").value, "fast");

    // Both admins' changes are in the history (a screenshot for the README, at 1280 px).
    await page.getByRole("button", { name: "History of MaxItems" }).click();
    const history = page.locator("tr.history-row");
    await history.getByText("e2e: the other admin").waitFor();
    assert.deepEqual(await history.locator('td[data-label="Change"]').allTextContents(), ["42 → 30", "10 → 42"]);
    await screenshot(page, "clients-settings-1280");
  });

  it("a secret value never reaches the page: not in the DOM, not in any response", async () => {
    const secret = `S3cret-${randomBytes(12).toString("hex")}`;
    assert.equal(await row(page, "DbPassword").locator('td[data-label="Value"]').textContent(), "not set");
    await page.getByRole("button", { name: "Edit DbPassword" }).click();
    const input = page.getByLabel("New value");
    assert.equal(await input.getAttribute("type"), "password");
    assert.equal(await input.inputValue(), "");
    await input.fill(secret);
    await page.getByLabel("Change message").fill("e2e: rotate the database password");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await row(page, "DbPassword").locator('td[data-label="Value"]', { hasText: /^set$/ }).waitFor();

    // Its history says that it changed, never what to.
    await page.getByRole("button", { name: "History of DbPassword" }).click();
    await page.locator("tr.history-row").getByText("secret value changed (not shown)").waitFor();
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.waitForFunction(() => document.querySelector("[aria-busy='true']") === null);

    await Promise.all(pending);
    assert.ok(bodies.length >= 5, `responses seen: ${bodies.length}`);
    for (const body of bodies) assert.ok(!body.includes(secret), "a response carried the secret");
    assert.ok(!(await page.content()).includes(secret), "the DOM holds the secret");
    const values = await page.evaluate(() => [...document.querySelectorAll("input, textarea")].map((i) => i.value));
    assert.ok(!values.includes(secret), "an input still holds the secret");

    // It was saved all the same: the client gets it.
    const fetched = await call(stack.baseUrl, "GET", `/api/clients/${CLIENT}/settings`, { headers: { clientSecret } });
    assert.equal(fetched.body.settings.find((s) => s.name === "DbPassword").value, secret);
  });

  it("instances: created, edited on their own, deleted", async () => {
    const section = page.locator(`section[data-client="${CLIENT}"]`);
    await section.getByText(/^Instances \(0\)$/).click();
    await section.getByLabel("New instance name").fill("eu-west");
    await section.getByRole("button", { name: "Create instance" }).click();
    await section.getByText(/^Instances \(1\)$/).waitFor();

    await page.getByRole("button", { name: "Edit Greeting" }).click();
    await page.getByLabel("New value").fill("moin");
    await page.getByLabel("Apply to").selectOption("eu-west");
    await page.getByLabel("Change message").fill("e2e: instance greeting");
    const saved = page.waitForResponse((r) => r.request().method() === "PUT");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    const put = await saved;
    assert.equal(put.status(), 200);
    assert.equal(JSON.parse(put.request().postData()).instance, "eu-west");

    const inst = await call(stack.baseUrl, "GET", `/api/clients/${CLIENT}/settings?instance=eu-west`, { headers: { clientSecret } });
    assert.equal(inst.body.settings.find((s) => s.name === "Greeting").value, "moin");
    const base = await call(stack.baseUrl, "GET", `/api/clients/${CLIENT}/settings`, { headers: { clientSecret } });
    assert.equal(base.body.settings.find((s) => s.name === "Greeting").value, "bonjour");

    // Only this client was redrawn after each change, and what was open stays open.
    assert.equal(await section.locator("details.instances-block").evaluate((d) => d.open), true);
    await section.getByRole("button", { name: "Delete instance eu-west" }).click();
    await section.getByText(/^Instances \(0\)$/).waitFor();
  });

  it("client secret rotation shows the new secret once, and it works", async () => {
    const section = page.locator(`section[data-client="${CLIENT}"]`);
    await section.getByText("Manage client").click();
    await section.getByLabel("Grace period (minutes)").fill("5");
    await section.getByRole("button", { name: "Rotate client secret" }).click();
    const panel = section.getByRole("region", { name: `New client secret for ${CLIENT}` });
    await panel.waitFor();
    assert.match(await panel.textContent(), /you will not see it again/);
    assert.equal(await panel.getByRole("button", { name: "Copy" }).count(), 1);
    const newSecret = (await panel.getByLabel("New client secret").textContent()).trim();
    assert.ok(newSecret.length >= 32);
    const withNew = await call(stack.baseUrl, "GET", `/api/clients/${CLIENT}/settings`, { headers: { clientSecret: newSecret } });
    assert.equal(withNew.status, 200);
    const withOld = await call(stack.baseUrl, "GET", `/api/clients/${CLIENT}/settings`, { headers: { clientSecret } });
    assert.equal(withOld.status, 200, "the old secret works during the grace period");
    await panel.getByRole("button", { name: "Done, hide it" }).click();
    assert.ok(!(await page.content()).includes(newSecret));
    clientSecret = newSecret;
  });

  it("data-key rotation: asked first, progress, the result line; the client fetches the same values; an edit afterwards saves", async () => {
    const section = page.locator(`section[data-client="${CLIENT}"]`);
    const fetchSettings = () => call(stack.baseUrl, "GET", `/api/clients/${CLIENT}/settings`, { headers: { clientSecret } });
    const before = await fetchSettings();
    assert.equal(before.status, 200);
    const loaded = await shownVersion(page);

    const manage = section.locator("details.manage-block");
    if (!(await manage.evaluate((d) => d.open))) await section.getByText("Manage client").click();
    await section.getByRole("button", { name: "Rotate data key" }).click();
    const confirm = section.getByRole("group", { name: `Rotate the data key of ${CLIENT}?` });
    await confirm.getByText(
      "Seals this client's settings again under a new encryption key. Services keep working; their next fetch sees a new version.",
    ).waitFor();

    // Hold the request until the progress line has been seen.
    let release;
    const held = new Promise((r) => (release = r));
    const isRotation = (url) => new URL(url).pathname === `/api/admin/clients/${CLIENT}/data-key`;
    await page.route(isRotation, async (route) => {
      await held;
      await route.continue();
    });
    const answered = page.waitForResponse((r) => isRotation(r.url()));
    await confirm.getByRole("button", { name: "Yes, rotate" }).click();
    await section.getByText("Rotating the data key…").waitFor();
    assert.equal(await section.getByRole("button", { name: "Rotate data key" }).isDisabled(), true);
    release();
    const res = await answered;
    await page.unroute(isRotation);
    assert.equal(res.request().method(), "POST");
    assert.equal(res.request().postData(), null);
    assert.equal(res.status(), 200);
    const rotated = await res.json();
    assert.equal(rotated.dataKeyVersion, 2);
    assert.ok(rotated.resealedValues >= 4, `resealed ${rotated.resealedValues}`);

    await section
      .locator(".client-notice", { hasText: `Sealed ${rotated.resealedValues} values under data key version 2.` })
      .waitFor();
    // The client was read again: its new version is on the page.
    await page.waitForFunction(
      ([name, v]) => document.querySelector(`section[data-client="${name}"] .version`)?.textContent === `version ${v}`,
      [CLIENT, loaded + 1],
    );
    assert.equal(await section.getByText("Rotating the data key…").count(), 0);

    // The service sees a new version with the same values.
    const after = await fetchSettings();
    assert.equal(after.status, 200, JSON.stringify(after.body));
    assert.deepEqual(after.body.settings, before.body.settings);
    assert.notEqual(after.headers.get("etag"), before.headers.get("etag"));

    // An edit in the page afterwards sends the new version and is saved (no false 409).
    await page.getByRole("button", { name: "Edit Greeting" }).click();
    await page.getByLabel("New value").fill("hallo");
    await page.getByLabel("Change message").fill("e2e: after the data-key rotation");
    const saved = page.waitForResponse(isPut);
    await page.getByRole("button", { name: "Save", exact: true }).click();
    const put = await saved;
    assert.equal(put.status(), 200, await put.text());
    assert.equal(JSON.parse(put.request().postData()).version, loaded + 1);
    await valueCell(page, "Greeting", "hallo").waitFor();
    assert.equal(await shownVersion(page), loaded + 2);
    const edited = await fetchSettings();
    assert.equal(edited.body.settings.find((s) => s.name === "Greeting").value, "hallo");
    assert.equal(edited.body.settings.find((s) => s.name === "MaxItems").value, 30);
  });

  it("a ReadOnly user sees no edit controls, and the API refuses them anyway", async () => {
    // The admin creates the user on the Users page.
    const initial = strongPassword();
    await openPage(page, "Users");
    await page.getByLabel("Username").fill("viewer");
    await page.getByLabel("Initial password").fill(initial);
    await page.getByLabel("Role").selectOption("ReadOnly");
    await page.getByRole("button", { name: "Create user" }).click();
    await page.locator('tr[data-user="viewer"]').waitFor();

    const ctx2 = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const p2 = await ctx2.newPage();
    await signIn(p2, stack.baseUrl, "viewer", initial);
    await p2.getByRole("heading", { name: "Change your password" }).waitFor();
    const password = strongPassword();
    await p2.getByLabel("Current password").fill(initial);
    await p2.getByLabel("New password", { exact: true }).fill(password);
    await p2.getByLabel("Confirm new password").fill(password);
    await p2.getByRole("button", { name: "Change password" }).click();
    await signIn(p2, stack.baseUrl, "viewer", password);
    await p2.getByRole("heading", { level: 1, name: "Clients" }).waitFor();
    await row(p2, "Greeting").waitFor();

    const nav = p2.getByRole("navigation", { name: "Main" });
    assert.match(await nav.textContent(), /ReadOnly/);
    for (const hidden of ["Users", "Webhooks", "Import / export"]) {
      assert.equal(await nav.getByRole("link", { name: hidden }).count(), 0, hidden);
    }
    assert.equal(await p2.getByRole("button", { name: /^Edit/ }).count(), 0);
    assert.equal(await p2.getByText("Manage client").count(), 0);
    assert.equal(await p2.getByRole("button", { name: /data key/i }).count(), 0);
    assert.equal(await p2.getByRole("button", { name: "Create instance" }).count(), 0);
    assert.ok((await p2.getByRole("button", { name: /^History of/ }).count()) > 0);

    await openPage(p2, "Configuration");
    assert.match(await p2.locator("main").textContent(), /Only an Administrator can change/);
    assert.equal(await p2.locator("main input, main textarea, main select").count(), 0);
    assert.equal(await p2.getByRole("button", { name: /Save/ }).count(), 0);
    await ctx2.close();

    const token = await apiLogin(stack.baseUrl, "viewer", password);
    const put = await call(stack.baseUrl, "PUT", `/api/admin/clients/${CLIENT}/settings`, {
      token,
      body: { changeMessage: "sneaky", values: [{ name: "Greeting", value: "hacked" }] },
    });
    assert.equal(put.status, 403);
    const conf = await call(stack.baseUrl, "PUT", "/api/admin/configuration", {
      token,
      body: { pollIntervalMs: 5000 },
    });
    assert.equal(conf.status, 403);
    const rotate = await call(stack.baseUrl, "POST", `/api/admin/clients/${CLIENT}/secret`, { token, body: { graceMinutes: 0 } });
    assert.equal(rotate.status, 403);
    const dataKey = await call(stack.baseUrl, "POST", `/api/admin/clients/${CLIENT}/data-key`, { token });
    assert.equal(dataKey.status, 403);
  });

  it("deleting a client asks for its name, then removes it", async () => {
    const doomed = "e2e-doomed";
    await registerClient(stack.baseUrl, { name: doomed, description: "", settings: [{ name: "A", type: "string" }] });
    await openPage(page, "Clients");
    const section = page.locator(`section[data-client="${doomed}"]`);
    await section.getByText("Manage client").click();
    const del = section.getByRole("button", { name: "Delete client" });
    assert.equal(await del.isDisabled(), true);
    await section.getByLabel(`Type "${doomed}" to confirm`).fill("e2e-doome");
    assert.equal(await del.isDisabled(), true);
    await section.getByLabel(`Type "${doomed}" to confirm`).fill(doomed);
    const answered = page.waitForResponse((r) => r.request().method() === "DELETE");
    await del.click();
    assert.equal((await answered).status(), 204);
    await section.waitFor({ state: "detached" });
    const list = await call(stack.baseUrl, "GET", "/api/admin/clients", { token: await apiLogin(stack.baseUrl, "admin", admin.password) });
    assert.ok(!list.body.clients.some((c) => c.name === doomed));
  });
});
