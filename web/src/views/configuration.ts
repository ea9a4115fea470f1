// Server configuration: switches, allow-lists, the poll interval and the most clients the server
// holds. Administrators edit it; everyone else sees it read-only (no edit controls at all). A
// write replaces the whole configuration, so the page sends back every field it read, including
// any it does not show.
import { CONFIG_SWITCHES, getConfiguration, putConfiguration, type ServerConfig } from "../api/configuration";
import {
  button,
  checkboxField,
  el,
  field,
  messageBox,
  progress,
  replaceChildren,
  textareaField,
} from "../dom";
import { isAdmin, lines, pageHeader, reportError, type PageContext } from "./common";

export const MIN_POLL_MS = 1_000;
export const MAX_POLL_MS = 86_400_000;
export const MIN_MAX_CLIENTS = 1;
export const MAX_MAX_CLIENTS = 100_000;
export const MAX_CLIENTS_LABEL = "Most clients this server holds";

function readOnlyView(config: ServerConfig): HTMLElement {
  const list = (items: string[]): Node =>
    items.length === 0
      ? el("span", { class: "muted" }, "none")
      : el("ul", { class: "plain-list" }, ...items.map((i) => el("li", {}, el("code", {}, i))));
  return el(
    "div",
    { class: "card" },
    el("p", { class: "muted" }, "Only an Administrator can change the server configuration."),
    el(
      "dl",
      { class: "facts config-facts" },
      ...CONFIG_SWITCHES.flatMap(([key, label]) => [el("dt", {}, label), el("dd", {}, config[key] ? "on" : "off")]),
      el("dt", {}, "Clients allowed to override values"),
      el("dd", {}, list(config.clientOverridesAllowList)),
      el("dt", {}, "Webhook hosts allowed even when private"),
      el("dd", {}, list(config.webhookAllowedHosts)),
      el("dt", {}, "Poll interval told to clients"),
      el("dd", {}, `${config.pollIntervalMs} ms`),
      el("dt", {}, MAX_CLIENTS_LABEL),
      el("dd", {}, String(config.maxClients)),
    ),
  );
}

function editView(config: ServerConfig, ctx: PageContext, reload: () => void): HTMLElement {
  const error = messageBox("error");
  const notice = messageBox("notice");
  const switches = CONFIG_SWITCHES.map(([key, label]) => ({ key, box: checkboxField(label, key, config[key]) }));
  const overrides = textareaField(
    "Clients allowed to override values",
    { name: "client-overrides-allow-list", spellcheck: "false" },
    config.clientOverridesAllowList.join("\n"),
    "One pattern per line, matched against the whole client name. Used when client overrides are on.",
  );
  const hosts = textareaField(
    "Webhook hosts allowed even when private or loopback",
    { name: "webhook-allowed-hosts", spellcheck: "false" },
    config.webhookAllowedHosts.join("\n"),
    "One per line: a host opens its default port (443, or 80 for http://); host:port opens that port. Leave empty unless a receiver really lives on a private network.",
  );
  const poll = field(
    "Poll interval (milliseconds)",
    { name: "poll-interval-ms", type: "text", inputmode: "numeric", autocomplete: "off", value: String(config.pollIntervalMs) },
    "How often clients check for changes: 1000 (1 s) to 86400000 (1 day).",
  );
  const maxClients = field(
    MAX_CLIENTS_LABEL,
    { name: "max-clients", type: "text", inputmode: "numeric", autocomplete: "off", value: String(config.maxClients) },
    "1 to 100000. Beyond it a new registration, a client an Administrator creates or an imported one is refused.",
  );
  const save = el("button", { type: "submit", class: "primary" }, "Save configuration");
  const form = el(
    "form",
    { class: "card config-form", novalidate: true, "aria-label": "Server configuration" },
    error.node,
    notice.node,
    el("fieldset", { class: "checkbox-group" }, el("legend", {}, "Switches"), ...switches.map((s) => s.box.wrapper)),
    overrides.wrapper,
    hosts.wrapper,
    poll.wrapper,
    maxClients.wrapper,
    el("div", { class: "actions" }, save, button("Discard changes", reload)),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.clear();
    notice.clear();
    const t = poll.input.value.trim();
    const ms = Number(t);
    if (!/^\d+$/.test(t) || ms < MIN_POLL_MS || ms > MAX_POLL_MS) {
      error.show("The poll interval must be a whole number from 1000 to 86400000 milliseconds.");
      poll.input.focus();
      return;
    }
    const m = maxClients.input.value.trim();
    const most = Number(m);
    if (!/^\d+$/.test(m) || most < MIN_MAX_CLIENTS || most > MAX_MAX_CLIENTS) {
      error.show("The most clients this server holds must be a whole number from 1 to 100000.");
      maxClients.input.focus();
      return;
    }
    // Everything read (including fields this page does not show), with the edits on top.
    const next: ServerConfig = {
      ...config,
      clientOverridesAllowList: lines(overrides.textarea.value),
      webhookAllowedHosts: lines(hosts.textarea.value),
      pollIntervalMs: ms,
      maxClients: most,
    };
    for (const s of switches) next[s.key] = s.box.input.checked;
    save.disabled = true;
    form.setAttribute("aria-busy", "true");
    putConfiguration(next)
      .then((saved) => {
        delete config.otherFields;
        Object.assign(config, saved);
        notice.show("Configuration saved.");
      })
      .catch((err: unknown) => reportError(err, ctx, (m) => error.show(m)))
      .finally(() => {
        save.disabled = false;
        form.removeAttribute("aria-busy");
      });
  });
  return form;
}

export function renderConfiguration(root: HTMLElement, ctx: PageContext): Promise<void> {
  const error = messageBox("error");
  const content = el("div", { class: "config-content", "aria-live": "polite" });
  const load = async (): Promise<void> => {
    error.clear();
    content.setAttribute("aria-busy", "true");
    replaceChildren(content, progress("Loading the configuration…"));
    try {
      const config = await getConfiguration();
      replaceChildren(content, isAdmin(ctx) ? editView(config, ctx, () => void load()) : readOnlyView(config));
    } catch (err: unknown) {
      replaceChildren(content);
      reportError(err, ctx, (t) => error.show(t));
    } finally {
      content.removeAttribute("aria-busy");
    }
  };
  replaceChildren(root, el("div", { class: "config-view" }, pageHeader("Configuration"), error.node, content));
  return load();
}
