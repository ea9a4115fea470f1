// Which view is on screen, and the moves between them.
import { clearAccessToken, logout, type LoginResponse } from "./api";
import { focusHeading } from "./dom";
import { renderChangePassword } from "./views/changePassword";
import { renderClients } from "./views/clients";
import { renderLogin } from "./views/login";

export const PASSWORD_CHANGED_NOTICE =
  "Your password has been changed. Sign in again with your new password.";
export const SESSION_EXPIRED_NOTICE = "Your session has ended. Please sign in again.";
export const SIGNED_OUT_NOTICE = "You have signed out.";

export function startApp(root: HTMLElement): void {
  const showLogin = (notice?: string): void => {
    renderLogin(root, {
      ...(notice === undefined ? {} : { notice }),
      onLoggedIn: (result: LoginResponse, username: string) => {
        if (result.passwordChangeRequired) {
          showChangePassword(username);
        } else {
          showClients();
        }
      },
    });
    focusHeading(root);
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

  showLogin();
}
