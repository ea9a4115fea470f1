import { ApiError, isSessionEnded, listClients, type AdminClient, type AdminSetting } from "../api";
import { el, messageBox, replaceChildren, uniqueId } from "../dom";
import { errorText } from "./login";

export interface ClientsViewOptions {
  onSignOut: () => void;
  /** Called when the server no longer accepts the access token. */
  onSessionExpired: () => void;
}

/** Text for a non-secret value: strings as they are, anything else as JSON. */
export function formatValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function timeElement(iso: string): HTMLTimeElement {
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  return el("time", { datetime: iso }, text);
}

function lastChangedCell(setting: AdminSetting): HTMLElement {
  return setting.lastChanged
    ? el("span", {}, timeElement(setting.lastChanged))
    : el("span", { class: "muted" }, "never");
}

function valueCell(setting: AdminSetting): HTMLElement {
  if (setting.secret) {
    // Never show (or even read) a secret's value, whatever the data holds.
    return setting.isSet === true
      ? el("span", { class: "badge badge-set" }, "set")
      : el("span", { class: "badge badge-unset" }, "not set");
  }
  if (setting.value === undefined) {
    return el("span", { class: "muted" }, "(no value)");
  }
  const text = formatValue(setting.value);
  return text === ""
    ? el("span", { class: "muted" }, "(empty)")
    : el("code", { class: "value" }, text);
}

function settingRow(setting: AdminSetting): HTMLTableRowElement {
  const nameCell = el(
    "th",
    { scope: "row", "data-label": "Setting" },
    el("span", { class: "setting-name" }, setting.name),
    setting.secret ? el("span", { class: "badge badge-secret" }, "secret") : null,
  );
  return el(
    "tr",
    { class: setting.secret ? "setting secret" : "setting" },
    nameCell,
    el("td", { "data-label": "Type" }, setting.type),
    el("td", { "data-label": "Value" }, valueCell(setting)),
    el("td", { "data-label": "Last changed" }, lastChangedCell(setting)),
    el("td", { "data-label": "Description" }, setting.description),
  );
}

function clientSection(client: AdminClient): HTMLElement {
  const headingId = uniqueId("client");
  const table =
    client.settings.length === 0
      ? el("p", { class: "muted" }, "This client has no settings.")
      : el(
          "div",
          { class: "table-wrap" },
          el(
            "table",
            { class: "settings" },
            el("caption", { class: "visually-hidden" }, `Settings of ${client.name}`),
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                el("th", { scope: "col" }, "Setting"),
                el("th", { scope: "col" }, "Type"),
                el("th", { scope: "col" }, "Value"),
                el("th", { scope: "col" }, "Last changed"),
                el("th", { scope: "col" }, "Description"),
              ),
            ),
            el("tbody", {}, ...client.settings.map(settingRow)),
          ),
        );
  return el(
    "section",
    { class: "client card", "aria-labelledby": headingId },
    el(
      "header",
      { class: "client-header" },
      el("h2", { id: headingId }, client.name),
      el("span", { class: "version" }, `version ${String(client.version)}`),
    ),
    client.description === "" ? null : el("p", { class: "description" }, client.description),
    table,
  );
}

/** Render a list of clients (pure: no network). */
export function renderClientList(clients: AdminClient[]): HTMLElement {
  if (clients.length === 0) {
    return el(
      "div",
      { class: "empty card" },
      el("p", {}, "No clients have registered yet."),
      el(
        "p",
        { class: "muted" },
        "A service appears here after it registers its settings with its client secret.",
      ),
    );
  }
  return el("div", { class: "client-list" }, ...clients.map(clientSection));
}

export function renderClients(root: HTMLElement, opts: ClientsViewOptions): Promise<void> {
  const error = messageBox("error");
  const content = el("div", { class: "clients-content", "aria-live": "polite" });
  const refresh = el("button", { type: "button", class: "secondary" }, "Refresh");
  const signOut = el("button", { type: "button", class: "secondary" }, "Sign out");

  const view = el(
    "div",
    { class: "clients-view" },
    el(
      "div",
      { class: "toolbar" },
      el("h1", {}, "Clients"),
      el("div", { class: "toolbar-actions" }, refresh, signOut),
    ),
    error.node,
    content,
  );

  const load = async (): Promise<void> => {
    error.clear();
    refresh.disabled = true;
    content.setAttribute("aria-busy", "true");
    replaceChildren(content, el("p", { class: "muted" }, "Loading clients…"));
    try {
      const { clients } = await listClients();
      replaceChildren(content, renderClientList(clients));
    } catch (err: unknown) {
      // A session that ended has already sent the user back to the login page.
      if (isSessionEnded(err)) return;
      if (err instanceof ApiError && err.status === 401) {
        opts.onSessionExpired();
        return;
      }
      replaceChildren(content);
      error.show(errorText(err));
    } finally {
      refresh.disabled = false;
      content.removeAttribute("aria-busy");
    }
  };

  refresh.addEventListener("click", () => void load());
  signOut.addEventListener("click", () => opts.onSignOut());

  replaceChildren(root, view);
  return load();
}
