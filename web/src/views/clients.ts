// Clients and their settings: search and filters, advanced settings folded, secret settings
// write-only, value editing with the definition's rules checked before saving, history per
// setting, instances, client secret and data-key rotation, and client deletion. Administrators
// also create clients (the new client secret is shown once, for the service to register with)
// and declassify secret settings (their values and history are deleted). Every edit
// carries the client version the page loaded (optimistic concurrency: the server refuses a stale
// one with 409), and a client is read again on its own (`GET /api/admin/clients/{name}`) after a
// change to it.
import { listClients, type AdminClient, type AdminSetting } from "../api/clients";
import { ApiError } from "../api/http";
import { CLIENT_NAME_PATTERN, MAX_CLIENT_DESCRIPTION, createClient, createInstance, declassifySetting, deleteClient, deleteInstance, getClient, rotateClientSecret, rotateDataKey, settingHistory, updateValues, type DataKeyRotation, type Declassification } from "../api/clients";
import {
  button,
  el,
  field,
  messageBox,
  oneTimeSecret,
  progress,
  replaceChildren,
  selectField,
  textareaField,
  timeElement,
  uniqueId,
} from "../dom";
import {
  canEditValues,
  emptyState,
  formatValue,
  isAdmin,
  pageHeader,
  reportError,
  type PageContext,
} from "./common";
import { isMultiline, kindOf, ruleHint, validateValue, versionNumber } from "../settings/validate";

export { formatValue } from "./common";

export const CONFLICT_TEXT =
  "Someone changed this client at the same time, so nothing was saved. Reload to see the current values, then make your change again.";
export const STALE_TEXT =
  "Someone changed this client after you loaded it, so nothing was saved. Reload to see the current values, then make your change again.";

/**
 * The explanation for a refused edit that a reload resolves: `STALE_VERSION` (the client changed
 * since the page loaded it) or `CONFLICT` (two edits at the same moment). Null for anything else,
 * including other 409s, which keep the server's own message.
 */
export function conflictText(err: unknown): string | null {
  if (!(err instanceof ApiError) || err.status !== 409) return null;
  if (err.code === "STALE_VERSION") return STALE_TEXT;
  if (err.code === "CONFLICT") return CONFLICT_TEXT;
  return null;
}

/** What rotating a client's data key does, in words (shown before asking to go ahead). */
export const DATA_KEY_EXPLANATION =
  "Seals this client's settings again under a new encryption key. Services keep working; their next fetch sees a new version.";
export const DATA_KEY_CONFLICT_TEXT =
  "This client changed while its data key was being rotated, so nothing was sealed again. Try again.";

/** The result line of a data-key rotation. */
export function dataKeyResultText(r: DataKeyRotation): string {
  const values = r.resealedValues === 1 ? "value" : "values";
  return `Sealed ${r.resealedValues} ${values} under data key version ${r.dataKeyVersion}.`;
}

// --- creating clients and declassifying settings -----------------------------------------------

export const CLIENT_NAME_RULE = "1 to 64 letters, digits, '.', '_' or '-'.";
/** What to do with a new client's secret (shown with it, once). */
export const NEW_CLIENT_SECRET_TEXT =
  "Give this secret to the service; it registers its settings with it. It is shown only now.";
export const CLIENT_LIMIT_TEXT =
  "This server already holds as many clients as its configuration allows (\"Most clients this server holds\"). Delete a client that is no longer used, or raise the limit on the Configuration page.";

/** Why a new client was refused, for the codes the page can explain better than the server. */
export function createClientErrorText(err: unknown, name: string): string | null {
  if (!(err instanceof ApiError) || err.status !== 409) return null;
  if (err.code === "CLIENT_EXISTS") {
    return `A client named ${name} already exists. Choose another name, or give its service a new secret with "Rotate client secret" under "Manage client".`;
  }
  if (err.code === "CLIENT_LIMIT_REACHED") return CLIENT_LIMIT_TEXT;
  return null;
}

/** What declassifying a setting does, in words (shown before the name is typed). */
export function declassifyExplanation(setting: string): string {
  return `Declassifying makes ${setting} a plain setting, whose value everyone who can read this client sees. First its values (the base value and every instance's) and its whole history are deleted. They cannot be recovered.`;
}
export const DECLASSIFY_AFTER_TEXT =
  "It then has no value until someone sets one, and its service may register it as not secret.";
export const DECLASSIFY_CONFLICT_TEXT =
  "This client changed at the same time, so nothing was deleted. Try again.";

/** The result line of a declassification. */
export function declassifyResultText(setting: string, r: Declassification): string {
  const values = r.deletedValues === 1 ? "value" : "values";
  const entries = r.deletedHistory === 1 ? "history entry" : "history entries";
  return `${setting} is a plain setting now. Deleted ${r.deletedValues} ${values} and ${r.deletedHistory} ${entries}.`;
}

export interface ClientsViewOptions {
  /** Who is signed in; without it the page shows values only (no edit controls). */
  ctx?: PageContext;
  onSignOut?: () => void;
  /** Called when the server no longer accepts the access token. */
  onSessionExpired: () => void;
}

