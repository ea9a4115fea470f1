import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { clearAccessToken, setAccessToken } from "../src/api/session";
import { auditQueryString, searchAudit } from "../src/api/audit";
import { getClient } from "../src/api/clients";
import { configurationBody, getConfiguration } from "../src/api/configuration";
import { endOfMinute, fromLocalInput, renderAudit, toLocalInput } from "../src/views/audit";
import type { PageContext } from "../src/views/common";
import { renderConfiguration } from "../src/views/configuration";
import { leaveShell, pageFromHash, renderShell } from "../src/shell";
import { SECRET_STAYS_SECRET_HINT, exportFileName, renderTransfer } from "../src/views/transfer";
import { renderUsers } from "../src/views/users";
import { renderWebhooks, validateWebhook } from "../src/views/webhooks";
import { emptyResponse, errorBody, jsonResponse, meOf, routeFetch } from "./helpers";

const XSS = `<img src=x onerror="window.__pwned=1">`;
let root: HTMLElement;
const ctxOf = (role: "Administrator" | "User" | "ReadOnly"): PageContext => ({
  me: meOf(role),
  onSessionExpired: vi.fn(),
});

beforeEach(() => {
  setAccessToken("tok");
  history.replaceState(null, "", "/");
  root = document.createElement("main");
  document.body.append(root);
});

afterEach(() => {
  leaveShell();
  clearAccessToken();
  document.body.replaceChildren();
});

const button = (name: string): HTMLButtonElement => {
  const b = [...root.querySelectorAll("button")].find((x) => x.textContent === name || x.getAttribute("aria-label") === name);
  if (b === undefined) throw new Error(`no button ${name}`);
  return b;
};
const labelled = <T extends HTMLElement>(label: string): T => {
  const l = [...root.querySelectorAll("label")].find((x) => x.textContent === label);
  const id = l?.getAttribute("for");
  const e = id ? root.querySelector<T>(`#${id}`) : null;
  if (e === null) throw new Error(`no field ${label}`);
  return e;
};
const submitForm = (inside: Element): void => {
  (inside.closest("form") ?? inside.querySelector("form"))?.dispatchEvent(
    new Event("submit", { bubbles: true, cancelable: true }),
  );
};
const alerts = (): string[] => [...root.querySelectorAll('[role="alert"]:not([hidden])')].map((a) => a.textContent ?? "");
const statuses = (): string => [...root.querySelectorAll('[role="status"]:not([hidden])')].map((a) => a.textContent).join(" | ");

function expectEveryFieldLabelled(): void {
  for (const f of root.querySelectorAll("input, select, textarea")) {
    expect(f.id).not.toBe("");
    expect(root.querySelector(`label[for="${f.id}"]`)?.textContent ?? "").not.toBe("");
  }
}

describe("the console shell", () => {
  const routes = {
    "GET /api/auth/me": meOf("Administrator"),
    "GET /api/admin/clients": { clients: [] },
    "GET /api/admin/configuration": {
      allowNewRegistrations: true, allowUpdatedRegistrations: true, allowClientOverrides: false,
      clientOverridesAllowList: [], allowFileImports: false, allowOfflineSettings: true,
      requireMfaForAdministrators: false, webhookAllowedHosts: [], pollIntervalMs: 30000,
    },
  };

  it("an Administrator gets every page; links move between them and mark the current one", async () => {
    routeFetch(routes);
    const onSignOut = vi.fn();
    await renderShell(root, { onSignOut, onSessionExpired: vi.fn() });
    const links = [...root.querySelectorAll<HTMLAnchorElement>("nav a")];
    expect(links.map((a) => a.textContent)).toEqual(["Clients", "Audit", "Users", "Webhooks", "Configuration", "Import / export"]);
    expect(links[0]?.getAttribute("aria-current")).toBe("page");
    expect(root.querySelector("nav")?.textContent).toContain("Administrator");
    links[4]?.click();
    await vi.waitFor(() => expect(root.querySelector("h1")?.textContent).toBe("Configuration"));
    expect(links[4]?.getAttribute("aria-current")).toBe("page");
    expect(links[0]?.hasAttribute("aria-current")).toBe(false);
    expect(location.hash).toBe("#/configuration");
    button("Sign out").click();
    expect(onSignOut).toHaveBeenCalledTimes(1);
  });

  it("a ReadOnly user is not offered Users, Webhooks or Import / export", async () => {
    routeFetch({ ...routes, "GET /api/auth/me": meOf("ReadOnly", "rita") });
    await renderShell(root, { onSignOut: vi.fn(), onSessionExpired: vi.fn() });
    const links = [...root.querySelectorAll("nav a")].map((a) => a.textContent);
    expect(links).toEqual(["Clients", "Audit", "Configuration"]);
    expect(root.querySelector("nav")?.textContent).toContain("rita");
  });

  it("opens the page named in the location hash, and only known pages", async () => {
    expect(pageFromHash("#/webhooks")).toBe("webhooks");
    expect(pageFromHash("#/nope")).toBeNull();
    history.replaceState(null, "", "#/configuration");
    routeFetch(routes);
    await renderShell(root, { onSignOut: vi.fn(), onSessionExpired: vi.fn() });
    expect(root.querySelector("h1")?.textContent).toBe("Configuration");
  });

  it("a failed profile call shows the error and a way out", async () => {
    routeFetch({ "GET /api/auth/me": jsonResponse(500, errorBody("INTERNAL", `Broken ${XSS}`, "r-1")) });
    await renderShell(root, { onSignOut: vi.fn(), onSessionExpired: vi.fn() });
    expect(alerts()).toEqual([`Broken ${XSS} (request r-1)`]);
    expect(root.querySelector("img")).toBeNull();
    expect(button("Sign out")).toBeDefined();
  });
});

