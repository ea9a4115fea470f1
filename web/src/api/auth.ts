// The signed-in account: who it is (GET /api/auth/me), its password and its second factor.

import { badShape, isRecord } from "./http";
import { request } from "./session";

/** `POST /api/auth/mfa/enroll`: the new TOTP secret (base32) and its `otpauth://` URI. */
export interface MfaEnrollment {
  secret: string;
  otpauthUri: string;
}

export type Role = "Administrator" | "User" | "ReadOnly";

/** `GET /api/auth/me`: the signed-in user (never a hash or an MFA secret). */
export interface Me {
  username: string;
  role: Role;
  clientFilter?: string | null;
  classifications?: string[] | null;
  enabled: boolean;
  mfaEnabled: boolean;
  passwordChangeRequired: boolean;
}

const ROLES: readonly Role[] = ["Administrator", "User", "ReadOnly"];

export function isRole(v: unknown): v is Role {
  return typeof v === "string" && (ROLES as readonly string[]).includes(v);
}

function parseMe(body: unknown): Me {
  if (!isRecord(body) || typeof body["username"] !== "string" || !isRole(body["role"])) {
    throw badShape("profile");
  }
  const classifications = body["classifications"];
  return {
    username: body["username"],
    role: body["role"],
    clientFilter: typeof body["clientFilter"] === "string" ? body["clientFilter"] : null,
    classifications:
      Array.isArray(classifications) &&
      classifications.every((c: unknown) => typeof c === "string")
        ? (classifications as string[])
        : null,
    enabled: body["enabled"] !== false,
    mfaEnabled: body["mfaEnabled"] === true,
    passwordChangeRequired: body["passwordChangeRequired"] === true,
  };
}

/**
 * The user name in an access token, for display only (for example the read-only user name on
 * the change-password form after a reload). The token is not verified here; the server does that.
 */
export function usernameFromToken(token: string): string {
  const payload = token.split(".")[1];
  if (payload === undefined) return "";
  try {
    const b64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), "="));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return isRecord(claims) && typeof claims["sub"] === "string" ? claims["sub"] : "";
  } catch {
    return "";
  }
}

/** `POST /api/auth/password` (204). Allowed while a password change is required. */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await request("/auth/password", {
    method: "POST",
    auth: true,
    body: { currentPassword, newPassword },
  });
}

/** `GET /api/auth/me`: who is signed in, and with which role (decides what the console shows). */
export async function getMe(): Promise<Me> {
  return parseMe(await request("/auth/me", { method: "GET", auth: true }));
}

/** `POST /api/auth/mfa/enroll`: start (or restart) TOTP enrolment. */
export async function enrollMfa(): Promise<MfaEnrollment> {
  const body = await request("/auth/mfa/enroll", { method: "POST", auth: true });
  if (
    !isRecord(body) ||
    typeof body["secret"] !== "string" ||
    body["secret"] === "" ||
    typeof body["otpauthUri"] !== "string"
  ) {
    throw badShape("enrolment");
  }
  return { secret: body["secret"], otpauthUri: body["otpauthUri"] };
}

/** `POST /api/auth/mfa/confirm {code}`: turns MFA on; the recovery codes are shown only now. */
export async function confirmMfa(code: string): Promise<string[]> {
  const body = await request("/auth/mfa/confirm", {
    method: "POST",
    auth: true,
    body: { code },
  });
  if (
    !isRecord(body) ||
    !Array.isArray(body["recoveryCodes"]) ||
    !body["recoveryCodes"].every((c: unknown) => typeof c === "string")
  ) {
    throw badShape("confirmation");
  }
  return body["recoveryCodes"] as string[];
}