// --- rendering ---------------------------------------------------------------------------------

/** What to do once a client has been read again. */
export interface AfterRefresh {
  /** Shown in the client's section (role="status"), e.g. what was saved. */
  notice?: string;
  /** The accessible name of the button to move focus to (the redrawn section replaces the old). */
  focus?: string;
}

/** What a list needs to offer edit controls; without it the list is read-only. */
export interface ClientActions {
  ctx: PageContext;
  /** Load every client again (after a client was deleted). */
  reload: () => void;
  /** Read one client again and redraw its section (after a change to it, or after a conflict). */
  refresh: (client: string, after?: AfterRefresh) => void;
  /** The client version the page last saw: sent with every edit. */
  versionOf: (client: string) => number | undefined;
  /** Record the version a successful edit answered, so that the next edit sends it. */
  setVersion: (client: string, version: number) => void;
}

const COLUMNS = ["Setting", "Type", "Value", "Last changed", "Description"];

function lastChangedCell(setting: AdminSetting): HTMLElement {
  if (!setting.lastChanged) return el("span", { class: "muted" }, "never");
  return el(
    "span",
    {},
    timeElement(setting.lastChanged),
    setting.lastChangedBy ? el("span", { class: "muted" }, ` by ${setting.lastChangedBy}`) : null,
  );
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

function valueInput(setting: AdminSetting): { wrapper: HTMLElement; read: () => string; focus: () => void } {
  const hint = ruleHint(setting);
  const kind = kindOf(setting);
  const current = setting.secret || setting.value === undefined || setting.value === null ? "" : formatValue(setting.value);
  if (kind === "bool" || setting.validValues !== undefined) {
    const options: Array<[string, string]> =
      kind === "bool"
        ? [
            ["true", "true"],
            ["false", "false"],
          ]
        : (setting.validValues ?? []).map((v) => [v, v]);
    const s = selectField("New value", "value", [["", "Choose…"], ...options], current, hint);
    return { wrapper: s.wrapper, read: () => s.select.value, focus: () => s.select.focus() };
  }
  if (isMultiline(setting)) {
    const current2 = setting.value === undefined || setting.value === null ? "" : JSON.stringify(setting.value, null, 2);
    const t = textareaField("New value", { name: "value", spellcheck: "false", rows: "6" }, current2, hint);
    return { wrapper: t.wrapper, read: () => t.textarea.value, focus: () => t.textarea.focus() };
  }
  const f = field(
    "New value",
    setting.secret
      ? { name: "value", type: "password", autocomplete: "new-password", spellcheck: "false" }
      : {
          name: "value",
          type: "text",
          autocomplete: "off",
          spellcheck: "false",
          value: current,
          inputmode: kind === "int" || kind === "long" ? "numeric" : kind === "double" ? "decimal" : undefined,
        },
    hint,
  );
  return { wrapper: f.wrapper, read: () => f.input.value, focus: () => f.input.focus() };
}

function editorRow(
  client: AdminClient,
  setting: AdminSetting,
  actions: ClientActions,
  close: () => void,
): HTMLTableRowElement {
  const error = messageBox("error");
  const notice = messageBox("notice");
  const input = valueInput(setting);
  const message = field(
    "Change message",
    { name: "change-message", type: "text", autocomplete: "off", maxlength: "1000", required: true },
    "Required: why you are making this change (kept in the history and the audit trail).",
  );
  const instances = client.instances ?? [];
  const target =
    instances.length === 0
      ? null
      : selectField(
          "Apply to",
          "instance",
          [["", "Base values (every instance without its own)"], ...instances.map((i): [string, string] => [i, `Instance ${i}`])],
          "",
        );
  const save = el("button", { type: "submit", class: "primary" }, "Save");
  const cancel = button("Cancel", close);
  const reload = button("Reload", () => actions.refresh(client.name, { focus: `Edit ${setting.name}` }));
  reload.hidden = true;
  const form = el(
    "form",
    { class: "editor", novalidate: true, "aria-label": `Edit ${setting.name}` },
    el("h3", { class: "editor-title" }, `Edit ${setting.name}`),
    error.node,
    notice.node,
    input.wrapper,
    target?.wrapper,
    message.wrapper,
    el("div", { class: "actions" }, save, cancel, reload),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.clear();
    notice.clear();
    reload.hidden = true;
    const checked = validateValue(setting, input.read());
    if (!checked.ok) {
      error.show(checked.error);
      input.focus();
      return;
    }
    const why = message.input.value.trim();
    if (why === "") {
      error.show("Enter a change message: why are you making this change?");
      message.input.focus();
      return;
    }
    const instance = target?.select.value ?? "";
    // The version this page loaded (or its own last save answered): a stale one gets 409.
    const version = actions.versionOf(client.name);
    save.disabled = true;
    form.setAttribute("aria-busy", "true");
    updateValues(client.name, {
      changeMessage: why,
      values: [{ name: setting.name, value: checked.value }],
      ...(instance === "" ? {} : { instance }),
      ...(version === undefined ? {} : { version }),
    })
      .then((answer) => {
        if (answer.version !== undefined) actions.setVersion(client.name, answer.version);
        const saved = instance === "" ? `Saved ${setting.name}.` : `Saved ${setting.name} for instance ${instance}.`;
        notice.show(saved);
        actions.refresh(client.name, { notice: saved, focus: `Edit ${setting.name}` });
      })
      .catch((err: unknown) => {
        const conflict = conflictText(err);
        if (conflict !== null) {
          error.show(conflict);
          reload.hidden = false;
          reload.focus();
          return;
        }
        reportError(err, actions.ctx, (t) => error.show(t));
      })
      .finally(() => {
        save.disabled = false;
        form.removeAttribute("aria-busy");
      });
  });
  const row = el("tr", { class: "editor-row" }, el("td", { colspan: "6" }, form));
  queueMicrotask(() => input.focus());
  return row;
}