describe("audit", () => {
  const event = (id: string, type: string, extra: Record<string, unknown> = {}) => ({
    id, time: "2026-11-25T10:00:00Z", type, severity: "info", success: true,
    actor: { kind: "user", name: "admin" }, source: { ip: "10.0.0.1" }, ...extra,
  });

  it("asks for the last 24 hours, shows events as text, loads more with the cursor", async () => {
    const now = new Date("2026-11-25T12:00:00Z");
    const { calls } = routeFetch({
      "GET /api/admin/audit": (_init: RequestInit, url: URL) =>
        url.searchParams.get("cursor") === "c2"
          ? jsonResponse(200, { events: [event("2", "LoginFailed", { severity: "warning", success: false })] })
          : jsonResponse(200, { events: [event("1", "SettingValueChanged", { client: "shop", settings: ["A"], changeMessage: XSS })], nextCursor: "c2" }),
    });
    await renderAudit(root, ctxOf("ReadOnly"), now);
    const first = calls[0]?.url.searchParams;
    expect(first?.get("from")).toBe("2026-11-24T12:00:00.000Z");
    expect(first?.get("to")).toBe("2026-11-25T12:00:00.000Z");
    expect(first?.get("limit")).toBe("100");
    expect(first?.has("type")).toBe(false);
    const rows = () => [...root.querySelectorAll("tr.audit-event")];
    expect(rows()).toHaveLength(1);
    expect(rows()[0]?.textContent).toContain("SettingValueChanged");
    expect(rows()[0]?.textContent).toContain(XSS);
    expect(root.querySelector("img")).toBeNull();
    expectEveryFieldLabelled();

    const more = button("Load more");
    expect(more.hidden).toBe(false);
    more.click();
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    expect(calls[1]?.url.searchParams.get("cursor")).toBe("c2");
    expect(rows()[1]?.classList.contains("warning")).toBe(true);
    expect(rows()[1]?.textContent).toContain("failure");
    expect(button("Load more").hidden).toBe(true);
  });

  it("sends the filters, and says so when nothing matched", async () => {
    const { calls } = routeFetch({ "GET /api/admin/audit": { events: [] } });
    await renderAudit(root, ctxOf("Administrator"));
    expect(root.textContent).toContain("No events in this range.");
    labelled<HTMLInputElement>("Event type").value = "LoginFailed";
    labelled<HTMLInputElement>("User").value = "bob";
    labelled<HTMLInputElement>("Client").value = "shop";
    submitForm(labelled("User"));
    await vi.waitFor(() => expect(calls).toHaveLength(2));
    const q = calls[1]?.url.searchParams;
    expect([q?.get("type"), q?.get("user"), q?.get("client")]).toEqual(["LoginFailed", "bob", "shop"]);
  });

  it("converts the local date inputs", () => {
    const d = new Date(2026, 0, 2, 3, 4, 5);
    expect(toLocalInput(d)).toBe("2026-01-02T03:04");
    expect(fromLocalInput("2026-01-02T03:04")).toBe(new Date(2026, 0, 2, 3, 4).toISOString());
    expect(fromLocalInput("")).toBeNull();
    expect(endOfMinute("2026-01-02T03:04")).toBe(new Date(2026, 0, 2, 3, 4, 59, 999).toISOString());
    expect(auditQueryString({ from: "a", to: "b", type: "", user: "u" })).toBe("from=a&to=b&user=u");
  });

  it("parses events and keeps type-specific fields apart", async () => {
    routeFetch({ "GET /api/admin/audit": { events: [event("9", "UserCreated", { username: "x", role: "User" })] } });
    const page = await searchAudit({ from: "a", to: "b" });
    expect(page.nextCursor).toBeUndefined();
    expect(page.events[0]?.details).toEqual({ username: "x", role: "User" });
    expect(page.events[0]?.actor).toEqual({ kind: "user", name: "admin" });
  });
});

