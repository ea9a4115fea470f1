// Users and roles (Administrator): list, create, edit (role, client filter, classifications,
// enabled), delete, password reset (the one-time password is shown once) and ending sessions.
// Classifications: every one (the field left out), exactly a list (settings without a
// classification count as "Unclassified"), or none at all (`[]`: no edits).
import { isRole, type Role } from "../api/auth";
import { createUser, deleteUser, endSessions, listUsers, resetPassword, updateUser, UNCLASSIFIED, type UserView } from "../api/users";
import {
  button,
  checkboxField,
  el,
  field,
  messageBox,
  oneTimeSecret,
  progress,
  replaceChildren,
  selectField,
  timeElement,
  uniqueId,
} from "../dom";
import { commaList, emptyState, pageHeader, reportError, type PageContext } from "./common";

const ROLE_OPTIONS: Array<[string, string]> = [
  ["ReadOnly", "ReadOnly: sees settings, changes nothing"],
  ["User", "User: edits values within the client filter and classifications"],
  ["Administrator", "Administrator: everything"],
];

export const USERNAME_RULE = "Lower-case letters, digits, '.', '_', '-' and '@'; 1 to 64 characters.";

export const CLASSIFICATIONS_LEGEND = "Classifications this user may edit";
export const CLASSIFICATIONS_HINT =
  "Only matters for the User role: an Administrator edits every setting, a ReadOnly user none. A setting without a classification counts as Unclassified.";
export const EMPTY_LIST_TEXT =
  "List at least one classification (or tick Unclassified), or choose \"No edits at all\".";
export const LIST_LIMITS_TEXT = "Give at most 50 classifications, each at most 64 characters long.";

/** How a user's classifications read in the list: every one, none, or the names. */
export function classificationsText(classifications: string[] | null): string {
  if (classifications === null) return "all";
  if (classifications.length === 0) return "none (no edits)";
  return classifications.join(", ");
}

type ClassificationMode = "all" | "list" | "none";

/**
 * The classification choice: every classification (`null`: the field is left out), a list
 * (exactly those named; `Unclassified` for settings without one) or none (`[]`: no edits).
 */
function classificationFields(user?: UserView): {
  node: HTMLElement;
  read: () => { ok: true; value: string[] | null } | { ok: false; error: string; focus: () => void };
} {
  const current = user?.classifications ?? null;
  const initial: ClassificationMode = current === null ? "all" : current.length === 0 ? "none" : "list";
  const group = uniqueId("classifications");
  const hintId = `${group}-hint`;
  const radio = (mode: ClassificationMode, label: string, hint: string) => {
    const id = `${group}-${mode}`;
    const input = el("input", {
      type: "radio",
      name: group,
      id,
      value: mode,
      checked: mode === initial,
      "aria-describedby": `${id}-hint`,
    });
    const node = el(
      "div",
      { class: "field field-check" },
      input,
      el("label", { for: id }, label),
      el("p", { class: "hint", id: `${id}-hint` }, hint),
    );
    return { input, node };
  };
  const all = radio("all", "Every classification", "A User may edit every setting their client filter lets them see.");
  const list = radio("list", "Only the classifications listed", "Exactly the classifications named here, nothing else.");
  const none = radio("none", "No edits at all", "A User can read settings but change none (an empty list).");
  const listed = (current ?? []).filter((c) => c !== UNCLASSIFIED);
  const names = field(
    "Allowed classifications",
    { name: "classifications", type: "text", autocomplete: "off", spellcheck: "false", value: listed.join(", ") },
    "Comma-separated, spelt as the settings spell them, for example Functional, Technical.",
  );
  const unclassified = checkboxField(
    "Settings without a classification (Unclassified)",
    "unclassified",
    (current ?? []).includes(UNCLASSIFIED),
  );
  // Filling in the list chooses it.
  names.input.addEventListener("input", () => (list.input.checked = true));
  unclassified.input.addEventListener("change", () => (list.input.checked = true));
  const node = el(
    "fieldset",
    { class: "checkbox-group classifications", "aria-describedby": hintId },
    el("legend", {}, CLASSIFICATIONS_LEGEND),
    el("p", { class: "hint", id: hintId }, CLASSIFICATIONS_HINT),
    all.node,
    list.node,
    el("div", { class: "nested-fields" }, names.wrapper, unclassified.wrapper),
    none.node,
  );
  return {
    node,
    read: () => {
      if (none.input.checked) return { ok: true, value: [] };
      if (!list.input.checked) return { ok: true, value: null };
      const items = [...new Set([...commaList(names.input.value), ...(unclassified.input.checked ? [UNCLASSIFIED] : [])])];
      if (items.length === 0) return { ok: false, error: EMPTY_LIST_TEXT, focus: () => names.input.focus() };
      if (items.length > 50 || items.some((c) => [...c].length > 64)) {
        return { ok: false, error: LIST_LIMITS_TEXT, focus: () => names.input.focus() };
      }
      return { ok: true, value: items };
    },
  };
}