function historyRow(client: AdminClient, setting: AdminSetting, ctx: PageContext | undefined): HTMLTableRowElement {
  const body = el("div", { class: "history", "aria-busy": "true" }, progress("Loading history…"));
  const error = messageBox("error");
  const row = el(
    "tr",
    { class: "history-row" },
    el("td", { colspan: "6" }, el("h3", {}, `History of ${setting.name}`), error.node, body),
  );
  settingHistory(client.name, setting.name)
    .then((entries) => {
      if (entries.length === 0) {
        replaceChildren(body, el("p", { class: "muted" }, "No changes yet: the value is the default."));
        return;
      }
      replaceChildren(
        body,
        el(
          "div",
          { class: "table-wrap" },
          el(
            "table",
            { class: "data history-table" },
            el("caption", { class: "visually-hidden" }, `Changes of ${setting.name}`),
            el(
              "thead",
              {},
              el("tr", {}, ...["When", "Who", "Message", "Change"].map((c) => el("th", { scope: "col" }, c))),
            ),
            el(
              "tbody",
              {},
              ...entries.map((h) =>
                el(
                  "tr",
                  {},
                  el("td", { "data-label": "When" }, timeElement(h.time)),
                  el("td", { "data-label": "Who" }, h.user),
                  el("td", { "data-label": "Message" }, h.message),
                  el(
                    "td",
                    { "data-label": "Change" },
                    setting.secret
                      ? el("span", { class: "muted" }, "secret value changed (not shown)")
                      : el(
                          "span",
                          {},
                          el("code", { class: "value" }, formatValue(h.oldValue ?? null)),
                          " → ",
                          el("code", { class: "value" }, formatValue(h.newValue ?? null)),
                        ),
                  ),
                ),
              ),
            ),
          ),
        ),
      );
    })
    .catch((err: unknown) => {
      replaceChildren(body);
      if (ctx === undefined) error.show("Could not load the history.");
      else reportError(err, ctx, (t) => error.show(t));
    })
    .finally(() => body.removeAttribute("aria-busy"));
  return row;
}

/**
 * "Declassify…" (Administrator, secret settings): explains that the values and their history
 * are deleted for good, and goes ahead only once the setting's name is typed.
 */
function declassifyRow(
  client: AdminClient,
  setting: AdminSetting,
  actions: ClientActions,
  close: () => void,
): HTMLTableRowElement {
  const error = messageBox("error");
  const notice = messageBox("notice");
  const titleId = uniqueId("declassify");
  const confirmName = field(
    `Type "${setting.name}" to confirm`,
    { name: "confirm-declassify", type: "text", autocomplete: "off", spellcheck: "false" },
  );
  const yes = el("button", { type: "submit", class: "danger", disabled: true }, "Declassify and delete its values");
  const reload = button("Reload", () => actions.refresh(client.name, { focus: `History of ${setting.name}` }));
  reload.hidden = true;
  confirmName.input.addEventListener("input", () => {
    yes.disabled = confirmName.input.value !== setting.name;
  });
  const form = el(
    "form",
    { class: "editor confirm declassify", novalidate: true, "aria-labelledby": titleId },
    el("h3", { class: "editor-title", id: titleId }, `Declassify ${setting.name}?`),
    el("p", {}, declassifyExplanation(setting.name)),
    el("p", {}, DECLASSIFY_AFTER_TEXT),
    error.node,
    notice.node,
    confirmName.wrapper,
    el("div", { class: "actions" }, yes, button("Cancel", close), reload),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.clear();
    notice.clear();
    reload.hidden = true;
    if (confirmName.input.value !== setting.name) {
      error.show(`Type the setting name, ${setting.name}, to confirm.`);
      confirmName.input.focus();
      return;
    }
    yes.disabled = true;
    form.setAttribute("aria-busy", "true");
    declassifySetting(client.name, setting.name)
      .then((r) => {
        actions.setVersion(client.name, r.version);
        const text = declassifyResultText(setting.name, r);
        notice.show(text);
        actions.refresh(client.name, { notice: text, focus: `Edit ${setting.name}` });
      })
      .catch((err: unknown) => {
        yes.disabled = confirmName.input.value !== setting.name;
        if (err instanceof ApiError && err.status === 409 && err.code === "NOT_SECRET") {
          error.show(`${setting.name} is not secret any more (someone declassified it meanwhile), so nothing was deleted. Reload to see it.`);
          reload.hidden = false;
          reload.focus();
        } else if (err instanceof ApiError && err.status === 409 && err.code === "CONFLICT") {
          error.show(DECLASSIFY_CONFLICT_TEXT);
        } else if (err instanceof ApiError && err.status === 404) {
          reportError(err, actions.ctx, (t) => error.show(t));
          reload.hidden = false;
        } else {
          reportError(err, actions.ctx, (t) => error.show(t));
        }
      })
      .finally(() => form.removeAttribute("aria-busy"));
  });
  const row = el("tr", { class: "editor-row declassify-row" }, el("td", { colspan: "6" }, form));
  queueMicrotask(() => confirmName.input.focus());
  return row;
}

