// Administrators create clients (the new secret shown once) and declassify secret settings
// (values and history deleted, after the name is typed). Other roles get neither control.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type AdminClient, type AdminSetting } from "../src/api/clients";
import { ApiError } from "../src/api/http";
import { clearAccessToken, setAccessToken } from "../src/api/session";
import { createClient, declassifySetting } from "../src/api/clients";
import {
  CLIENT_LIMIT_TEXT,
  DECLASSIFY_CONFLICT_TEXT,
  NEW_CLIENT_SECRET_TEXT,
  declassifyExplanation,
  declassifyResultText,
  renderClients,
} from "../src/views/clients";
import type { PageContext } from "../src/views/common";
import { callOf, errorBody, jsonResponse, meOf, mockFetch, routeFetch } from "./helpers";

const XSS = `<img src=x onerror="window.__pwned=1">`;
const SECRET = "Zm9vYmFyYmF6cXV4LW5ldy1jbGllbnQtc2VjcmV0LTAxMjM0NTY3";

const setting = (over: Partial<AdminSetting>): AdminSetting => ({
  name: "S",
  type: "string",
  description: "",
  secret: false,
  ...over,
});

const shop = (version = 3): AdminClient => ({
  name: "shop",
  description: "Shop",
  version,
  instances: ["eu"],
  settings: [
    setting({ name: "Greeting", value: "hello" }),
    setting({ name: "DbPassword", secret: true, isSet: true, lastChanged: "2026-01-01T00:00:00Z" }),
    setting({ name: "ApiToken", secret: true, isSet: false, advanced: true }),
  ],
});

let root: HTMLElement;
const ctxOf = (role: "Administrator" | "User" | "ReadOnly"): PageContext => ({
  me: meOf(role),
  onSessionExpired: vi.fn(),
});

beforeEach(() => {
  setAccessToken("tok");
  root = document.createElement("main");
  document.body.append(root);
});

afterEach(() => {
  clearAccessToken();
  document.body.replaceChildren();
  vi.unstubAllGlobals();
});

const buttons = (name: string): HTMLButtonElement[] =>
  [...root.querySelectorAll("button")].filter((b) => b.textContent === name || b.getAttribute("aria-label") === name);
