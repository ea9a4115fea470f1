import { ApiError, login, type LoginResponse } from "../api";
import { el, field, messageBox, replaceChildren } from "../dom";

export interface LoginViewOptions {
  /** A message to show above the form (for example after a password change). */
  notice?: string;
  onLoggedIn: (result: LoginResponse, username: string) => void;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    return err.requestId === undefined
      ? err.message
      : `${err.message} (request ${err.requestId})`;
  }
  return "Something went wrong. Please try again.";
}

export function renderLogin(root: HTMLElement, opts: LoginViewOptions): void {
  const error = messageBox("error");
  const notice = messageBox("notice");
  if (opts.notice !== undefined) notice.show(opts.notice);

  const username = field("Username", {
    name: "username",
    type: "text",
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
    required: true,
  });
  const password = field("Password", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const submit = el("button", { type: "submit", class: "primary" }, "Sign in");
  const form = el(
    "form",
    { class: "card", "aria-labelledby": "login-title", novalidate: true },
    el("h1", { id: "login-title" }, "Sign in"),
    notice.node,
    error.node,
    username.wrapper,
    password.wrapper,
    el("div", { class: "actions" }, submit),
  );

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.clear();
    const user = username.input.value.trim();
    const pass = password.input.value;
    if (user === "" || pass === "") {
      error.show("Enter your username and password.");
      (user === "" ? username.input : password.input).focus();
      return;
    }
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    login(user, pass)
      .then((result) => {
        password.input.value = "";
        opts.onLoggedIn(result, user);
      })
      .catch((err: unknown) => {
        error.show(errorText(err));
        password.input.value = "";
        password.input.focus();
      })
      .finally(() => {
        submit.disabled = false;
        form.removeAttribute("aria-busy");
      });
  });

  replaceChildren(root, form);
}