function settingRow(client: AdminClient, setting: AdminSetting, actions: ClientActions | undefined): HTMLTableRowElement {
  const place = [setting.group, setting.category].filter((x): x is string => x !== undefined && x !== "");
  const nameCell = el(
    "th",
    { scope: "row", "data-label": "Setting" },
    el("span", { class: "setting-name" }, setting.name),
    setting.secret ? el("span", { class: "badge badge-secret" }, "secret") : null,
    setting.externallyManaged ? el("span", { class: "badge badge-secret" }, "set by the client") : null,
    place.length === 0 ? null : el("span", { class: "setting-place muted" }, place.join(" · ")),
  );
  const row = el(
    "tr",
    { class: setting.secret ? "setting secret" : "setting" },
    nameCell,
    el("td", { "data-label": "Type" }, setting.type),
    el("td", { "data-label": "Value" }, valueCell(setting)),
    el("td", { "data-label": "Last changed" }, lastChangedCell(setting)),
    el("td", { "data-label": "Description" }, setting.description),
  );
  if (actions === undefined) return row;

  let editor: HTMLTableRowElement | null = null;
  let history: HTMLTableRowElement | null = null;
  const cell = el("td", { "data-label": "Actions", class: "row-actions" });
  const historyButton = button("History", () => {
    if (history !== null) {
      history.remove();
      history = null;
      historyButton.setAttribute("aria-expanded", "false");
      return;
    }
    history = historyRow(client, setting, actions.ctx);
    (editor ?? row).after(history);
    historyButton.setAttribute("aria-expanded", "true");
  }, { "aria-expanded": "false", "aria-label": `History of ${setting.name}` });
  if (canEditValues(actions.ctx)) {
    const edit = button("Edit", () => {
      if (editor !== null) {
        editor.remove();
        editor = null;
        edit.setAttribute("aria-expanded", "false");
        return;
      }
      editor = editorRow(client, setting, actions, () => {
        editor?.remove();
        editor = null;
        edit.setAttribute("aria-expanded", "false");
        edit.focus();
      });
      row.after(editor);
      edit.setAttribute("aria-expanded", "true");
    }, { "aria-expanded": "false", "aria-label": `Edit ${setting.name}`, class: "secondary edit" });
    cell.append(edit, " ");
  }
  cell.append(historyButton);
  if (setting.secret && isAdmin(actions.ctx)) {
    let confirm: HTMLTableRowElement | null = null;
    const declassify: HTMLButtonElement = button("Declassify…", () => {
      if (confirm !== null) {
        confirm.remove();
        confirm = null;
        declassify.setAttribute("aria-expanded", "false");
        return;
      }
      confirm = declassifyRow(client, setting, actions, () => {
        confirm?.remove();
        confirm = null;
        declassify.setAttribute("aria-expanded", "false");
        declassify.focus();
      });
      row.after(confirm);
      declassify.setAttribute("aria-expanded", "true");
    }, { "aria-expanded": "false", "aria-label": `Declassify ${setting.name}`, class: "secondary danger" });
    cell.append(" ", declassify);
  }
  row.append(cell);
  return row;
}

function settingsTable(client: AdminClient, settings: AdminSetting[], caption: string, actions: ClientActions | undefined): HTMLElement {
  const columns = actions === undefined ? COLUMNS : [...COLUMNS, "Actions"];
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "settings" },
      el("caption", { class: "visually-hidden" }, caption),
      el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, ...settings.map((s) => settingRow(client, s, actions))),
    ),
  );
}