const one = (name: string): HTMLButtonElement => {
  const b = buttons(name)[0];
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
const alerts = (): string[] =>
  [...root.querySelectorAll('[role="alert"]:not([hidden])')].map((a) => a.textContent ?? "");

async function open(role: "Administrator" | "User" | "ReadOnly", routes: Record<string, unknown> = {}) {
  const mock = routeFetch({ "GET /api/admin/clients": { clients: [shop()] }, ...routes });
  const ctx = ctxOf(role);
  await renderClients(root, { ctx, onSessionExpired: ctx.onSessionExpired });
  return { ...mock, ctx };
}

describe("createClient", () => {
  it("posts the name and description with the bearer token and reads the secret", async () => {
    const fn = mockFetch(jsonResponse(201, { name: "billing", clientSecret: SECRET }));
    await expect(createClient({ name: "billing", description: "Billing service" })).resolves.toEqual({
      name: "billing",
      clientSecret: SECRET,
    });
    const { url, init, headers } = callOf(fn, 0);
    expect(url).toBe("/api/admin/clients");
    expect(init.method).toBe("POST");
    expect(JSON.parse(String(init.body))).toEqual({ name: "billing", description: "Billing service" });
    expect(headers["Authorization"]).toBe("Bearer tok");
  });

  it("refuses an answer without a secret, and passes 409s on with their codes", async () => {
    for (const body of [{ name: "billing" }, { name: "billing", clientSecret: "" }, [SECRET]]) {
      mockFetch(jsonResponse(201, body));
      await expect(createClient({ name: "billing" })).rejects.toMatchObject({ code: "bad_response" });
    }
    for (const code of ["CLIENT_EXISTS", "CLIENT_LIMIT_REACHED"]) {
      mockFetch(jsonResponse(409, errorBody(code, "refused")));
      const err = (await createClient({ name: "billing" }).catch((e: unknown) => e)) as ApiError;
      expect(err).toBeInstanceOf(ApiError);
      expect([err.status, err.code]).toEqual([409, code]);
    }
  });
});

describe("declassifySetting", () => {
  it("posts no body to the setting's declassify route and reads the counts", async () => {
    const fn = mockFetch(jsonResponse(200, { version: 8, deletedValues: 2, deletedHistory: 5 }));
    await expect(declassifySetting("a b", "Db/Pass")).resolves.toEqual({ version: 8, deletedValues: 2, deletedHistory: 5 });
    const { url, init, headers } = callOf(fn, 0);
    expect(url).toBe("/api/admin/clients/a%20b/settings/Db%2FPass/declassify");
    expect(init.method).toBe("POST");
    expect(init.body ?? undefined).toBeUndefined();
    expect(headers["Authorization"]).toBe("Bearer tok");
  });

  it("refuses an answer without whole numbers", async () => {
    for (const body of [{}, { version: 8, deletedValues: 2 }, { version: "8", deletedValues: 2, deletedHistory: 5 }, { version: 8, deletedValues: -1, deletedHistory: 0 }]) {
      mockFetch(jsonResponse(200, body));
      await expect(declassifySetting("shop", "DbPassword")).rejects.toMatchObject({ code: "bad_response" });
    }
  });

  it("says what was deleted", () => {
    expect(declassifyResultText("DbPassword", { version: 8, deletedValues: 2, deletedHistory: 5 })).toBe(
      "DbPassword is a plain setting now. Deleted 2 values and 5 history entries.",
    );
    expect(declassifyResultText("K", { version: 2, deletedValues: 1, deletedHistory: 1 })).toBe(
      "K is a plain setting now. Deleted 1 value and 1 history entry.",
    );
  });
});

describe("new client", () => {
  it("is not rendered at all for User and ReadOnly", async () => {
    for (const role of ["User", "ReadOnly"] as const) {
      root.replaceChildren();
      const { calls } = await open(role);
      expect(buttons("New client")).toHaveLength(0);
      expect(root.querySelector("form.client-create")).toBeNull();
      expect(root.querySelector(".new-client")).toBeNull();
      expect(root.textContent).not.toContain("New client");
      expect(calls.some((c) => c.method === "POST")).toBe(false);
    }
  });

  it("an Administrator opens a small form, the name is checked before sending, Cancel closes it", async () => {
    const { calls } = await open("Administrator");
    const toggle = one("New client");
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    // Nothing of the form is on the page until asked for.
    expect(root.querySelector("form.client-create")).toBeNull();
    toggle.click();
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    const form = root.querySelector("form.client-create");
    expect(form).not.toBeNull();
    expect(toggle.getAttribute("aria-controls")).toBe(form?.parentElement?.id);
    const name = labelled<HTMLInputElement>("Client name");
    expect(document.activeElement).toBe(name);
    expect(labelled<HTMLInputElement>("Description (optional)").getAttribute("maxlength")).toBe("2000");
    for (const f of form?.querySelectorAll("input") ?? []) {
      expect(root.querySelector(`label[for="${f.id}"]`)).not.toBeNull();
    }
    for (const bad of ["", "has space", "a/b", "x".repeat(65), "ü"]) {
      name.value = bad;
      submitForm(name);
      expect(alerts()).toEqual(["The client name is not valid: 1 to 64 letters, digits, '.', '_' or '-'."]);
    }
    expect(calls.some((c) => c.method === "POST")).toBe(false);
    one("Cancel").click();
    expect(root.querySelector("form.client-create")).toBeNull();
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(document.activeElement).toBe(toggle);
    expect(alerts()).toEqual([]);
  });

  it("creates the client, shows its secret once with a copy button and what to do with it, then loads the list again", async () => {
    const writeText = vi.fn(() => Promise.resolve());
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText } });
    let listed: AdminClient[] = [shop()];
    const { calls } = await open("Administrator", {
      "GET /api/admin/clients": () => jsonResponse(200, { clients: listed }),
      "POST /api/admin/clients": (init: RequestInit) => {
        const body = JSON.parse(String(init.body)) as { name: string; description?: string };
        listed = [...listed, { name: body.name, description: body.description ?? "", version: 1, settings: [] }];
        return jsonResponse(201, { name: body.name, clientSecret: SECRET });
      },
    });
    one("New client").click();
    labelled<HTMLInputElement>("Client name").value = " billing.v2_eu-1 ";
    labelled<HTMLInputElement>("Description (optional)").value = `Billing ${XSS}`;
    submitForm(labelled("Client name"));
    await vi.waitFor(() => expect(root.textContent).toContain(SECRET));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ name: "billing.v2_eu-1", description: `Billing ${XSS}` });

    const panel = root.querySelector<HTMLElement>('section.one-time[aria-label="Client secret of billing.v2_eu-1"]');
    expect(panel).not.toBeNull();
    expect(panel?.textContent).toContain(NEW_CLIENT_SECRET_TEXT);
    expect(NEW_CLIENT_SECRET_TEXT).toBe("Give this secret to the service; it registers its settings with it. It is shown only now.");
    expect(panel?.textContent).toContain("you will not see it again");
    expect(panel?.querySelector('[aria-label="Client secret"]')?.textContent).toBe(SECRET);
    expect(document.activeElement?.textContent).toBe("Copy");
    // The form is closed and empty; the list was loaded again and shows the new client.
    expect(root.querySelector("form.client-create")).toBeNull();
    expect(one("New client").getAttribute("aria-expanded")).toBe("false");
    await vi.waitFor(() => expect(root.querySelector('section.client[data-client="billing.v2_eu-1"]')).not.toBeNull());
    expect(calls.filter((c) => c.method === "GET" && c.path === "/api/admin/clients")).toHaveLength(2);
    const fresh = root.querySelector('section.client[data-client="billing.v2_eu-1"]');
    expect(fresh?.textContent).toContain("no settings yet");
    expect(fresh?.textContent).toContain(`Billing ${XSS}`);
    expect(root.querySelector("img")).toBeNull();
    // The reload kept the secret on screen until the admin is done with it.
    expect(root.textContent).toContain(SECRET);
    // It is nowhere but in its panel: not in a field, not in an attribute.
    const values = [...root.querySelectorAll("input, textarea")].map((i) => (i as HTMLInputElement).value);
    expect(values).not.toContain(SECRET);
    for (const e of root.querySelectorAll("*")) {
      for (const a of e.attributes) expect(a.value).not.toContain(SECRET);
    }

    one("Copy").click();
    expect(writeText).toHaveBeenCalledWith(SECRET);
    await vi.waitFor(() => expect(root.querySelector(".copy-status")?.textContent).toBe("Copied."));
    one("Done, hide it").click();
    expect(root.textContent).not.toContain(SECRET);
    expect(root.textContent).not.toContain(NEW_CLIENT_SECRET_TEXT);
    expect(document.activeElement).toBe(one("New client"));
    // Opening the form again starts empty.
    one("New client").click();
    expect(labelled<HTMLInputElement>("Client name").value).toBe("");
  });

  it("a name that exists, or a full server, is explained and the form stays open", async () => {
    let answer = jsonResponse(409, errorBody("CLIENT_EXISTS", "A client with that name already exists.", "r-1"));
    const { calls } = await open("Administrator", { "POST /api/admin/clients": () => answer });
    one("New client").click();
    const name = labelled<HTMLInputElement>("Client name");
    name.value = "shop";
    submitForm(name);
    await vi.waitFor(() => expect(alerts().join(" ")).toContain("A client named shop already exists."));
    expect(root.querySelector("form.client-create")).not.toBeNull();
    expect(root.querySelector("section.one-time")).toBeNull();
    expect(calls.filter((c) => c.method === "GET" && c.path === "/api/admin/clients")).toHaveLength(1);

    answer = jsonResponse(409, errorBody("CLIENT_LIMIT_REACHED", "The server holds the most clients it may.", "r-2"));
    name.value = "another";
    submitForm(name);
    await vi.waitFor(() => expect(alerts()).toEqual([CLIENT_LIMIT_TEXT]));
    expect(CLIENT_LIMIT_TEXT).toContain("Configuration page");

    answer = jsonResponse(400, errorBody("INVALID_BODY", `Bad name ${XSS}`, "r-3"));
    submitForm(name);
    await vi.waitFor(() => expect(alerts()).toEqual([`Bad name ${XSS} (request r-3)`]));
    expect(root.querySelector("img")).toBeNull();
    expect(root.querySelector("section.one-time")).toBeNull();
  });

  it("the empty state tells an Administrator how a client joins", async () => {
    await open("Administrator", { "GET /api/admin/clients": { clients: [] } });
    expect(root.textContent).toContain("No clients have registered yet.");
    expect(root.textContent).toContain('Create one with "New client"');
  });
});