describe("users", () => {
  const user = (username: string, role = "User") => ({
    username, role, clientFilter: null, classifications: null, enabled: true, mfaEnabled: false,
    passwordChangeRequired: false, created: "2026-01-01T00:00:00Z", updated: "2026-01-01T00:00:00Z",
  });

  it("lists, creates, edits, resets a password (shown once), ends sessions and deletes", async () => {
    const { calls } = routeFetch({
      "GET /api/admin/users": { users: [user("alice", "Administrator"), user("bob")] },
      "POST /api/admin/users": jsonResponse(201, user("carol", "ReadOnly")),
      "PUT /api/admin/users/bob": user("bob", "ReadOnly"),
      "POST /api/admin/users/bob/password-reset": { password: "one-time-pw-xyz" },
      "DELETE /api/admin/users/bob/sessions": { terminated: 2 },
      "DELETE /api/admin/users/bob": emptyResponse(204),
    });
    await renderUsers(root, ctxOf("Administrator"));
    expect([...root.querySelectorAll("tr.user")].map((r) => r.getAttribute("data-user"))).toEqual(["alice", "bob"]);
    expectEveryFieldLabelled();

    labelled<HTMLInputElement>("Username").value = "Carol";
    submitForm(labelled("Username"));
    expect(alerts().join()).toContain("The username is not valid");
    labelled<HTMLInputElement>("Username").value = "carol";
    labelled<HTMLInputElement>("Initial password").value = "short";
    submitForm(labelled("Username"));
    expect(alerts().join()).toContain("12 to 128 characters");
    labelled<HTMLInputElement>("Initial password").value = "a long enough initial passphrase";
    labelled<HTMLSelectElement>("Role").value = "ReadOnly";
    labelled<HTMLInputElement>("Client filter").value = "shop-.*";
    // Typing a list chooses "Only the classifications listed".
    const listed = labelled<HTMLInputElement>("Allowed classifications");
    listed.value = "Technical, Functional";
    listed.dispatchEvent(new Event("input"));
    expect(labelled<HTMLInputElement>("Only the classifications listed").checked).toBe(true);
    submitForm(labelled("Username"));
    await vi.waitFor(() => expect(calls.some((c) => c.method === "POST")).toBe(true));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({
      username: "carol", password: "a long enough initial passphrase", role: "ReadOnly",
      clientFilter: "shop-.*", classifications: ["Technical", "Functional"],
    });
    await vi.waitFor(() => expect(statuses()).toContain("Created carol"));

    button("Edit bob").click();
    const form = root.querySelector<HTMLFormElement>('form[aria-label="Edit bob"]');
    const role = form?.querySelector<HTMLSelectElement>("select");
    if (role) role.value = "ReadOnly";
    const enabled = form?.querySelector<HTMLInputElement>('input[type="checkbox"][name="enabled"]');
    if (enabled) enabled.checked = false;
    form?.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await vi.waitFor(() => expect(calls.some((c) => c.method === "PUT")).toBe(true));
    // bob may edit every classification, and still may: the field is left out (an empty list
    // would now mean "no edits at all").
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({ role: "ReadOnly", clientFilter: "", enabled: false });

    await vi.waitFor(() => expect(root.querySelector('tr[data-user="bob"]')).not.toBeNull());
    button("Reset password of bob").click();
    await vi.waitFor(() => expect(root.textContent).toContain("one-time-pw-xyz"));
    expect(root.textContent).toContain("you will not see it again");
    button("Done, hide it").click();
    expect(root.textContent).not.toContain("one-time-pw-xyz");

    button("End sessions of bob").click();
    await vi.waitFor(() => expect(statuses()).toContain("Ended 2 sessions of bob."));

    button("Delete bob").click();
    root.querySelector<HTMLButtonElement>(".confirm button.danger")?.click();
    await vi.waitFor(() => expect(calls.some((c) => c.method === "DELETE" && c.path === "/api/admin/users/bob")).toBe(true));
  });
});