function instancesBlock(client: AdminClient, actions: ClientActions, status: ReturnType<typeof messageBox>): HTMLElement {
  const instances = client.instances ?? [];
  const admin = isAdmin(actions.ctx);
  const list =
    instances.length === 0
      ? el("p", { class: "muted" }, "No instances: every service of this client gets the base values.")
      : el(
          "ul",
          { class: "instances" },
          ...instances.map((i) =>
            el(
              "li",
              {},
              el("code", {}, i),
              admin
                ? button(
                    "Delete",
                    () => {
                      status.clear();
                      deleteInstance(client.name, i).then(
                        () => actions.refresh(client.name, { notice: `Instance ${i} deleted.` }),
                        (err: unknown) => reportError(err, actions.ctx, (t) => status.show(t)),
                      );
                    },
                    { "aria-label": `Delete instance ${i}`, class: "secondary danger" },
                  )
                : null,
            ),
          ),
        );
  let form: HTMLFormElement | null = null;
  if (admin) {
    const name = field(
      "New instance name",
      { name: "instance", type: "text", autocomplete: "off", spellcheck: "false", pattern: "[A-Za-z0-9._-]{1,64}" },
      "Letters, digits, '.', '_' and '-'. It starts as a copy of the base values.",
    );
    const create = el("button", { type: "submit", class: "secondary" }, "Create instance");
    form = el("form", { class: "inline-form", novalidate: true }, name.wrapper, create);
    const f = form;
    f.addEventListener("submit", (event) => {
      event.preventDefault();
      status.clear();
      const value = name.input.value.trim();
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(value)) {
        status.show("An instance name is 1 to 64 letters, digits, '.', '_' or '-'.");
        name.input.focus();
        return;
      }
      create.disabled = true;
      f.setAttribute("aria-busy", "true");
      createInstance(client.name, value)
        .then(() => actions.refresh(client.name, { notice: `Instance ${value} created.` }))
        .catch((err: unknown) => reportError(err, actions.ctx, (t) => status.show(t)))
        .finally(() => {
          create.disabled = false;
          f.removeAttribute("aria-busy");
        });
    });
  }
  return el(
    "details",
    { class: "instances-block" },
    el("summary", {}, `Instances (${instances.length})`),
    el(
      "p",
      { class: "muted" },
      "An instance has its own values; choose it under \"Apply to\" when you edit a setting. The table shows the base values.",
    ),
    list,
    form,
  );
}

/**
 * "Rotate data key" (Administrator): asks first, shows progress while the server seals the
 * client's definitions and values again, then the result line; the client is read again, since
 * its version went up (an editor holding the old version would otherwise get a 409).
 */
function dataKeyControl(client: AdminClient, actions: ClientActions, status: ReturnType<typeof messageBox>): HTMLElement {
  const label = `Rotate data key of ${client.name}`;
  const slot = el("div", { class: "data-key-slot" });
  const result = messageBox("notice");
  const close = (): void => {
    replaceChildren(slot);
    start.setAttribute("aria-expanded", "false");
  };
  const run = (): void => {
    status.clear();
    start.disabled = true;
    slot.setAttribute("aria-busy", "true");
    replaceChildren(slot, progress("Rotating the data key…"));
    rotateDataKey(client.name)
      .then((r) => {
        const text = dataKeyResultText(r);
        result.show(text);
        actions.refresh(client.name, { notice: text, focus: label });
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 409 && err.code === "CONFLICT") {
          status.show(DATA_KEY_CONFLICT_TEXT);
        } else {
          reportError(err, actions.ctx, (t) => status.show(t));
        }
      })
      .finally(() => {
        slot.removeAttribute("aria-busy");
        close();
        start.disabled = false;
        if (start.isConnected) start.focus();
      });
  };
  const start: HTMLButtonElement = button(
    "Rotate data key",
    () => {
      if (slot.firstChild !== null) {
        close();
        return;
      }
      status.clear();
      result.clear();
      const yes = button("Yes, rotate", run, { class: "primary" });
      replaceChildren(
        slot,
        el(
          "div",
          { class: "editor confirm", role: "group", "aria-label": `Rotate the data key of ${client.name}?` },
          el("p", {}, DATA_KEY_EXPLANATION),
          el(
            "div",
            { class: "actions" },
            yes,
            button("Cancel", () => {
              close();
              start.focus();
            }),
          ),
        ),
      );
      start.setAttribute("aria-expanded", "true");
      yes.focus();
    },
    { "aria-label": label, "aria-expanded": "false" },
  );
  return el("div", { class: "data-key" }, el("div", { class: "actions" }, start), slot, result.node);
}

