import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type AdminClient, type AdminSetting } from "../src/api/clients";
import { clearAccessToken, setAccessToken } from "../src/api/session";
import { rotateDataKey } from "../src/api/clients";
import {
  CONFLICT_TEXT,
  DATA_KEY_CONFLICT_TEXT,
  DATA_KEY_EXPLANATION,
  STALE_TEXT,
  conflictText,
  dataKeyResultText,
  filterClients,
  renderClients,
} from "../src/views/clients";
import { validateValue, versionNumber } from "../src/settings/validate";
import { ApiError } from "../src/api/http";
import type { PageContext } from "../src/views/common";
import { callOf, emptyResponse, errorBody, jsonResponse, meOf, mockFetch, routeFetch } from "./helpers";

const XSS = `<img src=x onerror="window.__pwned=1">`;

const setting = (over: Partial<AdminSetting>): AdminSetting => ({
  name: "S",
  type: "string",
  description: "",
  secret: false,
  ...over,
});

const shop = (): AdminClient => ({
  name: "shop",
  description: "Shop",
  version: 3,
  instances: ["eu"],
  settings: [
    setting({ name: "Greeting", value: "hello", group: "Front", category: "UI" }),
    setting({ name: "MaxItems", type: "int", value: 10, minimum: 1, maximum: 100, group: "Basket" }),
    setting({ name: "DbPassword", secret: true, isSet: true, lastChanged: "2026-01-01T00:00:00Z" }),
    setting({ name: "Tracing", type: "bool", value: false, advanced: true, category: "Ops" }),
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
});

const buttons = (name: RegExp | string): HTMLButtonElement[] =>
  [...root.querySelectorAll("button")].filter((b) =>
    typeof name === "string" ? b.textContent === name || b.getAttribute("aria-label") === name : name.test(b.getAttribute("aria-label") ?? b.textContent ?? ""),
  );
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
  const form = inside.closest("form") ?? inside.querySelector("form");
  form?.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
};
const alerts = (): string[] =>
  [...root.querySelectorAll('[role="alert"]:not([hidden])')].map((a) => a.textContent ?? "");

