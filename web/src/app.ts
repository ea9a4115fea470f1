// Which view is on screen, and the moves between them.
//
// page load -> refresh (a reload keeps the user signed in) -> login (password, then a TOTP or
// recovery code if the account has MFA) -> change password if required -> set up MFA if
// required -> the console (views/shell.ts: role from GET /api/auth/me, pages, sign-out).
import { usernameFromToken } from "./api/auth";
import { clearAccessToken, logout, refreshSession, setSessionEndedHandler, type LoginResponse } from "./api/session";
import { el, focusHeading, replaceChildren } from "./dom";
import { renderChangePassword } from "./views/changePassword";
import { renderLogin } from "./views/login";
import { renderMfaEnrollment } from "./views/mfaEnrollment";
import { leaveShell, renderShell } from "./shell";

export const PASSWORD_CHANGED_NOTICE =
  "Your password has been changed. Sign in again with your new password.";
export const SESSION_EXPIRED_NOTICE = "Your session has ended. Please sign in again.";
export const SIGNED_OUT_NOTICE = "You have signed out.";
export const MFA_ENABLED_NOTICE =
  "Two-factor authentication is on. Sign in again with your password and a code from your app.";

/** Start the app; resolves once the first real view (login or the signed-in one) is on screen. */
export function startApp(root: HTMLElement): Promise<void> {
  const showLogin = (notice?: string): void => {
    leaveShell();
    renderLogin(root, {
      ...(notice === undefined ? {} : { notice }),
      onLoggedIn: (result: LoginResponse, username: string) => route(result, username),
    });
    focusHeading(root);
  };

  /** Where a fresh token leads: its restrictions first, then the console. */
  const route = (result: LoginResponse, username: string): void => {
    if (result.passwordChangeRequired) {
      showChangePassword(username);
    } else if (result.mfaEnrollmentRequired) {
      showMfaEnrollment();
    } else {
      showClients();
    }
  };

  const signOut = (notice: string): void => {
    void logout();
    // The next person to sign in on this tab starts on the first page, not where this one was.
    // (An expired session keeps the page, so signing in again returns there.)
    if (location.hash !== "") history.replaceState(null, "", location.pathname + location.search);
    showLogin(notice);
  };

  const showChangePassword = (username: string): void => {
    renderChangePassword(root, {
      username,
      onChanged: () => {
        // The server ends the session on a password change; sign in afresh.
        clearAccessToken();
        showLogin(PASSWORD_CHANGED_NOTICE);
      },
      onCancel: () => signOut(SIGNED_OUT_NOTICE),
    });
    focusHeading(root);
  };

  const showMfaEnrollment = (): void => {
    renderMfaEnrollment(root, {
      // The current token still carries the enrolment restriction; a refresh issues one
      // that reflects MFA being on.
      onDone: () => {
        refreshSession().then(
          (result) => route(result, usernameFromToken(result.accessToken)),
          () => {
            clearAccessToken();
            showLogin(MFA_ENABLED_NOTICE);
          },
        );
      },
      onSignOut: () => signOut(SIGNED_OUT_NOTICE),
    });
    focusHeading(root);
  };

  const showClients = (): void => {
    void renderShell(root, {
      onSignOut: () => signOut(SIGNED_OUT_NOTICE),
      onSessionExpired: () => {
        clearAccessToken();
        showLogin(SESSION_EXPIRED_NOTICE);
      },
    }).then(() => {
      // Only if the console is still what is on screen (not the login page after an expiry).
      if (root.querySelector("nav.app-nav") !== null) focusHeading(root);
    });
  };

  // A refresh that fails (scheduled, or after a refused token) ends the session here.
  setSessionEndedHandler(() => showLogin(SESSION_EXPIRED_NOTICE));

  replaceChildren(
    root,
    el("p", { class: "muted loading", role: "status" }, "Checking your session…"),
  );
  return refreshSession().then(
    (result) => route(result, usernameFromToken(result.accessToken)),
    // No session (or no server): an ordinary sign-in, without an alarming message.
    () => showLogin(),
  );
}
