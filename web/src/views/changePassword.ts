import { changePassword } from "../api/auth";
import { isSessionEnded } from "../api/http";
import { el, field, messageBox, replaceChildren } from "../dom";
import { errorText } from "./common";

/** docs/ARCHITECTURE.md §5 (passwords): at least 12 characters, at most 128 accepted; strength is checked by the server. */
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 128;

export interface ChangePasswordViewOptions {
  username: string;
  onChanged: () => void;
  onCancel: () => void;
}

/** Client-side checks only; the server has the final word (length and strength). */
export function validateNewPassword(current: string, next: string, confirm: string): string | null {
  if (current === "") return "Enter your current password.";
  if ([...next].length < MIN_PASSWORD_LENGTH) {
    return `The new password must be at least ${MIN_PASSWORD_LENGTH} characters long.`;
  }
  if ([...next].length > MAX_PASSWORD_LENGTH) {
    return `The new password must be at most ${MAX_PASSWORD_LENGTH} characters long.`;
  }
  if (next !== confirm) return "The new password and its confirmation do not match.";
  if (next === current) return "The new password must differ from the current one.";
  return null;
}

export function renderChangePassword(root: HTMLElement, opts: ChangePasswordViewOptions): void {
  const error = messageBox("error");

  // A read-only username field lets password managers file the new password under the right account.
  const username = field("Username", {
    name: "username",
    type: "text",
    autocomplete: "username",
    readonly: true,
    value: opts.username,
  });
  const current = field("Current password", {
    name: "current-password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const next = field(
    "New password",
    {
      name: "new-password",
      type: "password",
      autocomplete: "new-password",
      minlength: String(MIN_PASSWORD_LENGTH),
      maxlength: String(MAX_PASSWORD_LENGTH),
      required: true,
    },
    `At least ${MIN_PASSWORD_LENGTH} characters. A long passphrase is best; it must not be easy to guess.`,
  );
  const confirm = field("Confirm new password", {
    name: "confirm-password",
    type: "password",
    autocomplete: "new-password",
    required: true,
  });
  const submit = el("button", { type: "submit", class: "primary" }, "Change password");
  const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");

  const form = el(
    "form",
    { class: "card", "aria-labelledby": "change-title", novalidate: true },
    el("h1", { id: "change-title" }, "Change your password"),
    el("p", {}, "You must choose a new password before you can continue."),
    error.node,
    username.wrapper,
    current.wrapper,
    next.wrapper,
    confirm.wrapper,
    el("div", { class: "actions" }, submit, cancel),
  );

  cancel.addEventListener("click", () => opts.onCancel());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.clear();
    const problem = validateNewPassword(current.input.value, next.input.value, confirm.input.value);
    if (problem !== null) {
      error.show(problem);
      return;
    }
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    changePassword(current.input.value, next.input.value)
      .then(() => {
        for (const f of [current, next, confirm]) f.input.value = "";
        opts.onChanged();
      })
      .catch((err: unknown) => {
        if (isSessionEnded(err)) return; // already back on the login page
        error.show(errorText(err));
      })
      .finally(() => {
        submit.disabled = false;
        form.removeAttribute("aria-busy");
      });
  });

  replaceChildren(root, form);
}