describe("webhooks", () => {
  const hook = {
    id: "wh1", url: "https://siem.example.com/fig", types: ["SecurityEvent"], clientPattern: "shop-.*",
    createdAt: "2026-01-01T00:00:00Z", lastDelivery: { time: "2026-01-02T00:00:00Z", ok: false, status: 500, error: "boom" }, deadLetters: 1,
  };

  it("validates the form", () => {
    expect(validateWebhook({ url: "nope", types: ["SecurityEvent"] })).toContain("full URL");
    expect(validateWebhook({ url: "ftp://x", types: ["SecurityEvent"] })).toContain("https://");
    expect(validateWebhook({ url: "https://x.example", types: [] })).toBe("Choose at least one event type.");
    expect(validateWebhook({ url: "https://x.example", types: ["A"], clientPattern: "(" })).toContain("client pattern");
    expect(validateWebhook({ url: "https://x.example", types: ["A"] })).toBeNull();
  });

  it("lists, creates (secret shown once), tests, shows dead letters, deletes", async () => {
    const { calls } = routeFetch({
      "GET /api/admin/webhooks": { webhooks: [hook] },
      "POST /api/admin/webhooks": jsonResponse(201, { ...hook, id: "wh2", signingSecret: "whsec-123456789" }),
      "POST /api/admin/webhooks/wh1/test": { delivered: false, status: 502, error: "bad gateway" },
      "GET /api/admin/webhooks/wh1/dead-letters": { deadLetters: [{ eventId: "e1", type: "SecurityEvent", time: "2026-01-02T00:00:00Z", attempts: 5, lastError: `HTTP 500 ${XSS}` }] },
      "DELETE /api/admin/webhooks/wh1": emptyResponse(204),
    });
    await renderWebhooks(root, ctxOf("Administrator"));
    const card = root.querySelector("section.webhook");
    expect(card?.textContent).toContain("https://siem.example.com/fig");
    expect(card?.textContent).toContain("failed");
    expect(card?.textContent).toContain("HTTP 500");
    expectEveryFieldLabelled();

    labelled<HTMLInputElement>("Receiver URL").value = "https://new.example.com/hook";
    submitForm(labelled("Receiver URL"));
    expect(alerts()).toContain("Choose at least one event type.");
    labelled<HTMLInputElement>("SettingValueChanged").checked = true;
    submitForm(labelled("Receiver URL"));
    await vi.waitFor(() => expect(root.textContent).toContain("whsec-123456789"));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ url: "https://new.example.com/hook", types: ["SettingValueChanged"] });
    expect(root.textContent).toContain("you will not see it again");
    expect(root.textContent).toContain("HMAC-SHA256 signature with this secret");
    button("Done, hide it").click();
    expect(root.textContent).not.toContain("whsec-123456789");
    // The explanation goes with the secret.
    expect(root.textContent).not.toContain("with this secret");

    button("Send test to https://siem.example.com/fig").click();
    await vi.waitFor(() => expect(root.querySelector(".test-result")?.textContent).toBe("Test not delivered (HTTP 502): bad gateway."));

    button("Dead letters (1) of the webhook to https://siem.example.com/fig").click();
    await vi.waitFor(() => expect(root.textContent).toContain(`HTTP 500 ${XSS}`));
    expect(root.querySelector("img")).toBeNull();

    button("Delete the webhook to https://siem.example.com/fig").click();
    button("Delete webhook").click();
    await vi.waitFor(() => expect(calls.some((c) => c.method === "DELETE")).toBe(true));
    await vi.waitFor(() => expect(statuses()).toContain("Webhook deleted."));
  });

  it("edits with PUT and shows an empty state", async () => {
    let hooks: unknown[] = [hook];
    const { calls } = routeFetch({
      "GET /api/admin/webhooks": () => jsonResponse(200, { webhooks: hooks }),
      "PUT /api/admin/webhooks/wh1": () => {
        hooks = [];
        return jsonResponse(200, hook);
      },
    });
    await renderWebhooks(root, ctxOf("Administrator"));
    button("Edit the webhook to https://siem.example.com/fig").click();
    const form = root.querySelector("section.webhook form");
    const boxes = [...(form?.querySelectorAll<HTMLInputElement>('input[type="checkbox"]') ?? [])];
    expect(boxes.filter((b) => b.checked)).toHaveLength(1);
    form?.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await vi.waitFor(() => expect(calls.some((c) => c.method === "PUT")).toBe(true));
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({ url: hook.url, types: ["SecurityEvent"], clientPattern: "shop-.*" });
    await vi.waitFor(() => expect(root.textContent).toContain("No webhooks yet."));
  });

  it("shows the new secret once when an edit moves the webhook to another host", async () => {
    routeFetch({
      "GET /api/admin/webhooks": { webhooks: [hook] },
      "PUT /api/admin/webhooks/wh1": { ...hook, url: "https://other.example.net/fig", signingSecret: "whsec_moved-secret-0123" },
    });
    await renderWebhooks(root, ctxOf("Administrator"));
    button("Edit the webhook to https://siem.example.com/fig").click();
    const form = root.querySelector("section.webhook form");
    form?.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await vi.waitFor(() => expect(root.textContent).toContain("whsec_moved-secret-0123"));
    expect(root.querySelector('[aria-label="New signing secret of the moved webhook"]')).not.toBeNull();
    expect(statuses()).toContain("Webhook saved. It now points to another host, so it has a new signing secret.");
    button("Done, hide it").click();
    expect(root.textContent).not.toContain("whsec_moved-secret-0123");
  });

  it("replaces the signing secret after a confirmation and shows it once", async () => {
    const { calls } = routeFetch({
      "GET /api/admin/webhooks": { webhooks: [hook] },
      "POST /api/admin/webhooks/wh1/secret": { ...hook, signingSecret: "whsec_rotated-secret-4567" },
    });
    await renderWebhooks(root, ctxOf("Administrator"));
    button("Replace the signing secret of the webhook to https://siem.example.com/fig").click();
    expect(root.textContent).toContain("The current secret stops at once");
    expect(calls.some((c) => c.path.endsWith("/secret"))).toBe(false);
    button("Replace signing secret").click();
    await vi.waitFor(() => expect(root.textContent).toContain("whsec_rotated-secret-4567"));
    expect(calls.filter((c) => c.method === "POST" && c.path === "/api/admin/webhooks/wh1/secret")).toHaveLength(1);
    expect(statuses()).toContain("Signing secret replaced. Deliveries are signed with the new secret from now on.");
    expect(root.textContent).not.toContain("The current secret stops at once");
    button("Done, hide it").click();
    expect(root.textContent).not.toContain("whsec_rotated-secret-4567");
  });
});

