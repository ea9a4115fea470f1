// Which view is on screen, and the moves between them.
//
// page load -> refresh (a reload keeps the user signed in) -> login (password, then a TOTP or
// recovery code if the account has MFA) -> change password if required -> set up MFA if
// required -> clients.
import {
  clearAccessToken,
  logout,
  refreshSession,
  setSessionEndedHandler,
  usernameFromToken,
  type LoginResponse,
} from "./api";
import { el, focusHeading, replaceChildren } from "./dom";
import { renderChangePassword } from "./views/changePassword";
import { renderClients } from "./views/clients";
import { renderLogin } from "./views/login";
import { renderMfaEnrollment } from "./views/mfaEnrollment";

export const PASSWORD_CHANGED_NOTICE =
  "Your password has been changed. Sign in again with your new password.";
export const SESSION_EXPIRED_NOTICE = "Your session has ended. Please sign in again.";
export const SIGNED_OUT_NOTICE = "You have signed out.";
export const MFA_ENABLED_NOTICE =
  "Two-factor authentication is on. Sign in again with your password and a code from your app.";

/** Start the app; resolves once the first real view (login or the signed-in one) is on screen. */
export function startApp(root: HTMLElement): Promise<void> {
  const showLogin = (notice?: string): void => {
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
    void renderClients(root, {
      onSignOut: () => signOut(SIGNED_OUT_NOTICE),
      onSessionExpired: () => {
        clearAccessToken();
        showLogin(SESSION_EXPIRED_NOTICE);
      },
    });
    focusHeading(root);
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
