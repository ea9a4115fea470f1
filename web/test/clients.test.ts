import { afterEach, describe, expect, it, vi } from "vitest";
import { type AdminClient } from "../src/api/clients";
import { clearAccessToken, setAccessToken } from "../src/api/session";
import { formatValue, renderClientList, renderClients } from "../src/views/clients";
import { errorBody, jsonResponse, mockFetch } from "./helpers";

const XSS = `<img src=x onerror="window.__pwned=1">`;

function rowFor(root: HTMLElement, settingName: string): HTMLTableRowElement {
  const rows = [...root.querySelectorAll<HTMLTableRowElement>("tr.setting")];
  const row = rows.find((r) => r.querySelector(".setting-name")?.textContent === settingName);
  if (row === undefined) throw new Error(`no row for ${settingName}`);
  return row;
}

function valueText(row: HTMLTableRowElement): string {
  return row.querySelector('td[data-label="Value"]')?.textContent ?? "";
}

afterEach(() => {
  clearAccessToken();
  document.body.replaceChildren();
});

describe("renderClientList", () => {
  it("shows set / not set for secrets and never a value, even if the data holds one", () => {
    const clients: AdminClient[] = [
      {
        name: "orders",
        description: "Order service",
        version: 2,
        settings: [
          {
            name: "ApiKey",
            type: "string",
            description: "key",
            secret: true,
            isSet: true,
            lastChanged: "2025-03-04T05:06:07Z",
            value: "super-secret-value",
          },
          {
            name: "OtherKey",
            type: "string",
            description: "unset key",
            secret: true,
            isSet: false,
            value: "another-secret",
          },
        ],
      },
    ];
    const root = renderClientList(clients);
    document.body.append(root);

    const set = rowFor(root, "ApiKey");
    expect(valueText(set)).toBe("set");
    const time = set.querySelector("time");
    expect(time?.getAttribute("datetime")).toBe("2025-03-04T05:06:07Z");

    const unset = rowFor(root, "OtherKey");
    expect(valueText(unset)).toBe("not set");
    expect(unset.querySelector('td[data-label="Last changed"]')?.textContent).toBe("never");

    expect(root.textContent).not.toContain("super-secret-value");
    expect(root.textContent).not.toContain("another-secret");
    expect(root.innerHTML).not.toContain("super-secret-value");
    expect(root.innerHTML).not.toContain("another-secret");
  });

  it("renders values as text, never as HTML", () => {
    const clients: AdminClient[] = [
      {
        name: `svc ${XSS}`,
        description: XSS,
        version: 1,
        settings: [
          { name: `Banner${XSS}`, type: "string", description: XSS, secret: false, value: XSS },
          { name: "Obj", type: "json", description: "", secret: false, value: { html: XSS } },
        ],
      },
    ];
    const root = renderClientList(clients);
    document.body.append(root);

    expect(root.querySelector("img")).toBeNull();
    expect(document.querySelector("img")).toBeNull();
    expect((window as unknown as Record<string, unknown>)["__pwned"]).toBeUndefined();
    expect(valueText(rowFor(root, `Banner${XSS}`))).toBe(XSS);
    expect(valueText(rowFor(root, "Obj"))).toBe(JSON.stringify({ html: XSS }));
    expect(root.querySelector("h2")?.textContent).toBe(`svc ${XSS}`);
    expect(root.querySelector(".description")?.textContent).toBe(XSS);
  });

  it("shows non-string values as JSON and marks missing values", () => {
    const root = renderClientList([
      {
        name: "svc",
        description: "",
        version: 1,
        settings: [
          { name: "Count", type: "int", description: "", secret: false, value: 42 },
          { name: "Flag", type: "bool", description: "", secret: false, value: false },
          { name: "List", type: "string[]", description: "", secret: false, value: ["a", "b"] },
          { name: "Nothing", type: "string", description: "", secret: false, value: null },
          { name: "Missing", type: "string", description: "", secret: false },
        ],
      },
    ]);
    expect(valueText(rowFor(root, "Count"))).toBe("42");
    expect(valueText(rowFor(root, "Flag"))).toBe("false");
    expect(valueText(rowFor(root, "List"))).toBe('["a","b"]');
    expect(valueText(rowFor(root, "Nothing"))).toBe("null");
    expect(valueText(rowFor(root, "Missing"))).toBe("(no value)");
    expect(formatValue("plain")).toBe("plain");
  });

  it("has a clear empty state", () => {
    const root = renderClientList([]);
    expect(root.textContent).toContain("No clients have registered yet");
    expect(root.querySelector("table")).toBeNull();
  });
});

describe("renderClients", () => {
  it("loads clients with the token and shows them", async () => {
    setAccessToken("tok");
    const fetchMock = mockFetch(
      jsonResponse(200, {
        clients: [{ name: "billing", description: "", version: 1, settings: [] }],
      }),
    );
    const root = document.createElement("main");
    document.body.append(root);
    await renderClients(root, { onSignOut: vi.fn(), onSessionExpired: vi.fn() });
    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(root.querySelector("h2")?.textContent).toBe("billing");
  });

  it("shows a server error message as text", async () => {
    setAccessToken("tok");
    mockFetch(jsonResponse(403, errorBody("forbidden", `Denied ${XSS}`, "r-1")));
    const root = document.createElement("main");
    document.body.append(root);
    await renderClients(root, { onSignOut: vi.fn(), onSessionExpired: vi.fn() });
    const alert = root.querySelector('[role="alert"]');
    expect(alert?.textContent).toBe(`Denied ${XSS} (request r-1)`);
    expect(root.querySelector("img")).toBeNull();
  });

  it("hands a 401 back as an expired session", async () => {
    setAccessToken("tok");
    mockFetch(jsonResponse(401, errorBody("unauthorized", "Token expired.")));
    const onSessionExpired = vi.fn();
    const root = document.createElement("main");
    await renderClients(root, { onSignOut: vi.fn(), onSessionExpired });
    expect(onSessionExpired).toHaveBeenCalledTimes(1);
  });

  it("the sign-out button calls onSignOut", async () => {
    setAccessToken("tok");
    mockFetch(jsonResponse(200, { clients: [] }));
    const onSignOut = vi.fn();
    const root = document.createElement("main");
    await renderClients(root, { onSignOut, onSessionExpired: vi.fn() });
    const button = [...root.querySelectorAll("button")].find((b) => b.textContent === "Sign out");
    button?.click();
    expect(onSignOut).toHaveBeenCalledTimes(1);
  });
});