describe("configuration", () => {
  const config = {
    allowNewRegistrations: true, allowUpdatedRegistrations: false, allowClientOverrides: false,
    clientOverridesAllowList: ["shop-.*"], allowFileImports: false, allowOfflineSettings: true,
    requireMfaForAdministrators: false, webhookAllowedHosts: [], pollIntervalMs: 30000, maxClients: 1000,
  };

  it("an Administrator edits switches, lists and the poll interval", async () => {
    const { calls } = routeFetch({
      "GET /api/admin/configuration": config,
      "PUT /api/admin/configuration": (init: RequestInit) => jsonResponse(200, JSON.parse(String(init.body))),
    });
    await renderConfiguration(root, ctxOf("Administrator"));
    expectEveryFieldLabelled();
    expect(labelled<HTMLInputElement>("Allow new client registrations").checked).toBe(true);
    const poll = labelled<HTMLInputElement>("Poll interval (milliseconds)");
    poll.value = "10";
    submitForm(poll);
    expect(alerts()[0]).toContain("from 1000 to 86400000");
    expect(calls.some((c) => c.method === "PUT")).toBe(false);
    poll.value = "15000";
    labelled<HTMLInputElement>("Allow file imports").checked = true;
    labelled<HTMLTextAreaElement>("Webhook hosts allowed even when private or loopback").value = "siem.internal\n\n10.0.0.5 \n";
    submitForm(poll);
    await vi.waitFor(() => expect(statuses()).toContain("Configuration saved."));
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({
      ...config, allowFileImports: true, webhookAllowedHosts: ["siem.internal", "10.0.0.5"], pollIntervalMs: 15000,
    });
  });

  it("everyone else sees it read-only, with no edit controls", async () => {
    routeFetch({ "GET /api/admin/configuration": config });
    await renderConfiguration(root, ctxOf("User"));
    expect(root.querySelectorAll("input, select, textarea, button")).toHaveLength(0);
    expect(root.textContent).toContain("Only an Administrator can change");
    expect(root.textContent).toContain("shop-.*");
    expect(root.textContent).toContain("30000 ms");
    const facts = [...root.querySelectorAll("dl.facts dt")].map((dt) => `${dt.textContent}: ${dt.nextElementSibling?.textContent}`);
    expect(facts).toContain("Most clients this server holds: 1000");
  });

  it("the most clients: checked like the poll interval before anything is sent, then saved", async () => {
    const { calls } = routeFetch({
      "GET /api/admin/configuration": { ...config, maxClients: 1000 },
      "PUT /api/admin/configuration": (init: RequestInit) => jsonResponse(200, JSON.parse(String(init.body))),
    });
    await renderConfiguration(root, ctxOf("Administrator"));
    const most = labelled<HTMLInputElement>("Most clients this server holds");
    expect(most.value).toBe("1000");
    expect(most.getAttribute("inputmode")).toBe("numeric");
    expect(root.querySelector(`#${most.getAttribute("aria-describedby") ?? "none"}`)?.textContent).toContain("1 to 100000");
    for (const bad of ["0", "100001", "12.5", "-3", "many", ""]) {
      most.value = bad;
      submitForm(most);
      expect(alerts()).toEqual(["The most clients this server holds must be a whole number from 1 to 100000."]);
      expect(document.activeElement).toBe(most);
    }
    expect(calls.some((c) => c.method === "PUT")).toBe(false);
    for (const good of ["1", "100000", " 250 "]) {
      most.value = good;
      submitForm(most);
      await vi.waitFor(() => expect(calls.filter((c) => c.method === "PUT")).toHaveLength(["1", "100000", " 250 "].indexOf(good) + 1));
      await vi.waitFor(() => expect(statuses()).toContain("Configuration saved."));
    }
    const bodies = calls.filter((c) => c.method === "PUT").map((c) => (c.body as { maxClients: number }).maxClients);
    expect(bodies).toEqual([1, 100000, 250]);
    expect(calls.filter((c) => c.method === "PUT").at(-1)?.body).toEqual({ ...config, maxClients: 250 });
  });

  it("saving never drops a field the page does not know: it goes back as it came", async () => {
    const future = { ...config, maxClients: 40, futureSwitch: true, futureList: ["a", "b"], futureLimit: { per: "day", n: 3 } };
    let stored: Record<string, unknown> = future;
    const { calls } = routeFetch({
      "GET /api/admin/configuration": () => jsonResponse(200, stored),
      "PUT /api/admin/configuration": (init: RequestInit) => {
        stored = JSON.parse(String(init.body)) as Record<string, unknown>;
        return jsonResponse(200, stored);
      },
    });
    await renderConfiguration(root, ctxOf("Administrator"));
    labelled<HTMLInputElement>("Allow file imports").checked = true;
    submitForm(labelled("Poll interval (milliseconds)"));
    await vi.waitFor(() => expect(statuses()).toContain("Configuration saved."));
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({ ...future, allowFileImports: true });
    // And again after the save, from the configuration the server answered.
    labelled<HTMLInputElement>("Poll interval (milliseconds)").value = "20000";
    submitForm(labelled("Poll interval (milliseconds)"));
    await vi.waitFor(() => expect(calls.filter((c) => c.method === "PUT")).toHaveLength(2));
    expect(calls.filter((c) => c.method === "PUT")[1]?.body).toEqual({ ...future, allowFileImports: true, pollIntervalMs: 20000 });
    // The fields it does not know are not shown as controls.
    expect(root.querySelector('[name="futureSwitch"]')).toBeNull();
  });

  it("reads maxClients from the answer, and its default when an answer has none", async () => {
    routeFetch({ "GET /api/admin/configuration": { ...config, maxClients: 7 } });
    await expect(getConfiguration()).resolves.toMatchObject({ maxClients: 7 });
    const { maxClients: _, ...without } = config;
    routeFetch({ "GET /api/admin/configuration": without });
    await expect(getConfiguration()).resolves.toMatchObject({ maxClients: 1000 });
    expect(configurationBody({ ...config, otherFields: { extra: 1, maxClients: 5 } })).toEqual({ ...config, extra: 1 });
  });
});

