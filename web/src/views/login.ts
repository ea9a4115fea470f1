import { ApiError } from "../api/http";
import { login, type LoginResponse, type SecondFactor } from "../api/session";
import { el, field, messageBox, replaceChildren } from "../dom";
import { errorText } from "./common";

export interface LoginViewOptions {
  /** A message to show above the form (for example after a password change). */
  notice?: string;
  onLoggedIn: (result: LoginResponse, username: string) => void;
}

/**
 * How long the password is kept in memory while the second step waits for a code. After that
 * the user starts again (a TOTP code lasts 30 seconds; nobody needs minutes to type one).
 */
export const SECOND_STEP_TIMEOUT_MS = 5 * 60 * 1000;

export const SECOND_STEP_TIMED_OUT =
  "The sign-in took too long. Enter your user name and password again.";
export const CODE_REJECTED = "That code was not accepted. Check it and try again.";
export const RECOVERY_CODE_REJECTED =
  "That recovery code was not accepted. Check it (each code works once) and try again.";

/** Both the 6-digit TOTP code and a recovery code are typed by hand: drop spaces. */
function normalizeCode(value: string): string {
  return value.replace(/\s+/g, "");
}

export function renderLogin(root: HTMLElement, opts: LoginViewOptions): void {
  // Set only while the second step is on screen; the password never leaves this closure.
  let pending: { username: string; password: string } | null = null;
  let pendingTimer: ReturnType<typeof setTimeout> | undefined;

  const forgetPending = (): void => {
    pending = null;
    if (pendingTimer !== undefined) {
      clearTimeout(pendingTimer);
      pendingTimer = undefined;
    }
  };

  const showPasswordStep = (noticeText?: string, initialUser = ""): void => {
    forgetPending();
    const error = messageBox("error");
    const notice = messageBox("notice");
    if (noticeText !== undefined) notice.show(noticeText);

    const username = field("Username", {
      name: "username",
      type: "text",
      autocomplete: "username",
      autocapitalize: "none",
      spellcheck: "false",
      required: true,
      value: initialUser === "" ? undefined : initialUser,
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
          password.input.value = "";
          if (err instanceof ApiError && err.code === "MFA_REQUIRED") {
            showSecondStep({ username: user, password: pass }, "totp");
            return;
          }
          error.show(errorText(err));
          password.input.focus();
        })
        .finally(() => {
          submit.disabled = false;
          form.removeAttribute("aria-busy");
        });
    });

    replaceChildren(root, form);
  };

  const showSecondStep = (
    credentials: { username: string; password: string },
    mode: "totp" | "recovery",
  ): void => {
    if (pending === null) {
      pending = credentials;
      pendingTimer = setTimeout(() => {
        const stillHere = root.querySelector("form[data-step='second-factor']") !== null;
        forgetPending();
        if (stillHere) showPasswordStep(SECOND_STEP_TIMED_OUT, credentials.username);
      }, SECOND_STEP_TIMEOUT_MS);
    }
    const error = messageBox("error");
    const code =
      mode === "totp"
        ? field(
            "Authentication code",
            {
              name: "totp",
              type: "text",
              inputmode: "numeric",
              autocomplete: "one-time-code",
              pattern: "[0-9]*",
              maxlength: "6",
              required: true,
            },
            "The 6-digit code shown in your authenticator app.",
          )
        : field(
            "Recovery code",
            {
              name: "recovery-code",
              type: "text",
              autocomplete: "off",
              autocapitalize: "none",
              spellcheck: "false",
              required: true,
            },
            "One of the recovery codes you saved when you set up two-factor authentication. Each works once.",
          );
    const submit = el("button", { type: "submit", class: "primary" }, "Verify");
    const switchMode = el(
      "button",
      { type: "button", class: "link-button" },
      mode === "totp" ? "Use a recovery code instead" : "Use the authenticator app instead",
    );
    const back = el("button", { type: "button", class: "secondary" }, "Cancel");
    const form = el(
      "form",
      {
        class: "card",
        "aria-labelledby": "mfa-title",
        "data-step": "second-factor",
        novalidate: true,
      },
      el("h1", { id: "mfa-title" }, "Two-factor authentication"),
      el(
        "p",
        {},
        mode === "totp"
          ? "Enter the 6-digit code from your authenticator app."
          : "Enter one of your recovery codes.",
      ),
      error.node,
      code.wrapper,
      el("div", { class: "actions" }, submit, back),
      el("p", { class: "alt-action" }, switchMode),
    );

    switchMode.addEventListener("click", () =>
      showSecondStep(credentials, mode === "totp" ? "recovery" : "totp"),
    );
    back.addEventListener("click", () => showPasswordStep(undefined, credentials.username));

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      error.clear();
      const value = normalizeCode(code.input.value);
      let factor: SecondFactor;
      if (mode === "totp") {
        if (!/^\d{6}$/.test(value)) {
          error.show("Enter the 6-digit code from your authenticator app.");
          code.input.focus();
          return;
        }
        factor = { totp: value };
      } else {
        if (value === "") {
          error.show("Enter a recovery code.");
          code.input.focus();
          return;
        }
        factor = { recoveryCode: value };
      }
      if (pending === null) {
        showPasswordStep(SECOND_STEP_TIMED_OUT, credentials.username);
        return;
      }
      const { username, password } = pending;
      submit.disabled = true;
      form.setAttribute("aria-busy", "true");
      login(username, password, factor)
        .then((result) => {
          forgetPending();
          code.input.value = "";
          opts.onLoggedIn(result, username);
        })
        .catch((err: unknown) => {
          code.input.value = "";
          if (err instanceof ApiError && err.status === 401) {
            error.show(mode === "totp" ? CODE_REJECTED : RECOVERY_CODE_REJECTED);
          } else {
            error.show(errorText(err));
          }
          code.input.focus();
        })
        .finally(() => {
          submit.disabled = false;
          form.removeAttribute("aria-busy");
        });
    });

    replaceChildren(root, form);
    code.input.focus();
  };

  showPasswordStep(opts.notice);
}