describe("declassify", () => {
  const manageOpen = () => [...root.querySelectorAll<HTMLDetailsElement>("details")].filter((d) => d.open).map((d) => d.className);

  it("is offered to Administrators for secret settings only, and to no other role", async () => {
    await open("Administrator");
    expect(buttons("Declassify DbPassword")).toHaveLength(1);
    expect(buttons("Declassify ApiToken")).toHaveLength(1);
    expect(buttons("Declassify Greeting")).toHaveLength(0);
    expect(one("Declassify DbPassword").textContent).toBe("Declassify…");
    for (const role of ["User", "ReadOnly"] as const) {
      root.replaceChildren();
      await open(role);
      expect([...root.querySelectorAll("button")].filter((b) => /declassify/i.test(`${b.textContent} ${b.getAttribute("aria-label")}`))).toHaveLength(0);
    }
  });

  it("asks for the setting's name after saying what is lost, then shows the result and reads the client again", async () => {
    let version = 3;
    const { calls } = await open("Administrator", {
      "POST /api/admin/clients/shop/settings/DbPassword/declassify": () => {
        version = 4;
        return jsonResponse(200, { version: 4, deletedValues: 2, deletedHistory: 5 });
      },
      "GET /api/admin/clients/shop": () => {
        const c = shop(version);
        c.settings[1] = setting({ name: "DbPassword" });
        return jsonResponse(200, c);
      },
      "PUT /api/admin/clients/shop/settings": (init: RequestInit) => {
        const body = JSON.parse(String(init.body)) as { version?: number };
        if (body.version !== version) return jsonResponse(409, errorBody("STALE_VERSION", "stale"));
        version += 1;
        return jsonResponse(200, { version });
      },
    });
    const advanced = root.querySelector<HTMLDetailsElement>("details.advanced");
    if (advanced !== null) advanced.open = true;
    const start = one("Declassify DbPassword");
    expect(start.getAttribute("aria-expanded")).toBe("false");
    start.click();
    expect(start.getAttribute("aria-expanded")).toBe("true");
    const form = root.querySelector<HTMLFormElement>("form.declassify");
    if (form === null) throw new Error("no confirmation");
    const title = form.querySelector("h3");
    expect(form.getAttribute("aria-labelledby")).toBe(title?.id);
    expect(title?.textContent).toBe("Declassify DbPassword?");
    expect(form.textContent).toContain(declassifyExplanation("DbPassword"));
    expect(form.textContent).toContain("every instance's");
    expect(form.textContent).toContain("cannot be recovered");
    const confirm = labelled<HTMLInputElement>('Type "DbPassword" to confirm');
    await vi.waitFor(() => expect(document.activeElement).toBe(confirm));
    const go = one("Declassify and delete its values");
    expect(go.disabled).toBe(true);

    // Anything but the exact name sends nothing.
    for (const typed of ["dbpassword", "DbPasswor", " DbPassword"]) {
      confirm.value = typed;
      confirm.dispatchEvent(new Event("input"));
      expect(go.disabled).toBe(true);
      submitForm(confirm);
      expect(alerts()).toEqual(["Type the setting name, DbPassword, to confirm."]);
    }
    expect(calls.some((c) => c.method === "POST")).toBe(false);

    confirm.value = "DbPassword";
    confirm.dispatchEvent(new Event("input"));
    expect(go.disabled).toBe(false);
    submitForm(confirm);
    await vi.waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(1));
    const post = calls.find((c) => c.method === "POST");
    expect(post?.path).toBe("/api/admin/clients/shop/settings/DbPassword/declassify");
    expect(post?.body).toBeUndefined();

    // The client is read again: the setting is plain and without a value; the result is said.
    await vi.waitFor(() => expect(root.querySelector(".client .version")?.textContent).toBe("version 4"));
    const notice = root.querySelector(".client-notice");
    expect(notice?.textContent).toBe("DbPassword is a plain setting now. Deleted 2 values and 5 history entries.");
    expect(notice?.getAttribute("role")).toBe("status");
    expect(root.querySelector("form.declassify")).toBeNull();
    expect(buttons("Declassify DbPassword")).toHaveLength(0);
    expect(document.activeElement?.getAttribute("aria-label")).toBe("Edit DbPassword");
    expect(manageOpen()).toContain("advanced");
    expect(alerts()).toEqual([]);

    // The next edit carries the version the declassification answered.
    one("Edit Greeting").click();
    labelled<HTMLInputElement>("New value").value = "hi";
    labelled<HTMLInputElement>("Change message").value = "after declassifying";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(root.querySelector(".client-notice")?.textContent).toBe("Saved Greeting."));
    expect(calls.filter((c) => c.method === "PUT").map((c) => (c.body as { version: number }).version)).toEqual([4]);
  });

  it("Cancel closes the confirmation and sends nothing; the button toggles it too", async () => {
    const { calls } = await open("Administrator");
    const start = one("Declassify DbPassword");
    start.click();
    expect(root.querySelector("form.declassify")).not.toBeNull();
    [...(root.querySelector("form.declassify")?.querySelectorAll("button") ?? [])].find((b) => b.textContent === "Cancel")?.click();
    expect(root.querySelector("form.declassify")).toBeNull();
    expect(start.getAttribute("aria-expanded")).toBe("false");
    expect(document.activeElement).toBe(start);
    start.click();
    start.click();
    expect(root.querySelector("form.declassify")).toBeNull();
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("not secret any more: says so and offers a reload; a concurrent change: try again; other errors as the server says", async () => {
    let answer = jsonResponse(409, errorBody("NOT_SECRET", "The setting is not secret.", "r-1"));
    const { calls } = await open("Administrator", {
      "POST /api/admin/clients/shop/settings/DbPassword/declassify": () => answer,
      "GET /api/admin/clients/shop": () => jsonResponse(200, shop(5)),
    });
    one("Declassify DbPassword").click();
    const confirm = labelled<HTMLInputElement>('Type "DbPassword" to confirm');
    confirm.value = "DbPassword";
    confirm.dispatchEvent(new Event("input"));
    submitForm(confirm);
    await vi.waitFor(() => expect(alerts().join(" ")).toContain("DbPassword is not secret any more"));
    const reload = one("Reload");
    expect(reload.hidden).toBe(false);
    expect(document.activeElement).toBe(reload);
    expect(root.querySelector<HTMLElement>(".client-notice")?.hidden).toBe(true);

    answer = jsonResponse(409, errorBody("CONFLICT", "changed at the same time", "r-2"));
    submitForm(confirm);
    await vi.waitFor(() => expect(alerts()).toEqual([DECLASSIFY_CONFLICT_TEXT]));
    expect(one("Reload").hidden).toBe(true);
    expect(one("Declassify and delete its values").disabled).toBe(false);

    answer = jsonResponse(403, errorBody("FORBIDDEN", `No ${XSS}`, "r-3"));
    submitForm(confirm);
    await vi.waitFor(() => expect(alerts()).toEqual([`No ${XSS} (request r-3)`]));
    expect(root.querySelector("img")).toBeNull();
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(3);

    answer = jsonResponse(404, errorBody("SETTING_NOT_FOUND", "The client has no such setting.", "r-4"));
    submitForm(confirm);
    await vi.waitFor(() => expect(alerts()).toEqual(["The client has no such setting. (request r-4)"]));
    one("Reload").click();
    await vi.waitFor(() => expect(root.querySelector(".client .version")?.textContent).toBe("version 5"));
  });
});