function manageBlock(client: AdminClient, actions: ClientActions, status: ReturnType<typeof messageBox>): HTMLElement {
  const out = el("div", { class: "one-time-slot" });
  const grace = field(
    "Grace period (minutes)",
    { name: "grace-minutes", type: "text", inputmode: "numeric", value: "60", autocomplete: "off" },
    "How long the old secret keeps working (0 to 10080, 7 days), so services can be updated.",
  );
  const rotate = el("button", { type: "submit", class: "secondary" }, "Rotate client secret");
  const rotateForm = el(
    "form",
    { class: "inline-form", novalidate: true, "aria-label": `Rotate the secret of ${client.name}` },
    grace.wrapper,
    rotate,
  );
  rotateForm.addEventListener("submit", (event) => {
    event.preventDefault();
    status.clear();
    const t = grace.input.value.trim();
    const minutes = Number(t);
    if (!/^\d+$/.test(t) || minutes > 10080) {
      status.show("Enter a grace period between 0 and 10080 minutes.");
      grace.input.focus();
      return;
    }
    rotate.disabled = true;
    rotateForm.setAttribute("aria-busy", "true");
    rotateClientSecret(client.name, minutes)
      .then((r) => {
        replaceChildren(
          out,
          oneTimeSecret(`New client secret for ${client.name}`, "New client secret", r.clientSecret),
          r.previousSecretValidUntil
            ? el("p", { class: "muted" }, "The old secret works until ", timeElement(r.previousSecretValidUntil), ".")
            : null,
        );
        out.querySelector<HTMLElement>("h3")?.focus();
      })
      .catch((err: unknown) => reportError(err, actions.ctx, (t2) => status.show(t2)))
      .finally(() => {
        rotate.disabled = false;
        rotateForm.removeAttribute("aria-busy");
      });
  });

  const dataKey = dataKeyControl(client, actions, status);

  const confirmName = field(
    `Type "${client.name}" to confirm`,
    { name: "confirm-client", type: "text", autocomplete: "off", spellcheck: "false" },
    "Deleting a client removes its settings, values, history and instances. Its services can no longer fetch.",
  );
  const del = el("button", { type: "submit", class: "danger", disabled: true }, "Delete client");
  confirmName.input.addEventListener("input", () => {
    del.disabled = confirmName.input.value !== client.name;
  });
  const deleteForm = el(
    "form",
    { class: "inline-form", novalidate: true, "aria-label": `Delete ${client.name}` },
    confirmName.wrapper,
    del,
  );
  deleteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    status.clear();
    if (confirmName.input.value !== client.name) {
      status.show(`Type the client name, ${client.name}, to confirm.`);
      return;
    }
    del.disabled = true;
    deleteForm.setAttribute("aria-busy", "true");
    deleteClient(client.name)
      .then(() => actions.reload())
      .catch((err: unknown) => {
        reportError(err, actions.ctx, (t) => status.show(t));
        del.disabled = false;
      })
      .finally(() => deleteForm.removeAttribute("aria-busy"));
  });
  return el(
    "details",
    { class: "manage-block" },
    el("summary", {}, "Manage client"),
    el("h3", {}, "Client secret"),
    rotateForm,
    out,
    el("h3", {}, "Data key"),
    dataKey,
    el("h3", {}, "Delete client"),
    deleteForm,
  );
}

function clientSection(client: AdminClient, actions: ClientActions | undefined): HTMLElement {
  const headingId = uniqueId("client");
  const status = messageBox("error");
  const notice = messageBox("notice");
  notice.node.classList.add("client-notice");
  const normal = client.settings.filter((s) => s.advanced !== true);
  const advanced = client.settings.filter((s) => s.advanced === true);
  const body: Array<Node | null> = [];
  if (client.settings.length === 0) {
    body.push(
      el("p", { class: "muted" }, "This client has no settings yet: its service registers them with its client secret."),
    );
  } else {
    if (normal.length > 0) body.push(settingsTable(client, normal, `Settings of ${client.name}`, actions));
    if (advanced.length > 0) {
      body.push(
        el(
          "details",
          { class: "advanced" },
          el("summary", {}, `Advanced settings (${advanced.length})`),
          settingsTable(client, advanced, `Advanced settings of ${client.name}`, actions),
        ),
      );
    }
  }
  return el(
    "section",
    { class: "client card", "aria-labelledby": headingId, "data-client": client.name },
    el(
      "header",
      { class: "client-header" },
      el("h2", { id: headingId }, client.name),
      el("span", { class: "version" }, `version ${String(client.version)}`),
    ),
    client.description === "" ? null : el("p", { class: "description" }, client.description),
    status.node,
    notice.node,
    ...body,
    actions === undefined ? null : instancesBlock(client, actions, status),
    actions !== undefined && isAdmin(actions.ctx) ? manageBlock(client, actions, status) : null,
  );
}

/** Render a list of clients (pure: no network until a control is used). */
export function renderClientList(clients: AdminClient[], actions?: ClientActions): HTMLElement {
  if (clients.length === 0) {
    return emptyState(
      "No clients have registered yet.",
      actions !== undefined && isAdmin(actions.ctx)
        ? "Create one with \"New client\" and give its secret to the service, which then registers its settings with it."
        : "A service appears here after it registers its settings with its client secret.",
    );
  }
  return el("div", { class: "client-list" }, ...clients.map((c) => clientSection(c, actions)));
}

// --- filtering ---------------------------------------------------------------------------------

export interface ClientFilter {
  /** Matches client names and setting names (case-insensitive). */
  text: string;
  group: string;
  category: string;
}

/** The clients and settings that match a filter. A client whose name matches keeps every setting. */
export function filterClients(clients: AdminClient[], f: ClientFilter): AdminClient[] {
  const text = f.text.trim().toLowerCase();
  const out: AdminClient[] = [];
  for (const c of clients) {
    const nameMatches = text === "" || c.name.toLowerCase().includes(text);
    const settings = c.settings.filter(
      (s) =>
        (f.group === "" || s.group === f.group) &&
        (f.category === "" || s.category === f.category) &&
        (nameMatches || s.name.toLowerCase().includes(text)),
    );
    const narrowed = f.group !== "" || f.category !== "" || !nameMatches;
    if (narrowed && settings.length === 0) continue;
    out.push({ ...c, settings });
  }
  return out;
}