function userFields(user?: UserView): {
  nodes: HTMLElement[];
  read: () =>
    | { ok: true; role: Role; clientFilter: string; classifications: string[] | null }
    | { ok: false; error: string; focus: () => void };
} {
  const role = selectField("Role", "role", ROLE_OPTIONS, user?.role ?? "ReadOnly");
  const filter = field(
    "Client filter",
    { name: "client-filter", type: "text", autocomplete: "off", spellcheck: "false", value: user?.clientFilter ?? "" },
    "A regular expression matched against the whole client name. Empty: every client.",
  );
  const cls = classificationFields(user);
  return {
    nodes: [role.wrapper, filter.wrapper, cls.node],
    read: () => {
      const c = cls.read();
      if (!c.ok) return c;
      return {
        ok: true,
        role: isRole(role.select.value) ? role.select.value : "ReadOnly",
        clientFilter: filter.input.value.trim(),
        classifications: c.value,
      };
    },
  };
}

export function renderUsers(root: HTMLElement, ctx: PageContext): Promise<void> {
  const error = messageBox("error");
  const notice = messageBox("notice");
  const content = el("div", { class: "users-content", "aria-live": "polite" });
  const secretSlot = el("div", { class: "one-time-slot" });
  const refresh = button("Refresh", () => void load());
  const fail = (err: unknown): void => reportError(err, ctx, (t) => error.show(t));

  // --- create form
  const username = field("Username", { name: "new-username", type: "text", autocomplete: "off", autocapitalize: "none", spellcheck: "false" }, USERNAME_RULE);
  const password = field(
    "Initial password",
    { name: "new-user-password", type: "password", autocomplete: "new-password", minlength: "12", maxlength: "128" },
    "At least 12 characters and hard to guess. The user must change it at first sign-in.",
  );
  const createFields = userFields();
  const create = el("button", { type: "submit", class: "primary" }, "Create user");
  const createForm = el(
    "form",
    { class: "card user-create", novalidate: true, "aria-labelledby": "create-user-title" },
    el("h2", { id: "create-user-title" }, "New user"),
    username.wrapper,
    password.wrapper,
    ...createFields.nodes,
    el("div", { class: "actions" }, create),
  );
  createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    error.clear();
    notice.clear();
    const name = username.input.value.trim();
    if (!/^[a-z0-9._@-]{1,64}$/.test(name)) {
      error.show(`The username is not valid. ${USERNAME_RULE}`);
      username.input.focus();
      return;
    }
    const pass = password.input.value;
    if ([...pass].length < 12 || [...pass].length > 128) {
      error.show("The initial password must be 12 to 128 characters long.");
      password.input.focus();
      return;
    }
    const rest = createFields.read();
    if (!rest.ok) {
      error.show(rest.error);
      rest.focus();
      return;
    }
    create.disabled = true;
    createForm.setAttribute("aria-busy", "true");
    createUser({
      username: name,
      password: pass,
      role: rest.role,
      ...(rest.clientFilter === "" ? {} : { clientFilter: rest.clientFilter }),
      // Left out: every classification. A list (even an empty one) is sent as it is.
      ...(rest.classifications === null ? {} : { classifications: rest.classifications }),
    })
      .then(() => {
        password.input.value = "";
        username.input.value = "";
        notice.show(`Created ${name}. They must change the password at first sign-in.`);
        void load();
      })
      .catch(fail)
      .finally(() => {
        create.disabled = false;
        createForm.removeAttribute("aria-busy");
      });
  });

  const editForm = (user: UserView, close: () => void): HTMLElement => {
    const f = userFields(user);
    const enabled = checkboxField("Enabled (may sign in)", "enabled", user.enabled);
    const save = el("button", { type: "submit", class: "primary" }, "Save");
    const form = el(
      "form",
      { class: "editor", novalidate: true, "aria-label": `Edit ${user.username}` },
      el("h3", {}, `Edit ${user.username}`),
      ...f.nodes,
      enabled.wrapper,
      el("p", { class: "hint" }, "Any change ends the user's sessions; their next sign-in gets the new rights."),
      el("div", { class: "actions" }, save, button("Cancel", close)),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      error.clear();
      notice.clear();
      const v = f.read();
      if (!v.ok) {
        error.show(v.error);
        v.focus();
        return;
      }
      save.disabled = true;
      form.setAttribute("aria-busy", "true");
      updateUser(user.username, {
        role: v.role,
        clientFilter: v.clientFilter,
        // Sent only when changed: null gives every classification (back), a list (even an empty
        // one) is sent as it is.
        ...(JSON.stringify(v.classifications) === JSON.stringify(user.classifications)
          ? {}
          : { classifications: v.classifications }),
        enabled: enabled.input.checked,
      })
        .then(() => {
          notice.show(`Saved ${user.username}.`);
          void load();
        })
        .catch(fail)
        .finally(() => {
          save.disabled = false;
          form.removeAttribute("aria-busy");
        });
    });
    return form;
  };

  const confirmDelete = (user: UserView, close: () => void): HTMLElement => {
    const yes = button(`Delete ${user.username}`, () => {
      error.clear();
      yes.disabled = true;
      deleteUser(user.username)
        .then(() => {
          notice.show(`Deleted ${user.username}.`);
          void load();
        })
        .catch((err: unknown) => {
          yes.disabled = false;
          fail(err);
        });
    }, { class: "danger" });
    return el(
      "div",
      { class: "editor confirm", role: "group", "aria-label": `Delete ${user.username}?` },
      el("p", {}, `Delete ${user.username}? Their sessions end and they can no longer sign in.`),
      el("div", { class: "actions" }, yes, button("Cancel", close)),
    );
  };

  const userRow = (user: UserView): HTMLElement[] => {
    const panel = el("td", { colspan: "6" });
    const panelRow = el("tr", { class: "panel-row", hidden: true }, panel);
    const close = (): void => {
      panel.replaceChildren();
      panelRow.hidden = true;
    };
    const open = (node: HTMLElement): void => {
      replaceChildren(panel, node);
      panelRow.hidden = false;
      node.querySelector<HTMLElement>("input, select, button")?.focus();
    };
    const actions = el(
      "td",
      { "data-label": "Actions", class: "row-actions" },
      button("Edit", () => open(editForm(user, close)), { "aria-label": `Edit ${user.username}` }),
      button(
        "Reset password",
        () => {
          error.clear();
          notice.clear();
          resetPassword(user.username)
            .then((pw) => {
              replaceChildren(
                secretSlot,
                oneTimeSecret(`One-time password for ${user.username}`, "One-time password", pw),
              );
              secretSlot.querySelector<HTMLElement>("button")?.focus();
            })
            .catch(fail);
        },
        { "aria-label": `Reset password of ${user.username}` },
      ),
      button(
        "End sessions",
        () => {
          error.clear();
          notice.clear();
          endSessions(user.username)
            .then((n) => notice.show(`Ended ${n} ${n === 1 ? "session" : "sessions"} of ${user.username}.`))
            .catch(fail);
        },
        { "aria-label": `End sessions of ${user.username}` },
      ),
      button("Delete", () => open(confirmDelete(user, close)), {
        "aria-label": `Delete ${user.username}`,
        class: "secondary danger",
      }),
    );
    const flags = [
      user.enabled ? null : "disabled",
      user.mfaEnabled ? "2FA on" : null,
      user.passwordChangeRequired ? "must change password" : null,
    ].filter((x): x is string => x !== null);
    return [
      el(
        "tr",
        { class: "user", "data-user": user.username },
        el("th", { scope: "row", "data-label": "User" }, user.username, user.username === ctx.me.username ? el("span", { class: "muted" }, " (you)") : null),
        el("td", { "data-label": "Role" }, user.role),
        el("td", { "data-label": "Client filter" }, user.clientFilter ?? el("span", { class: "muted" }, "all clients")),
        el(
          "td",
          { "data-label": "Classifications" },
          user.classifications === null || user.classifications.length === 0
            ? el("span", { class: "muted" }, classificationsText(user.classifications))
            : classificationsText(user.classifications),
        ),
        el("td", { "data-label": "Status" }, flags.length === 0 ? "enabled" : flags.join(", "), user.updated ? el("span", { class: "muted" }, " · changed ", timeElement(user.updated)) : null),
        actions,
      ),
      panelRow,
    ];
  };

  const load = async (): Promise<void> => {
    error.clear();
    refresh.disabled = true;
    content.setAttribute("aria-busy", "true");
    replaceChildren(content, progress("Loading users…"));
    try {
      const users = await listUsers();
      replaceChildren(
        content,
        users.length === 0
          ? emptyState("No users.", "Create one below.")
          : el(
              "div",
              { class: "table-wrap" },
              el(
                "table",
                { class: "data users" },
                el("caption", { class: "visually-hidden" }, "Users"),
                el("thead", {}, el("tr", {}, ...["User", "Role", "Client filter", "Classifications", "Status", "Actions"].map((c) => el("th", { scope: "col" }, c)))),
                el("tbody", {}, ...users.flatMap(userRow)),
              ),
            ),
      );
    } catch (err: unknown) {
      replaceChildren(content);
      fail(err);
    } finally {
      refresh.disabled = false;
      content.removeAttribute("aria-busy");
    }
  };

  replaceChildren(
    root,
    el("div", { class: "users-view" }, pageHeader("Users", refresh), error.node, notice.node, secretSlot, content, createForm),
  );
  return load();
}
