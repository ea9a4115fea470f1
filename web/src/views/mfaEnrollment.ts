import { confirmMfa, enrollMfa } from "../api/auth";
import { isSessionEnded } from "../api/http";
import { el, field, messageBox, replaceChildren } from "../dom";
import { errorText } from "./common";

export interface MfaEnrollmentViewOptions {
  /** MFA is on and the recovery codes were shown: get a token without the restriction. */
  onDone: () => void;
  onSignOut: () => void;
}

export const SAVE_CODES_NOW =
  "Save these recovery codes now, somewhere safe (for example in your password manager). " +
  "They are shown only this once. Each code signs you in once if you lose your authenticator app.";

/** Group a base32 secret in fours so it is easier to type by hand. */
export function groupSecret(secret: string): string {
  return (secret.replace(/\s+/g, "").match(/.{1,4}/g) ?? []).join(" ");
}

export function renderMfaEnrollment(root: HTMLElement, opts: MfaEnrollmentViewOptions): void {
  const error = messageBox("error");
  const body = el("div", { class: "enroll-body" });
  const signOut = el("button", { type: "button", class: "secondary" }, "Sign out");
  signOut.addEventListener("click", () => opts.onSignOut());

  const view = el(
    "section",
    { class: "card enroll", "aria-labelledby": "enroll-title" },
    el("h1", { id: "enroll-title" }, "Set up two-factor authentication"),
    error.node,
    body,
  );

  const fail = (err: unknown): void => {
    // A session that ended has already sent the user back to the login page.
    if (isSessionEnded(err)) return;
    error.show(errorText(err));
  };

  const showIntro = (): void => {
    const setUp = el("button", { type: "button", class: "primary" }, "Set up");
    replaceChildren(
      body,
      el(
        "p",
        {},
        "An administrator requires two-factor authentication for your account. " +
          "Until it is set up you cannot use the admin console.",
      ),
      el(
        "p",
        {},
        "You need an authenticator app on your phone or computer (any app that supports " +
          "time-based one-time passwords, TOTP).",
      ),
      el("div", { class: "actions" }, setUp, signOut),
    );
    setUp.addEventListener("click", () => {
      error.clear();
      setUp.disabled = true;
      body.setAttribute("aria-busy", "true");
      enrollMfa()
        .then(({ secret, otpauthUri }) => showSecret(secret, otpauthUri))
        .catch(fail)
        .finally(() => {
          setUp.disabled = false;
          body.removeAttribute("aria-busy");
        });
    });
  };

  const showSecret = (secret: string, otpauthUri: string): void => {
    const code = field(
      "Code from the app",
      {
        name: "totp",
        type: "text",
        inputmode: "numeric",
        autocomplete: "one-time-code",
        pattern: "[0-9]*",
        maxlength: "6",
        required: true,
      },
      "The 6-digit code the app shows for this account.",
    );
    const confirm = el("button", { type: "submit", class: "primary" }, "Confirm");
    const form = el(
      "form",
      { class: "enroll-confirm", novalidate: true },
      code.wrapper,
      el("div", { class: "actions" }, confirm, signOut),
    );
    replaceChildren(
      body,
      el("h2", { id: "enroll-step-secret" }, "1. Add this account to your app"),
      el("p", {}, "In your authenticator app, add an account and enter this key by hand:"),
      el("p", {}, el("code", { class: "secret-text", "aria-label": "Secret key" }, groupSecret(secret))),
      el("p", { class: "muted" }, "Or, if your app accepts a setup link, use this one:"),
      el("p", {}, el("code", { class: "secret-text" }, otpauthUri)),
      el("h2", {}, "2. Enter the code the app shows"),
      form,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      error.clear();
      const value = code.input.value.replace(/\s+/g, "");
      if (!/^\d{6}$/.test(value)) {
        error.show("Enter the 6-digit code from your authenticator app.");
        code.input.focus();
        return;
      }
      confirm.disabled = true;
      form.setAttribute("aria-busy", "true");
      confirmMfa(value)
        .then(showRecoveryCodes)
        .catch((err: unknown) => {
          code.input.value = "";
          fail(err);
          code.input.focus();
        })
        .finally(() => {
          confirm.disabled = false;
          form.removeAttribute("aria-busy");
        });
    });
    code.input.focus();
  };

  const showRecoveryCodes = (codes: string[]): void => {
    const done = el("button", { type: "button", class: "primary" }, "I have saved them, continue");
    const heading = el("h2", { id: "enroll-step-codes" }, "Two-factor authentication is on");
    replaceChildren(
      body,
      heading,
      el("p", { class: "message message-notice", role: "status" }, SAVE_CODES_NOW),
      el(
        "ol",
        { class: "recovery-codes", "aria-label": "Recovery codes" },
        ...codes.map((c) => el("li", {}, el("code", {}, c))),
      ),
      el("div", { class: "actions" }, done),
    );
    done.addEventListener("click", () => {
      done.disabled = true;
      opts.onDone();
    });
    heading.tabIndex = -1;
    heading.focus();
  };

  showIntro();
  replaceChildren(root, view);
}