function distinct(clients: AdminClient[], key: "group" | "category"): string[] {
  const set = new Set<string>();
  for (const c of clients) for (const s of c.settings) if (s[key]) set.add(s[key]);
  return [...set].sort((a, b) => a.localeCompare(b));
}

// --- the page ----------------------------------------------------------------------------------

/**
 * The "New client" button and its form (`POST /api/admin/clients`). On success the form closes,
 * the secret is shown once in `secretSlot` (with a copy button and what to do with it; "Done"
 * removes it) and the list loads again.
 */
function newClientControl(
  ctx: PageContext,
  secretSlot: HTMLElement,
  reload: () => void,
): { toggle: HTMLButtonElement; panel: HTMLElement } {
  const panelId = uniqueId("new-client");
  const titleId = `${panelId}-title`;
  const error = messageBox("error");
  const name = field(
    "Client name",
    { name: "new-client-name", type: "text", autocomplete: "off", autocapitalize: "none", spellcheck: "false", maxlength: "64", required: true },
    `${CLIENT_NAME_RULE} The service registers under this name.`,
  );
  const description = field(
    "Description (optional)",
    { name: "new-client-description", type: "text", autocomplete: "off", maxlength: String(MAX_CLIENT_DESCRIPTION) },
  );
  const create = el("button", { type: "submit", class: "primary" }, "Create client");
  const form = el(
    "form",
    { class: "card client-create", novalidate: true, "aria-labelledby": titleId },
    el("h2", { id: titleId }, "New client"),
    el(
      "p",
      { class: "muted" },
      "Creates an empty client with a new client secret. Its service then registers its settings with that secret, also while new registrations are not allowed.",
    ),
    error.node,
    name.wrapper,
    description.wrapper,
    el(
      "div",
      { class: "actions" },
      create,
      button("Cancel", () => {
        close();
        toggle.focus();
      }),
    ),
  );
  // The form is on the page only while it is open.
  const panel = el("div", { class: "new-client", id: panelId });
  const close = (): void => {
    error.clear();
    form.reset();
    replaceChildren(panel);
    toggle.setAttribute("aria-expanded", "false");
  };
  const toggle: HTMLButtonElement = button(
    "New client",
    () => {
      if (panel.firstChild !== null) {
        close();
        return;
      }
      replaceChildren(panel, form);
      toggle.setAttribute("aria-expanded", "true");
      name.input.focus();
    },
    { class: "primary", "aria-expanded": "false", "aria-controls": panelId },
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.clear();
    const value = name.input.value.trim();
    if (!CLIENT_NAME_PATTERN.test(value)) {
      error.show(`The client name is not valid: ${CLIENT_NAME_RULE}`);
      name.input.focus();
      return;
    }
    const text = description.input.value.trim();
    if ([...text].length > MAX_CLIENT_DESCRIPTION) {
      error.show(`The description is longer than ${MAX_CLIENT_DESCRIPTION} characters.`);
      description.input.focus();
      return;
    }
    create.disabled = true;
    form.setAttribute("aria-busy", "true");
    createClient(text === "" ? { name: value } : { name: value, description: text })
      .then((created) => {
        close();
        replaceChildren(
          secretSlot,
          oneTimeSecret(
            `Client secret of ${created.name}`,
            "Client secret",
            created.clientSecret,
            () => {
              replaceChildren(secretSlot);
              toggle.focus();
            },
            NEW_CLIENT_SECRET_TEXT,
          ),
        );
        secretSlot.querySelector<HTMLElement>("button")?.focus();
        reload();
      })
      .catch((err: unknown) => {
        const known = createClientErrorText(err, value);
        if (known !== null) error.show(known);
        else reportError(err, ctx, (t) => error.show(t));
        name.input.focus();
      })
      .finally(() => {
        create.disabled = false;
        form.removeAttribute("aria-busy");
      });
  });
  return { toggle, panel };
}