describe("validateValue", () => {
  it("checks types", () => {
    expect(validateValue(setting({ type: "int" }), "42")).toEqual({ ok: true, value: 42 });
    expect(validateValue(setting({ type: "int" }), "4.2")).toMatchObject({ ok: false });
    expect(validateValue(setting({ type: "int" }), "3000000000")).toMatchObject({ ok: false });
    expect(validateValue(setting({ type: "long" }), "3000000000")).toEqual({ ok: true, value: 3000000000 });
    expect(validateValue(setting({ type: "double" }), "2.5")).toEqual({ ok: true, value: 2.5 });
    expect(validateValue(setting({ type: "double" }), "abc")).toMatchObject({ ok: false });
    expect(validateValue(setting({ type: "bool" }), "true")).toEqual({ ok: true, value: true });
    expect(validateValue(setting({ type: "bool" }), "yes")).toMatchObject({ ok: false });
    expect(validateValue(setting({ type: "dateTime" }), "2026-01-31T09:30:00Z")).toMatchObject({ ok: true });
    expect(validateValue(setting({ type: "dateTime" }), "tomorrow")).toMatchObject({ ok: false });
    expect(validateValue(setting({ type: "json" }), '{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(validateValue(setting({ type: "json" }), "{nope")).toMatchObject({ ok: false, error: "Enter valid JSON." });
    expect(validateValue(setting({ type: "dataGrid" }), '[{"a":1}]')).toMatchObject({ ok: true });
    expect(validateValue(setting({ type: "dataGrid" }), "[1]")).toMatchObject({ ok: false });
    expect(validateValue(setting({}), "anything")).toEqual({ ok: true, value: "anything" });
  });

  it("checks allowed values, range and the (anchored) pattern with its explanation", () => {
    const mode = setting({ validValues: ["fast", "safe"] });
    expect(validateValue(mode, "fast")).toMatchObject({ ok: true });
    expect(validateValue(mode, "slow")).toEqual({ ok: false, error: "Choose one of: fast, safe." });
    const n = setting({ type: "int", minimum: 1, maximum: 10 });
    expect(validateValue(n, "0")).toEqual({ ok: false, error: "The smallest value allowed is 1." });
    expect(validateValue(n, "11")).toEqual({ ok: false, error: "The largest value allowed is 10." });
    const port = setting({ validationRegex: "[0-9]{2,5}", validationExplanation: "a port number" });
    expect(validateValue(port, "8080")).toMatchObject({ ok: true });
    expect(validateValue(port, "x8080")).toEqual({ ok: false, error: "Not valid: a port number" });
    const bare = setting({ validationRegex: "[a-z]+" });
    expect(validateValue(bare, "A")).toEqual({ ok: false, error: "Not valid: it must match the pattern [a-z]+" });
    // A pattern JavaScript cannot compile is left to the server.
    expect(validateValue(setting({ validationRegex: "(?P<x>a)" }), "b")).toMatchObject({ ok: true });
  });
});

describe("conflicts and versions", () => {
  it("explains STALE_VERSION and CONFLICT, and nothing else", () => {
    expect(conflictText(new ApiError(409, "STALE_VERSION", "stale"))).toBe(STALE_TEXT);
    expect(conflictText(new ApiError(409, "CONFLICT", "same time"))).toBe(CONFLICT_TEXT);
    expect(conflictText(new ApiError(409, "CLIENT_TOO_LARGE", "big"))).toBeNull();
    expect(conflictText(new ApiError(400, "STALE_VERSION", "odd"))).toBeNull();
    expect(conflictText(new Error("network"))).toBeNull();
  });

  it("reads a version as a whole number, or not at all", () => {
    expect(versionNumber(7)).toBe(7);
    expect(versionNumber("12")).toBe(12);
    expect(versionNumber("")).toBeUndefined();
    expect(versionNumber("v2")).toBeUndefined();
    expect(versionNumber(1.5)).toBeUndefined();
    expect(versionNumber(-1)).toBeUndefined();
    expect(versionNumber(undefined)).toBeUndefined();
  });
});

describe("rotateDataKey", () => {
  it("posts no body to the client's data-key route with the bearer token, and reads the answer", async () => {
    const fn = mockFetch(jsonResponse(200, { dataKeyVersion: 2, resealedValues: 12 }));
    await expect(rotateDataKey("a b/c")).resolves.toEqual({ dataKeyVersion: 2, resealedValues: 12 });
    const { url, init, headers } = callOf(fn, 0);
    expect(url).toBe("/api/admin/clients/a%20b%2Fc/data-key");
    expect(init.method).toBe("POST");
    expect(init.body ?? undefined).toBeUndefined();
    expect(headers["Authorization"]).toBe("Bearer tok");
  });

  it("refuses an answer without whole numbers", async () => {
    for (const body of [{}, { dataKeyVersion: "2", resealedValues: 1 }, { dataKeyVersion: 2, resealedValues: 1.5 }, [2, 1]]) {
      mockFetch(jsonResponse(200, body));
      await expect(rotateDataKey("shop")).rejects.toMatchObject({ code: "bad_response" });
    }
  });

  it("a 409 is a typed error with the server's code and message", async () => {
    mockFetch(jsonResponse(409, errorBody("CLIENT_TOO_LARGE", "The client has too many values.", "r-1")));
    const err = (await rotateDataKey("shop").catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(409);
    expect(err.code).toBe("CLIENT_TOO_LARGE");
    expect(err.message).toBe("The client has too many values.");
  });

  it("says what was sealed under which version", () => {
    expect(dataKeyResultText({ dataKeyVersion: 2, resealedValues: 12 })).toBe("Sealed 12 values under data key version 2.");
    expect(dataKeyResultText({ dataKeyVersion: 3, resealedValues: 1 })).toBe("Sealed 1 value under data key version 3.");
    expect(dataKeyResultText({ dataKeyVersion: 2, resealedValues: 0 })).toBe("Sealed 0 values under data key version 2.");
  });
});

describe("filterClients", () => {
  const clients = [shop(), { name: "billing", description: "", version: 1, settings: [setting({ name: "Rate" })] }];

  it("matches client and setting names, groups and categories", () => {
    expect(filterClients(clients, { text: "bill", group: "", category: "" }).map((c) => c.name)).toEqual(["billing"]);
    const byName = filterClients(clients, { text: "greet", group: "", category: "" });
    expect(byName.map((c) => c.name)).toEqual(["shop"]);
    expect(byName[0]?.settings.map((s) => s.name)).toEqual(["Greeting"]);
    const byGroup = filterClients(clients, { text: "", group: "Basket", category: "" });
    expect(byGroup[0]?.settings.map((s) => s.name)).toEqual(["MaxItems"]);
    expect(filterClients(clients, { text: "", group: "", category: "Ops" })[0]?.settings.map((s) => s.name)).toEqual(["Tracing"]);
    expect(filterClients(clients, { text: "zzz", group: "", category: "" })).toEqual([]);
    expect(filterClients(clients, { text: "", group: "", category: "" })).toHaveLength(2);
  });
});

describe("clients page", () => {
  async function open(role: "Administrator" | "User" | "ReadOnly", routes: Record<string, unknown> = {}) {
    const mock = routeFetch({ "GET /api/admin/clients": { clients: [shop()] }, ...routes });
    const ctx = ctxOf(role);
    await renderClients(root, { ctx, onSessionExpired: ctx.onSessionExpired });
    return { ...mock, ctx };
  }

  it("folds advanced settings and offers group and category filters", async () => {
    await open("Administrator");
    const details = root.querySelector<HTMLDetailsElement>("details.advanced");
    expect(details?.open).toBe(false);
    expect(details?.querySelector("summary")?.textContent).toBe("Advanced settings (1)");
    expect(details?.textContent).toContain("Tracing");
    const groups = [...labelled<HTMLSelectElement>("Group").options].map((o) => o.value);
    expect(groups).toEqual(["", "Basket", "Front"]);
    const cats = [...labelled<HTMLSelectElement>("Category").options].map((o) => o.value);
    expect(cats).toEqual(["", "Ops", "UI"]);

    const search = labelled<HTMLInputElement>("Search");
    search.value = "nothing-like-this";
    search.dispatchEvent(new Event("input"));
    expect(root.textContent).toContain("Nothing matches the filter.");
    search.value = "";
    search.dispatchEvent(new Event("input"));
    const group = labelled<HTMLSelectElement>("Group");
    group.value = "Basket";
    group.dispatchEvent(new Event("change"));
    expect([...root.querySelectorAll(".setting-name")].map((s) => s.textContent)).toEqual(["MaxItems"]);
  });

  it("a secret shows set / not set and last change; its editor is a password field with no value", async () => {
    await open("Administrator");
    const row = [...root.querySelectorAll("tr.setting")].find((r) => r.textContent?.includes("DbPassword"));
    expect(row?.querySelector('td[data-label="Value"]')?.textContent).toBe("set");
    expect(row?.querySelector("time")?.getAttribute("datetime")).toBe("2026-01-01T00:00:00Z");
    one("Edit DbPassword").click();
    const input = labelled<HTMLInputElement>("New value");
    expect(input.type).toBe("password");
    expect(input.value).toBe("");
    expect(input.getAttribute("autocomplete")).toBe("new-password");
    expect(root.textContent).toContain("Write-only");
  });

  it("validates before saving: nothing is sent for a bad value or a missing message", async () => {
    const { calls } = await open("Administrator");
    one("Edit MaxItems").click();
    const value = labelled<HTMLInputElement>("New value");
    value.value = "500";
    labelled<HTMLInputElement>("Change message").value = "why";
    submitForm(value);
    expect(alerts()).toContain("The largest value allowed is 100.");
    value.value = "50";
    labelled<HTMLInputElement>("Change message").value = "  ";
    submitForm(value);
    expect(alerts()).toContain("Enter a change message: why are you making this change?");
    expect(calls.filter((c) => c.method === "PUT")).toHaveLength(0);
  });

  it("saves with the change message, the typed value, the chosen instance and the loaded version, then reads that client again", async () => {
    const { calls } = await open("User", {
      "PUT /api/admin/clients/shop/settings": { version: 4 },
      "GET /api/admin/clients/shop": { ...shop(), version: 4 },
    });
    one("Edit MaxItems").click();
    labelled<HTMLInputElement>("New value").value = "25";
    labelled<HTMLInputElement>("Change message").value = "bigger baskets";
    labelled<HTMLSelectElement>("Apply to").value = "eu";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(calls.filter((c) => c.path === "/api/admin/clients/shop")).toHaveLength(1));
    const put = calls.find((c) => c.method === "PUT");
    expect(put?.path).toBe("/api/admin/clients/shop/settings");
    expect(put?.body).toEqual({
      changeMessage: "bigger baskets",
      values: [{ name: "MaxItems", value: 25 }],
      instance: "eu",
      version: 3,
    });
    // Only the one client is read again, not the whole list.
    expect(calls.filter((c) => c.path === "/api/admin/clients")).toHaveLength(1);
    await vi.waitFor(() => expect(root.querySelector(".client .version")?.textContent).toBe("version 4"));
    expect(root.querySelector(".client-notice")?.textContent).toBe("Saved MaxItems for instance eu.");
    expect(root.querySelector(".client-notice")?.getAttribute("role")).toBe("status");
    expect(document.activeElement?.getAttribute("aria-label")).toBe("Edit MaxItems");
  });

  it("consecutive saves send the version the previous save answered", async () => {
    let version = 3;
    let greeting = "hello";
    const { calls } = await open("Administrator", {
      "PUT /api/admin/clients/shop/settings": (init: RequestInit) => {
        const body = JSON.parse(String(init.body)) as { version?: number; values: Array<{ value: string }> };
        if (body.version !== version) {
          return jsonResponse(409, errorBody("STALE_VERSION", "The client changed since you loaded it. Reload and try again."));
        }
        version += 1;
        greeting = body.values[0]?.value ?? "";
        return jsonResponse(200, { version });
      },
      "GET /api/admin/clients/shop": () => {
        const c = shop();
        c.version = version;
        const g = c.settings[0];
        if (g !== undefined) g.value = greeting;
        return jsonResponse(200, c);
      },
    });
    for (const text of ["one", "two", "three"]) {
      one("Edit Greeting").click();
      labelled<HTMLInputElement>("New value").value = text;
      labelled<HTMLInputElement>("Change message").value = `to ${text}`;
      submitForm(labelled("New value"));
      await vi.waitFor(() => expect(root.querySelector(".client-notice")?.textContent).toBe("Saved Greeting."));
      await vi.waitFor(() => expect(root.querySelector("tr.setting code.value")?.textContent).toBe(text));
      root.querySelector(".client-notice")?.setAttribute("hidden", "");
      root.querySelector(".client-notice")?.replaceChildren();
    }
    const puts = calls.filter((c) => c.method === "PUT").map((c) => (c.body as { version?: number }).version);
    expect(puts).toEqual([3, 4, 5]);
    expect(alerts()).toEqual([]);
  });

  it("uses the answered version even when the client cannot be read again", async () => {
    let refreshes = 0;
    const { calls } = await open("Administrator", {
      "PUT /api/admin/clients/shop/settings": (init: RequestInit) => {
        const body = JSON.parse(String(init.body)) as { version: number };
        return jsonResponse(200, { version: body.version + 1 });
      },
      "GET /api/admin/clients/shop": () => {
        refreshes += 1;
        return jsonResponse(503, errorBody("UNAVAILABLE", "Try again shortly."));
      },
    });
    one("Edit Greeting").click();
    labelled<HTMLInputElement>("New value").value = "a";
    labelled<HTMLInputElement>("Change message").value = "first";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(refreshes).toBe(1));
    await vi.waitFor(() => expect(alerts().join(" ")).toContain("Try again shortly."));
    // The editor is still there (nothing was redrawn); it says what was saved.
    expect(root.textContent).toContain("Saved Greeting.");
    labelled<HTMLInputElement>("New value").value = "b";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(calls.filter((c) => c.method === "PUT")).toHaveLength(2));
    expect(calls.filter((c) => c.method === "PUT").map((c) => (c.body as { version: number }).version)).toEqual([3, 4]);
  });

  it("a stale version: explained, Reload reads the client again and shows the other value, then a save works", async () => {
    let stale = true;
    const { calls } = await open("Administrator", {
      "PUT /api/admin/clients/shop/settings": () =>
        stale
          ? jsonResponse(409, errorBody("STALE_VERSION", "The client changed since you loaded it. Reload and try again."))
          : jsonResponse(200, { version: 8 }),
      "GET /api/admin/clients/shop": () => {
        const c = shop();
        c.version = stale ? 7 : 8;
        const g = c.settings[0];
        if (g !== undefined) g.value = stale ? "from another admin" : "mine";
        return jsonResponse(200, c);
      },
    });
    // Something else open on the page stays open when the client is redrawn.
    const advanced = root.querySelector<HTMLDetailsElement>("details.advanced");
    if (advanced !== null) advanced.open = true;
    one("Edit Greeting").click();
    labelled<HTMLInputElement>("New value").value = "mine";
    labelled<HTMLInputElement>("Change message").value = "m";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(alerts()).toContain(STALE_TEXT));
    expect(root.querySelector("tr.setting code.value")?.textContent).toBe("hello");
    const reload = one("Reload");
    expect(reload.hidden).toBe(false);
    expect(document.activeElement).toBe(reload);
    reload.click();
    await vi.waitFor(() => expect(root.querySelector("tr.setting code.value")?.textContent).toBe("from another admin"));
    expect(root.querySelector(".client .version")?.textContent).toBe("version 7");
    expect(root.querySelector<HTMLDetailsElement>("details.advanced")?.open).toBe(true);
    expect(document.activeElement?.getAttribute("aria-label")).toBe("Edit Greeting");
    expect(alerts()).toEqual([]);

    stale = false;
    one("Edit Greeting").click();
    labelled<HTMLInputElement>("New value").value = "mine";
    labelled<HTMLInputElement>("Change message").value = "again";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(root.querySelector("tr.setting code.value")?.textContent).toBe("mine"));
    expect(calls.filter((c) => c.method === "PUT").map((c) => (c.body as { version: number }).version)).toEqual([3, 7]);
    expect(calls.filter((c) => c.path === "/api/admin/clients")).toHaveLength(1);
  });

  it("a client deleted meanwhile: the refresh falls back to the whole list", async () => {
    const { calls } = await open("Administrator", {
      "PUT /api/admin/clients/shop/settings": jsonResponse(409, errorBody("STALE_VERSION", "stale")),
      "GET /api/admin/clients/shop": jsonResponse(404, errorBody("CLIENT_NOT_FOUND", "There is no client with that name.")),
    });
    one("Edit Greeting").click();
    labelled<HTMLInputElement>("New value").value = "x";
    labelled<HTMLInputElement>("Change message").value = "m";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(alerts()).toContain(STALE_TEXT));
    one("Reload").click();
    await vi.waitFor(() => expect(calls.filter((c) => c.path === "/api/admin/clients")).toHaveLength(2));
  });

  it("another 409 keeps the server's message and offers no reload", async () => {
    await open("Administrator", {
      "PUT /api/admin/clients/shop/settings": jsonResponse(409, errorBody("CLIENT_TOO_LARGE", "The client is too large.", "r-5")),
    });
    one("Edit Greeting").click();
    labelled<HTMLInputElement>("New value").value = "x";
    labelled<HTMLInputElement>("Change message").value = "m";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(alerts()).toContain("The client is too large. (request r-5)"));
    expect(one("Reload").hidden).toBe(true);
  });

  it("shows the server's error, and explains a 409 with a reload action", async () => {
    let answer = jsonResponse(400, errorBody("INVALID_VALUE", `Value of 'Greeting' is not valid ${XSS}.`, "r-9"));
    const { calls } = await open("Administrator", { "PUT /api/admin/clients/shop/settings": () => answer });
    one("Edit Greeting").click();
    labelled<HTMLInputElement>("New value").value = "hi";
    labelled<HTMLInputElement>("Change message").value = "m";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(alerts()).toContain(`Value of 'Greeting' is not valid ${XSS}. (request r-9)`));
    expect(root.querySelector("img")).toBeNull();

    answer = jsonResponse(409, errorBody("CONFLICT", "The settings changed at the same time. Reload and try again."));
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(alerts()).toContain(CONFLICT_TEXT));
    const reload = one("Reload");
    expect(reload.hidden).toBe(false);
    reload.click();
    await vi.waitFor(() => expect(calls.filter((c) => c.path === "/api/admin/clients/shop")).toHaveLength(1));
  });

  it("shows a setting's history, and a secret's without values", async () => {
    await open("ReadOnly", {
      "GET /api/admin/clients/shop/settings/Greeting/history": {
        history: [{ time: "2026-02-01T10:00:00Z", user: "bob", message: `hi ${XSS}`, version: 2, oldValue: "hello", newValue: "hi" }],
      },
      "GET /api/admin/clients/shop/settings/DbPassword/history": {
        history: [{ time: "2026-02-01T10:00:00Z", user: "bob", message: "rotate", version: 1, newValue: "leaked?" }],
      },
    });
    one("History of Greeting").click();
    await vi.waitFor(() => expect(root.querySelector("tr.history-row tbody tr")).not.toBeNull());
    const hist = root.querySelector("tr.history-row");
    expect(hist?.querySelector('td[data-label="Change"]')?.textContent).toBe("hello → hi");
    expect(hist?.querySelector('td[data-label="Message"]')?.textContent).toBe(`hi ${XSS}`);
    expect(root.querySelector("img")).toBeNull();
    one("History of DbPassword").click();
    await vi.waitFor(() => expect(root.textContent).toContain("secret value changed (not shown)"));
    expect(root.textContent).not.toContain("leaked?");
  });

  it("ReadOnly sees no edit controls; User edits values but manages nothing", async () => {
    await open("ReadOnly");
    expect(buttons(/^Edit /)).toHaveLength(0);
    expect(root.textContent).not.toContain("Manage client");
    expect(root.querySelector('input[name="instance"]')).toBeNull();
    expect(buttons(/^Rotate /)).toHaveLength(0);
    expect(buttons(/^History of /).length).toBeGreaterThan(0);

    root.replaceChildren();
    await open("User");
    expect(buttons(/^Edit /).length).toBeGreaterThan(0);
    expect(root.textContent).not.toContain("Manage client");
    expect(root.querySelector('input[name="instance"]')).toBeNull();
    expect(buttons(/^Rotate /)).toHaveLength(0);
  });

  it("User and ReadOnly get no data-key control", async () => {
    for (const role of ["User", "ReadOnly"] as const) {
      root.replaceChildren();
      const { calls } = await open(role);
      expect(buttons("Rotate data key")).toHaveLength(0);
      expect(buttons(/data key/i)).toHaveLength(0);
      expect(root.textContent).not.toContain("Data key");
      expect(root.textContent).not.toContain(DATA_KEY_EXPLANATION);
      expect(calls.some((c) => c.path.endsWith("/data-key"))).toBe(false);
    }
  });

  it("Administrator: rotating the data key asks first, shows progress, then the result, and the next edit sends the new version", async () => {
    let answer: (r: Response) => void = () => undefined;
    let version = 3;
    const { calls } = await open("Administrator", {
      "POST /api/admin/clients/shop/data-key": () =>
        new Promise<Response>((resolve) => {
          answer = (r) => {
            version = 4;
            resolve(r);
          };
        }),
      "GET /api/admin/clients/shop": () => jsonResponse(200, { ...shop(), version }),
      "PUT /api/admin/clients/shop/settings": (init: RequestInit) => {
        const body = JSON.parse(String(init.body)) as { version?: number };
        if (body.version !== version) return jsonResponse(409, errorBody("STALE_VERSION", "stale"));
        version += 1;
        return jsonResponse(200, { version });
      },
    });
    const manage = root.querySelector<HTMLDetailsElement>("details.manage-block");
    if (manage === null) throw new Error("no manage block");
    manage.open = true;
    expect([...manage.querySelectorAll("h3")].map((h) => h.textContent)).toEqual(["Client secret", "Data key", "Delete client"]);
    const start = one("Rotate data key of shop");
    expect(start.textContent).toBe("Rotate data key");
    expect(start.getAttribute("aria-expanded")).toBe("false");

    // Asks first, in plain words; Cancel sends nothing.
    start.click();
    const confirm = root.querySelector('[role="group"][aria-label="Rotate the data key of shop?"]');
    expect(confirm?.textContent).toContain(DATA_KEY_EXPLANATION);
    expect(start.getAttribute("aria-expanded")).toBe("true");
    expect(document.activeElement).toBe(one("Yes, rotate"));
    one("Cancel").click();
    expect(root.querySelector('[role="group"][aria-label="Rotate the data key of shop?"]')).toBeNull();
    expect(document.activeElement).toBe(start);
    expect(calls.some((c) => c.method === "POST")).toBe(false);

    // Confirmed: progress while it runs, the button cannot be pressed twice.
    start.click();
    one("Yes, rotate").click();
    await vi.waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(1));
    const post = calls.find((c) => c.method === "POST");
    expect(post?.path).toBe("/api/admin/clients/shop/data-key");
    expect(post?.body).toBeUndefined();
    expect(root.querySelector(".data-key-slot")?.getAttribute("aria-busy")).toBe("true");
    expect(root.querySelector(".data-key-slot .progress")?.textContent).toBe("Rotating the data key…");
    expect(start.disabled).toBe(true);
    expect(buttons("Yes, rotate")).toHaveLength(0);

    // Done: the result line, the client read again with its new version, Manage still open.
    answer(jsonResponse(200, { dataKeyVersion: 2, resealedValues: 4 }));
    await vi.waitFor(() => expect(root.querySelector(".client .version")?.textContent).toBe("version 4"));
    expect(calls.filter((c) => c.path === "/api/admin/clients/shop")).toHaveLength(1);
    expect(calls.filter((c) => c.path === "/api/admin/clients")).toHaveLength(1);
    const notice = root.querySelector(".client-notice");
    expect(notice?.textContent).toBe("Sealed 4 values under data key version 2.");
    expect(notice?.getAttribute("role")).toBe("status");
    expect(root.querySelector<HTMLDetailsElement>("details.manage-block")?.open).toBe(true);
    expect(root.querySelector(".data-key-slot")?.hasAttribute("aria-busy")).toBe(false);
    expect(root.querySelector(".data-key-slot .progress")).toBeNull();
    expect(one("Rotate data key of shop").disabled).toBe(false);
    expect(document.activeElement?.getAttribute("aria-label")).toBe("Rotate data key of shop");
    expect(alerts()).toEqual([]);

    // An edit afterwards carries the new version: no false 409.
    one("Edit Greeting").click();
    labelled<HTMLInputElement>("New value").value = "hi";
    labelled<HTMLInputElement>("Change message").value = "after the rotation";
    submitForm(labelled("New value"));
    await vi.waitFor(() => expect(root.querySelector(".client-notice")?.textContent).toBe("Saved Greeting."));
    expect(calls.filter((c) => c.method === "PUT").map((c) => (c.body as { version: number }).version)).toEqual([4]);
    expect(alerts()).toEqual([]);
  });

  it("Administrator: a data-key rotation refused with 409 says why and changes nothing on the page", async () => {
    let answer = jsonResponse(409, errorBody("CONFLICT", "The client changed at the same time. Try again.", "r-7"));
    const { calls } = await open("Administrator", { "POST /api/admin/clients/shop/data-key": () => answer });
    one("Rotate data key of shop").click();
    one("Yes, rotate").click();
    await vi.waitFor(() => expect(alerts()).toContain(DATA_KEY_CONFLICT_TEXT));
    expect(root.querySelector<HTMLElement>(".client-notice")?.hidden).toBe(true);
    expect(root.querySelector(".client .version")?.textContent).toBe("version 3");
    expect(root.querySelector(".data-key-slot")?.childElementCount).toBe(0);
    expect(one("Rotate data key of shop").disabled).toBe(false);
    expect(document.activeElement).toBe(one("Rotate data key of shop"));
    expect(calls.filter((c) => c.path === "/api/admin/clients/shop")).toHaveLength(0);

    // Too many values: the server's own message. Opening the confirmation again clears the old one.
    answer = jsonResponse(
      409,
      errorBody("CLIENT_TOO_LARGE", "The client has too many values to seal again in one step. Delete some instances first.", "r-8"),
    );
    one("Rotate data key of shop").click();
    expect(alerts()).toEqual([]);
    one("Yes, rotate").click();
    await vi.waitFor(() =>
      expect(alerts()).toContain(
        "The client has too many values to seal again in one step. Delete some instances first. (request r-8)",
      ),
    );
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(2);
    expect(calls.filter((c) => c.path === "/api/admin/clients/shop")).toHaveLength(0);
  });

  it("Administrator: instances created and deleted, the client read again after each", async () => {
    const { calls } = await open("Administrator", {
      "POST /api/admin/clients/shop/instances": jsonResponse(201, { instance: "us", copiedValues: 2 }),
      "DELETE /api/admin/clients/shop/instances/eu": emptyResponse(204),
      "GET /api/admin/clients/shop": { ...shop(), version: 4, instances: ["eu", "us"] },
    });
    const name = labelled<HTMLInputElement>("New instance name");
    name.value = "bad name!";
    submitForm(name);
    expect(alerts().join(" ")).toContain("An instance name is 1 to 64");
    name.value = "us";
    submitForm(name);
    await vi.waitFor(() => expect(calls.find((c) => c.method === "POST")?.body).toEqual({ instance: "us" }));
    await vi.waitFor(() => expect(root.querySelector("details.instances-block summary")?.textContent).toBe("Instances (2)"));
    expect(root.querySelector(".client-notice")?.textContent).toBe("Instance us created.");
    one("Delete instance eu").click();
    await vi.waitFor(() => expect(calls.some((c) => c.method === "DELETE")).toBe(true));
    await vi.waitFor(() => expect(calls.filter((c) => c.path === "/api/admin/clients/shop")).toHaveLength(2));
  });

  it("Administrator: rotating the secret shows it once with a copy button", async () => {
    const writeText = vi.fn(() => Promise.resolve());
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText } });
    const { calls } = await open("Administrator", {
      "POST /api/admin/clients/shop/secret": { clientSecret: "new-secret-value-123", previousSecretValidUntil: "2026-03-01T00:00:00Z" },
    });
    const grace = labelled<HTMLInputElement>("Grace period (minutes)");
    grace.value = "99999";
    submitForm(grace);
    expect(alerts()).toContain("Enter a grace period between 0 and 10080 minutes.");
    grace.value = "30";
    submitForm(grace);
    await vi.waitFor(() => expect(root.textContent).toContain("new-secret-value-123"));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ graceMinutes: 30 });
    expect(root.textContent).toContain("you will not see it again");
    one("Copy").click();
    expect(writeText).toHaveBeenCalledWith("new-secret-value-123");
    one("Done, hide it").click();
    expect(root.textContent).not.toContain("new-secret-value-123");
  });

  it("Administrator: deleting a client needs its name typed", async () => {
    const { calls } = await open("Administrator", { "DELETE /api/admin/clients/shop": emptyResponse(204) });
    const del = one("Delete client");
    expect(del.disabled).toBe(true);
    const confirm = labelled<HTMLInputElement>('Type "shop" to confirm');
    confirm.value = "sho";
    confirm.dispatchEvent(new Event("input"));
    expect(del.disabled).toBe(true);
    submitForm(confirm);
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);
    confirm.value = "shop";
    confirm.dispatchEvent(new Event("input"));
    expect(del.disabled).toBe(false);
    submitForm(confirm);
    await vi.waitFor(() => expect(calls.filter((c) => c.method === "DELETE").map((c) => c.path)).toEqual(["/api/admin/clients/shop"]));
  });
});
