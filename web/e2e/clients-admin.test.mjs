// Clients an Administrator manages in a real browser: a new client created on the Clients page
// while self-registration is off, its secret shown once (with a copy button and what to do with
// it) and working for the service's registration; a secret setting that a registration cannot
// make plain, declassified in the page after its name is typed (values and history deleted, the
// registration then accepted); the page under its real CSP; axe on the new form and confirmation.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  adminWithNewPassword,
  call,
  launchBrowser,
  screenshot,
  seriousViolations,
  signIn,
  startGateway,
} from "./harness.mjs";

const CLIENT = "e2e-joined";
const definitions = (tokenSecret) => ({
  name: CLIENT,
  description: "A service an Administrator let in",
  settings: [
    { name: "Greeting", type: "string", defaultValue: "hello", description: "Front page" },
    { name: "Token", type: "string", secret: tokenSecret, description: "Upstream token" },
  ],
});

describe("clients an Administrator manages, in the browser", () => {
  let stack;
  let browser;
  let admin;
  let context;
  let page;
  let clientSecret;
  const cspViolations = [];

  const section = () => page.locator(`section[data-client="${CLIENT}"]`);
  const register = (body, secret = clientSecret) =>
    call(stack.baseUrl, "POST", "/api/clients", { body, headers: { clientSecret: secret } });
  const refreshList = async () => {
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.waitForFunction(() => document.querySelector("[aria-busy='true']") === null);
  };

  before(async () => {
    stack = await startGateway();
    admin = await adminWithNewPassword(stack);
    // Services may not register themselves (the AWS default): only an Administrator lets one in.
    const read = await call(stack.baseUrl, "GET", "/api/admin/configuration", { token: admin.token });
    assert.equal(read.status, 200);
    const closed = await call(stack.baseUrl, "PUT", "/api/admin/configuration", {
      token: admin.token,
      body: { ...read.body, allowNewRegistrations: false },
    });
    assert.equal(closed.status, 200, JSON.stringify(closed.body));
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await signIn(page, stack.baseUrl, "admin", admin.password);
    await page.getByRole("heading", { level: 1, name: "Clients" }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("a new client: its secret is shown once with a copy button, and the service registers with it", async () => {
    // With registrations closed, an unknown service is refused.
    const stranger = await register(definitions(true), randomBytes(32).toString("base64url"));
    assert.ok(stranger.status >= 400, `a self-registration was accepted: ${stranger.status}`);

    const toggle = page.getByRole("button", { name: "New client", exact: true });
    assert.equal(await toggle.getAttribute("aria-expanded"), "false");
    await toggle.click();
    assert.equal(await toggle.getAttribute("aria-expanded"), "true");
    const form = page.locator("form.client-create");
    await form.getByRole("heading", { name: "New client" }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("name")), "new-client-name");

    // A bad name is refused in the page; nothing is sent.
    let posts = 0;
    const countPosts = (req) => {
      if (req.method() === "POST" && new URL(req.url()).pathname === "/api/admin/clients") posts += 1;
    };
    page.on("request", countPosts);
    await form.getByLabel("Client name").fill("not a name!");
    await form.getByRole("button", { name: "Create client" }).click();
    await form.getByText("The client name is not valid").waitFor();
    assert.equal(posts, 0);
    page.off("request", countPosts);

    await form.getByLabel("Client name").fill(CLIENT);
    await form.getByLabel("Description (optional)").fill("A service an Administrator let in");
    const created = page.waitForResponse(
      (r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/api/admin/clients",
    );
    await form.getByRole("button", { name: "Create client" }).click();
    const res = await created;
    assert.equal(res.status(), 201);
    assert.deepEqual(JSON.parse(res.request().postData()), { name: CLIENT, description: "A service an Administrator let in" });

    const panel = page.getByRole("region", { name: `Client secret of ${CLIENT}` });
    await panel.waitFor();
    const text = await panel.textContent();
    assert.match(text, /Give this secret to the service; it registers its settings with it\. It is shown only now\./);
    assert.match(text, /you will not see it again/);
    assert.equal(await panel.getByRole("button", { name: "Copy" }).count(), 1);
    clientSecret = (await panel.getByLabel("Client secret").textContent()).trim();
    assert.equal(clientSecret, (await res.json()).clientSecret);
    assert.ok(clientSecret.length >= 32);
    assert.equal(await page.locator("form.client-create").count(), 0, "the form closed");

    // The list loaded again: the new client is there, without settings yet.
    await section().waitFor();
    assert.match(await section().textContent(), /no settings yet/);
    await screenshot(page, "clients-new-client-secret-1280");

    // The service registers its definitions with that secret (registrations are still closed).
    const registered = await register(definitions(true));
    assert.ok(registered.status < 300, `registration: ${registered.status} ${JSON.stringify(registered.body)}`);
    const fetched = await call(stack.baseUrl, "GET", `/api/clients/${CLIENT}/settings`, { headers: { clientSecret } });
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body.settings.find((s) => s.name === "Greeting").value, "hello");

    await panel.getByRole("button", { name: "Done, hide it" }).click();
    assert.ok(!(await page.content()).includes(clientSecret), "the secret stays on the page");
    const values = await page.evaluate(() => [...document.querySelectorAll("input, textarea")].map((i) => i.value));
    assert.ok(!values.includes(clientSecret));

    // The same name again: explained, no secret shown.
    await page.getByRole("button", { name: "New client", exact: true }).click();
    await page.locator("form.client-create").getByLabel("Client name").fill(CLIENT);
    await page.locator("form.client-create").getByRole("button", { name: "Create client" }).click();
    await page.getByText(`A client named ${CLIENT} already exists.`).waitFor();
    assert.equal(await page.getByRole("region", { name: `Client secret of ${CLIENT}` }).count(), 0);
    await page.locator("form.client-create").getByRole("button", { name: "Cancel" }).click();
    assert.equal(await page.locator("form.client-create").count(), 0);

    await refreshList();
    await section().locator("tr.setting", { hasText: "Token" }).waitFor();
  });

  it("declassify: a registration cannot make a secret plain; the name is typed; values and history go", async () => {
    const token = admin.token;
    const path = `/api/admin/clients/${CLIENT}`;
    const secretValue = `tok-${randomBytes(12).toString("hex")}`;
    const set = await call(stack.baseUrl, "PUT", `${path}/settings`, {
      token,
      body: { changeMessage: "e2e: the upstream token", values: [{ name: "Token", value: secretValue }] },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const inst = await call(stack.baseUrl, "POST", `${path}/instances`, { token, body: { instance: "eu" } });
    assert.ok(inst.status < 300, JSON.stringify(inst.body));
    const history = await call(stack.baseUrl, "GET", `${path}/settings/Token/history`, { token });
    assert.ok(history.body.history.length >= 1);

    // The service cannot make it plain on its own.
    const refused = await register(definitions(false));
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, "SECRET_STAYS_SECRET");

    await refreshList();
    const start = section().getByRole("button", { name: "Declassify Token", exact: true });
    assert.equal(await start.textContent(), "Declassify…");
    assert.equal(await section().getByRole("button", { name: "Declassify Greeting" }).count(), 0);
    await start.click();
    const confirm = section().locator("form.declassify");
    await confirm.getByRole("heading", { name: "Declassify Token?" }).waitFor();
    assert.match(await confirm.textContent(), /every instance's\) and its whole history are deleted\. They cannot be recovered\./);
    const go = confirm.getByRole("button", { name: "Declassify and delete its values" });
    assert.equal(await go.isDisabled(), true);
    await confirm.getByLabel('Type "Token" to confirm').fill("token");
    assert.equal(await go.isDisabled(), true);
    await confirm.getByLabel('Type "Token" to confirm').fill("Token");
    assert.equal(await go.isDisabled(), false);
    await screenshot(page, "clients-declassify-confirm-1280");

    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === `${path}/settings/Token/declassify`);
    await go.click();
    const res = await answered;
    assert.equal(res.request().method(), "POST");
    assert.equal(res.request().postData(), null);
    assert.equal(res.status(), 200, await res.text());
    const result = await res.json();
    assert.ok(result.deletedValues >= 2, `deleted ${result.deletedValues} values (base and instance)`);
    assert.ok(result.deletedHistory >= 1, `deleted ${result.deletedHistory} history entries`);
    const values = result.deletedValues === 1 ? "value" : "values";
    const entries = result.deletedHistory === 1 ? "history entry" : "history entries";
    await section()
      .locator(".client-notice", { hasText: `Token is a plain setting now. Deleted ${result.deletedValues} ${values} and ${result.deletedHistory} ${entries}.` })
      .waitFor();
    await page.waitForFunction(
      ([name, v]) => document.querySelector(`section[data-client="${name}"] .version`)?.textContent === `version ${v}`,
      [CLIENT, result.version],
    );
    assert.equal(await section().getByRole("button", { name: "Declassify Token", exact: true }).count(), 0);
    assert.equal(await section().locator("form.declassify").count(), 0);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Edit Token");

    // On the server: plain, no value, no history; the value never reached the page.
    const after = await call(stack.baseUrl, "GET", path, { token });
    const tokenSetting = (after.body.client ?? after.body).settings.find((s) => s.name === "Token");
    assert.equal(tokenSetting.secret, false);
    assert.equal(tokenSetting.value ?? null, null);
    const gone = await call(stack.baseUrl, "GET", `${path}/settings/Token/history`, { token });
    assert.deepEqual(gone.body.history, []);
    assert.ok(!(await page.content()).includes(secretValue));

    // Now the service may register it as plain.
    const accepted = await register(definitions(false));
    assert.ok(accepted.status < 300, `registration: ${accepted.status} ${JSON.stringify(accepted.body)}`);
    assert.deepEqual(cspViolations, []);
  });

  it("the new-client form, the secret panel and the declassify confirmation have no serious axe violations", async () => {
    // axe is injected, which the real CSP forbids: this context bypasses CSP for that alone.
    await call(stack.baseUrl, "PUT", `/api/admin/clients/${CLIENT}/settings`, {
      token: admin.token,
      body: { changeMessage: "e2e", values: [{ name: "Greeting", value: "hi" }] },
    });
    const registered = await register({
      ...definitions(false),
      settings: [...definitions(false).settings, { name: "Key", type: "string", secret: true, description: "Another" }],
    });
    assert.ok(registered.status < 300, JSON.stringify(registered.body));
    const axeContext = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    const p = await axeContext.newPage();
    await signIn(p, stack.baseUrl, "admin", admin.password);
    await p.getByRole("heading", { level: 1, name: "Clients" }).waitFor();
    await p.waitForFunction(() => document.querySelector("[aria-busy='true']") === null);
    await p.getByRole("button", { name: "New client", exact: true }).click();
    await p.getByRole("button", { name: "Declassify Key" }).click();
    const problems = [...(await seriousViolations(p)).map((v) => ({ where: "forms", ...v }))];
    await p.locator("form.client-create").getByLabel("Client name").fill("e2e-axe");
    await p.locator("form.client-create").getByRole("button", { name: "Create client" }).click();
    await p.getByRole("region", { name: "Client secret of e2e-axe" }).waitFor();
    problems.push(...(await seriousViolations(p)).map((v) => ({ where: "secret panel", ...v })));
    await p.setViewportSize({ width: 390, height: 844 });
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the Clients page is ${overflow}px wider than a 390px screen`);
    problems.push(...(await seriousViolations(p)).map((v) => ({ where: "390px", ...v })));
    await screenshot(p, "clients-new-client-390");
    assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));
    await axeContext.close();
  });
});