describe("import / export", () => {
  it("downloads an export as a Blob object URL, with a sealed variant", async () => {
    const created: Blob[] = [];
    const createObjectURL = vi.fn((b: Blob) => {
      created.push(b);
      return "blob:fig/1";
    });
    const revokeObjectURL = vi.fn();
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL, revokeObjectURL }));
    const clicks: string[] = [];
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push(`${this.getAttribute("href")} ${this.getAttribute("download")}`);
    });
    const { calls } = routeFetch({
      "GET /api/admin/export": { version: 1, clients: [{ name: "shop" }] },
      "POST /api/admin/export": { version: 1, clients: [], sealed: true },
    });
    renderTransfer(root, ctxOf("Administrator"));
    expectEveryFieldLabelled();
    submitForm(button("Download export"));
    await vi.waitFor(() => expect(clicks).toHaveLength(1));
    expect(clicks[0]).toMatch(/^blob:fig\/1 fig-export-.*\.json$/);
    expect(JSON.parse(await created[0]!.text())).toEqual({ version: 1, clients: [{ name: "shop" }] });
    expect(statuses()).toContain("Export downloaded (no secret values).");

    const pass = labelled<HTMLInputElement>("Passphrase to seal secret values (optional)");
    pass.value = "short";
    submitForm(pass);
    expect(alerts().join()).toContain("at least 12 characters");
    pass.value = "a long sealing passphrase";
    submitForm(pass);
    await vi.waitFor(() => expect(clicks).toHaveLength(2));
    expect(clicks[1]).toMatch(/-sealed\.json$/);
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ passphrase: "a long sealing passphrase" });
    expect(pass.value).toBe("");
    click.mockRestore();
    expect(exportFileName(new Date("2026-01-02T03:04:05.678Z"), false)).toBe("fig-export-2026-01-02T03-04-05Z.json");
  });

  it("imports a picked file with the chosen mode and passphrase", async () => {
    const { calls } = routeFetch({ "POST /api/admin/import": { clients: 2, values: 7 } });
    renderTransfer(root, ctxOf("Administrator"));
    submitForm(button("Import"));
    expect(alerts()).toContain("Choose an export file first.");
    const input = labelled<HTMLInputElement>("Export file");
    const file = new File([JSON.stringify({ clients: [] })], "export.json", { type: "application/json" });
    Object.defineProperty(input, "files", { value: [file], configurable: true });
    labelled<HTMLInputElement>("Replace clients").checked = true;
    labelled<HTMLInputElement>("Passphrase (if the file has sealed secret values)").value = "pp pp pp pp pp";
    submitForm(input);
    await vi.waitFor(() => expect(statuses()).toContain("Imported 2 clients and 7 values."));
    expect(calls[0]?.body).toEqual({ mode: "replaceClients", document: { clients: [] }, passphrase: "pp pp pp pp pp" });

    const bad = new File(["not json"], "x.json");
    Object.defineProperty(input, "files", { value: [bad], configurable: true });
    submitForm(input);
    await vi.waitFor(() => expect(alerts()).toContain("That file is not a JSON export."));
  });
});

describe("import: a secret stays secret", () => {
  it("an import that would make a secret setting plain is refused with the way to declassify it", async () => {
    routeFetch({
      "POST /api/admin/import": jsonResponse(
        409,
        errorBody("SECRET_STAYS_SECRET", "A secret setting that has a value or history cannot be made plain by a registration or an import.", "r-9"),
      ),
    });
    renderTransfer(root, ctxOf("Administrator"));
    const input = labelled<HTMLInputElement>("Export file");
    const file = new File([JSON.stringify({ clients: [] })], "export.json", { type: "application/json" });
    Object.defineProperty(input, "files", { value: [file], configurable: true });
    submitForm(input);
    await vi.waitFor(() => expect(alerts().join(" ")).toContain("cannot be made plain by a registration or an import. (request r-9)"));
    expect(alerts().join(" ")).toContain(SECRET_STAYS_SECRET_HINT);
  });
});

describe("getClient", () => {
  it("reads one client (bare or wrapped)", async () => {
    routeFetch({ "GET /api/admin/clients/a%20b": { name: "a b", description: "", version: 2, settings: [], instances: ["x"] } });
    await expect(getClient("a b")).resolves.toMatchObject({ name: "a b", instances: ["x"] });
  });
});