export function renderClients(root: HTMLElement, opts: ClientsViewOptions): Promise<void> {
  const error = messageBox("error");
  const content = el("div", { class: "clients-content", "aria-live": "polite" });
  const refresh = button("Refresh", () => void load());
  const filter: ClientFilter = { text: "", group: "", category: "" };
  let clients: AdminClient[] = [];

  const search = field(
    "Search",
    { name: "search", type: "search", autocomplete: "off", spellcheck: "false" },
    "Client or setting name.",
  );
  const group = selectField("Group", "group", [["", "All groups"]]);
  const category = selectField("Category", "category", [["", "All categories"]]);
  const filters = el(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter clients and settings", novalidate: true },
    search.wrapper,
    group.wrapper,
    category.wrapper,
  );
  filters.addEventListener("submit", (e) => e.preventDefault());

  const ctx = opts.ctx;
  const actions: ClientActions | undefined =
    ctx === undefined
      ? undefined
      : {
          ctx,
          reload: () => void load(),
          refresh: (name, after) => void refreshClient(name, after),
          versionOf: (name) => versionNumber(clients.find((c) => c.name === name)?.version),
          setVersion: (name, version) => {
            clients = clients.map((c) => (c.name === name ? { ...c, version } : c));
          },
        };

  // "New client" (Administrators only; not rendered at all for other roles): a small form, then
  // the new secret once, with what to do with it.
  const secretSlot = el("div", { class: "one-time-slot" });
  const newClient = ctx !== undefined && isAdmin(ctx) ? newClientControl(ctx, secretSlot, () => void load()) : null;

  const fillSelect = (select: HTMLSelectElement, all: string, values: string[], current: string): void => {
    replaceChildren(
      select,
      el("option", { value: "" }, all),
      ...values.map((v) => el("option", { value: v, selected: v === current }, v)),
    );
    select.value = values.includes(current) ? current : "";
  };

  const show = (): void => {
    filter.text = search.input.value;
    filter.group = group.select.value;
    filter.category = category.select.value;
    if (clients.length === 0) {
      replaceChildren(content, renderClientList([], actions));
      return;
    }
    const shown = filterClients(clients, filter);
    replaceChildren(
      content,
      shown.length === 0
        ? emptyState("Nothing matches the filter.", "Change the search text, group or category.")
        : renderClientList(shown, actions),
    );
  };
  search.input.addEventListener("input", show);
  group.select.addEventListener("change", show);
  category.select.addEventListener("change", show);

  const view = el(
    "div",
    { class: "clients-view" },
    pageHeader(
      "Clients",
      ...(newClient === null ? [] : [newClient.toggle]),
      refresh,
      ...(opts.onSignOut === undefined ? [] : [button("Sign out", () => opts.onSignOut?.())]),
    ),
    newClient?.panel,
    secretSlot,
    filters,
    error.node,
    content,
  );

  const load = async (): Promise<void> => {
    error.clear();
    refresh.disabled = true;
    content.setAttribute("aria-busy", "true");
    replaceChildren(content, progress("Loading clients…"));
    try {
      clients = (await listClients()).clients;
      fillSelect(group.select, "All groups", distinct(clients, "group"), filter.group);
      fillSelect(category.select, "All categories", distinct(clients, "category"), filter.category);
      show();
    } catch (err: unknown) {
      replaceChildren(content);
      reportError(err, { onSessionExpired: opts.onSessionExpired }, (t) => error.show(t));
    } finally {
      refresh.disabled = false;
      content.removeAttribute("aria-busy");
    }
  };

  /** The section showing a client, if it is on screen. */
  const sectionOf = (name: string): HTMLElement | undefined =>
    [...content.querySelectorAll<HTMLElement>("section.client")].find((s) => s.dataset["client"] === name);

  /**
   * Read one client again (`GET /api/admin/clients/{name}`) and redraw only its section, so that
   * what is open elsewhere on the page stays as it is. A client that is gone (404) makes the whole
   * list load again.
   */
  const refreshClient = async (name: string, after: AfterRefresh = {}): Promise<void> => {
    error.clear();
    let fresh: AdminClient;
    try {
      fresh = await getClient(name);
    } catch (err: unknown) {
      if (err instanceof ApiError && err.status === 404) {
        await load();
        return;
      }
      reportError(err, { onSessionExpired: opts.onSessionExpired }, (t) => error.show(t));
      return;
    }
    const known = versionNumber(clients.find((c) => c.name === name)?.version);
    const got = versionNumber(fresh.version);
    // An answer older than a version already seen arrived out of order: a newer one follows.
    if (known !== undefined && got !== undefined && got < known) return;
    const listed = clients.some((c) => c.name === name);
    clients = listed ? clients.map((c) => (c.name === name ? fresh : c)) : [...clients, fresh];
    fillSelect(group.select, "All groups", distinct(clients, "group"), filter.group);
    fillSelect(category.select, "All categories", distinct(clients, "category"), filter.category);
    const old = sectionOf(name);
    const shown = filterClients([fresh], filter)[0];
    if (old === undefined || shown === undefined || actions === undefined) {
      show();
      return;
    }
    const section = clientSection(shown, actions);
    // Keep open what was open (advanced settings, instances, manage).
    const wasOpen = new Set(
      [...old.querySelectorAll<HTMLDetailsElement>("details")].filter((d) => d.open).map((d) => d.className),
    );
    for (const d of section.querySelectorAll<HTMLDetailsElement>("details")) {
      if (wasOpen.has(d.className)) d.open = true;
    }
    old.replaceWith(section);
    if (after.notice !== undefined) {
      const notice = section.querySelector<HTMLElement>(".client-notice");
      if (notice !== null) {
        notice.textContent = after.notice;
        notice.hidden = false;
      }
    }
    if (after.focus !== undefined) {
      [...section.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === after.focus)?.focus();
    }
  };

  replaceChildren(root, view);
  return load();
}