describe("users: classifications mean what they say", () => {
  const user = (username: string, classifications: string[] | null, role = "User") => ({
    username, role, clientFilter: null, classifications, enabled: true, mfaEnabled: false,
    passwordChangeRequired: false, created: "2026-01-01T00:00:00Z", updated: "2026-01-01T00:00:00Z",
  });
  const radio = (label: string, inside: ParentNode = root): HTMLInputElement => {
    const l = [...inside.querySelectorAll("label")].find((x) => x.textContent === label);
    const input = l ? inside.querySelector<HTMLInputElement>(`#${l.getAttribute("for") ?? "none"}`) : null;
    if (input === null) throw new Error(`no radio ${label}`);
    return input;
  };
  const hintOf = (input: HTMLElement): string =>
    root.querySelector(`#${input.getAttribute("aria-describedby") ?? "none"}`)?.textContent ?? "";
  const fillCreate = (name: string): void => {
    labelled<HTMLInputElement>("Username").value = name;
    labelled<HTMLInputElement>("Initial password").value = "a long enough initial passphrase";
    labelled<HTMLSelectElement>("Role").value = "User";
  };

  it("shows every, none and a list plainly in the list", async () => {
    routeFetch({
      "GET /api/admin/users": {
        users: [user("ann", null), user("ben", []), user("cat", ["Functional", "Unclassified"])],
      },
    });
    await renderUsers(root, ctxOf("Administrator"));
    const cell = (u: string) => root.querySelector(`tr[data-user="${u}"] td[data-label="Classifications"]`)?.textContent;
    expect([cell("ann"), cell("ben"), cell("cat")]).toEqual(["all", "none (no edits)", "Functional, Unclassified"]);
  });

  it("the create form explains the choice, and sends all (left out), none ([]) or a list with Unclassified", async () => {
    const { calls } = routeFetch({
      "GET /api/admin/users": { users: [] },
      "POST /api/admin/users": (init: RequestInit) => {
        const b = JSON.parse(String(init.body)) as { username: string; classifications?: string[] };
        return jsonResponse(201, user(b.username, b.classifications ?? null));
      },
    });
    await renderUsers(root, ctxOf("Administrator"));
    expectEveryFieldLabelled();
    const group = root.querySelector<HTMLFieldSetElement>("form.user-create fieldset.classifications");
    expect(group?.querySelector("legend")?.textContent).toBe("Classifications this user may edit");
    expect(root.querySelector(`#${group?.getAttribute("aria-describedby") ?? "none"}`)?.textContent).toContain(
      "A setting without a classification counts as Unclassified.",
    );
    // Every classification is the default, and is offered.
    expect(radio("Every classification").checked).toBe(true);
    expect(radio("Every classification").disabled).toBe(false);
    expect(hintOf(radio("No edits at all"))).toContain("change none");
    const posts = () => calls.filter((c) => c.method === "POST").map((c) => c.body as Record<string, unknown>);

    fillCreate("ann");
    submitForm(labelled("Username"));
    await vi.waitFor(() => expect(posts()).toHaveLength(1));
    expect(posts()[0]).not.toHaveProperty("classifications");

    await vi.waitFor(() => expect(statuses()).toContain("Created ann"));
    fillCreate("ben");
    radio("No edits at all").checked = true;
    submitForm(labelled("Username"));
    await vi.waitFor(() => expect(posts()).toHaveLength(2));
    expect(posts()[1]?.["classifications"]).toEqual([]);

    // "Only the classifications listed" with nothing listed is refused in the page.
    await vi.waitFor(() => expect(statuses()).toContain("Created ben"));
    fillCreate("cat");
    radio("Only the classifications listed").checked = true;
    labelled<HTMLInputElement>("Allowed classifications").value = " , ";
    submitForm(labelled("Username"));
    expect(alerts()).toEqual(['List at least one classification (or tick Unclassified), or choose "No edits at all".']);
    expect(document.activeElement).toBe(labelled("Allowed classifications"));
    expect(posts()).toHaveLength(2);

    // A list, with the settings that have no classification ticked (duplicates dropped).
    labelled<HTMLInputElement>("Allowed classifications").value = "Functional, Technical, Functional";
    const unclassified = labelled<HTMLInputElement>("Settings without a classification (Unclassified)");
    unclassified.checked = true;
    submitForm(labelled("Username"));
    await vi.waitFor(() => expect(posts()).toHaveLength(3));
    expect(posts()[2]?.["classifications"]).toEqual(["Functional", "Technical", "Unclassified"]);

    // Unclassified alone is a list too (and ticking it chooses the list).
    await vi.waitFor(() => expect(statuses()).toContain("Created cat"));
    fillCreate("dan");
    radio("Every classification").checked = true;
    labelled<HTMLInputElement>("Allowed classifications").value = "";
    unclassified.checked = true;
    unclassified.dispatchEvent(new Event("change"));
    expect(radio("Only the classifications listed").checked).toBe(true);
    submitForm(labelled("Username"));
    await vi.waitFor(() => expect(posts()).toHaveLength(4));
    expect(posts()[3]?.["classifications"]).toEqual(["Unclassified"]);

    // Too many, or too long: refused in the page.
    fillCreate("eve");
    radio("Only the classifications listed").checked = true;
    labelled<HTMLInputElement>("Allowed classifications").value = "x".repeat(65);
    submitForm(labelled("Username"));
    expect(alerts()).toEqual(["Give at most 50 classifications, each at most 64 characters long."]);
    expect(posts()).toHaveLength(4);
  });

  it("the edit form starts from the user's choice, and sends [] for no edits", async () => {
    const { calls } = routeFetch({
      "GET /api/admin/users": { users: [user("ann", null), user("ben", []), user("cat", ["Functional", "Unclassified"])] },
      "PUT /api/admin/users/ann": user("ann", []),
      "PUT /api/admin/users/ben": user("ben", ["Ops"]),
      "PUT /api/admin/users/cat": user("cat", ["Functional", "Unclassified"]),
    });
    await renderUsers(root, ctxOf("Administrator"));
    const editOf = (name: string): HTMLFormElement => {
      button(`Edit ${name}`).click();
      const f = root.querySelector<HTMLFormElement>(`form[aria-label="Edit ${name}"]`);
      if (f === null) throw new Error(`no edit form for ${name}`);
      return f;
    };
    const puts = () => calls.filter((c) => c.method === "PUT");

    // ann may edit everything: that stays offered; choosing no edits sends [].
    let form = editOf("ann");
    expect(radio("Every classification", form).checked).toBe(true);
    radio("No edits at all", form).checked = true;
    form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await vi.waitFor(() => expect(puts()).toHaveLength(1));
    expect(puts()[0]?.body).toMatchObject({ classifications: [] });

    // ben may edit nothing; giving him a list sends the list.
    await vi.waitFor(() => expect(root.querySelector('tr[data-user="ben"]')).not.toBeNull());
    form = editOf("ben");
    expect(radio("No edits at all", form).checked).toBe(true);
    const names = form.querySelector<HTMLInputElement>('input[name="classifications"]');
    if (names === null) throw new Error("no list field");
    names.value = "Ops";
    names.dispatchEvent(new Event("input"));
    expect(radio("Only the classifications listed", form).checked).toBe(true);
    form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await vi.waitFor(() => expect(puts()).toHaveLength(2));
    expect(puts()[1]?.path).toBe("/api/admin/users/ben");
    expect(puts()[1]?.body).toMatchObject({ classifications: ["Ops"] });

    // cat has a list with Unclassified: shown as such; choosing every classification again
    // sends null (which the server reads as every classification).
    await vi.waitFor(() => expect(root.querySelector('tr[data-user="cat"]')).not.toBeNull());
    form = editOf("cat");
    expect(radio("Only the classifications listed", form).checked).toBe(true);
    expect(form.querySelector<HTMLInputElement>('input[name="classifications"]')?.value).toBe("Functional");
    expect(form.querySelector<HTMLInputElement>('input[name="unclassified"]')?.checked).toBe(true);
    const every = radio("Every classification", form);
    expect(every.disabled).toBe(false);
    every.checked = true;
    form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await vi.waitFor(() => expect(puts()).toHaveLength(3));
    expect(puts()[2]?.body).toMatchObject({ classifications: null });
    expectEveryFieldLabelled();
  });
});

describe("audit: pages with fewer events than asked for", () => {
  const event = (id: string) => ({
    id, time: "2026-11-25T10:00:00Z", type: "LoginFailed", severity: "info", success: false,
    actor: { kind: "user", name: "bob" }, source: { ip: "10.0.0.1" },
  });

  it("an empty page with a cursor keeps Load more and says the search goes on", async () => {
    // c1: empty with a cursor; c2: two events; c3: empty with a cursor again; c4: the last page.
    const pages: Record<string, unknown> = {
      "": { events: [], nextCursor: "c1" },
      c1: { events: [event("1"), event("2")], nextCursor: "c2" },
      c2: { events: [], nextCursor: "c3" },
      c3: { events: [event("3")] },
    };
    const { calls } = routeFetch({
      "GET /api/admin/audit": (_init: RequestInit, url: URL) => jsonResponse(200, pages[url.searchParams.get("cursor") ?? ""]),
    });
    await renderAudit(root, ctxOf("Administrator"), new Date("2026-11-25T12:00:00Z"));
    const rows = () => root.querySelectorAll("tr.audit-event").length;
    const more = button("Load more");
    const resultsText = () => root.querySelector(".audit-results")?.textContent ?? "";
    const statusText = () => root.querySelector(".audit-status")?.textContent ?? "";

    expect(resultsText()).toContain("No matching events in this part yet; load more to keep searching.");
    expect(resultsText()).not.toContain("No events in this range.");
    expect(more.hidden).toBe(false);
    expect(statusText()).toBe("0 events shown so far.");

    more.click();
    await vi.waitFor(() => expect(rows()).toBe(2));
    expect(calls[1]?.url.searchParams.get("cursor")).toBe("c1");
    expect(root.querySelector(".audit-results table")).not.toBeNull();
    expect(resultsText()).not.toContain("No matching events");
    expect(statusText()).toBe("2 events shown (more available).");
    expect(more.hidden).toBe(false);

    more.click();
    await vi.waitFor(() => expect(calls).toHaveLength(3));
    await vi.waitFor(() => expect(statusText()).toContain("load more to keep searching"));
    expect(rows()).toBe(2);
    expect(more.hidden).toBe(false);
    expect(more.disabled).toBe(false);

    more.click();
    await vi.waitFor(() => expect(rows()).toBe(3));
    expect(calls[3]?.url.searchParams.get("cursor")).toBe("c3");
    expect(more.hidden).toBe(true);
    expect(statusText()).toBe("3 events shown.");
  });

  it("a new search starts over; only a last page with nothing says there are no events", async () => {
    const { calls } = routeFetch({
      "GET /api/admin/audit": (_init: RequestInit, url: URL) =>
        url.searchParams.get("cursor") === "c1"
          ? jsonResponse(200, { events: [] })
          : jsonResponse(200, { events: [], nextCursor: "c1" }),
    });
    await renderAudit(root, ctxOf("Administrator"));
    button("Load more").click();
    await vi.waitFor(() => expect(root.textContent).toContain("No events in this range."));
    expect(button("Load more").hidden).toBe(true);
    expect(root.textContent).not.toContain("No matching events in this part yet");
    submitForm(labelled("User"));
    await vi.waitFor(() => expect(calls).toHaveLength(3));
    expect(calls[2]?.url.searchParams.has("cursor")).toBe(false);
    await vi.waitFor(() => expect(root.textContent).toContain("No matching events in this part yet"));
    expect(button("Load more").hidden).toBe(false);
  });
});
