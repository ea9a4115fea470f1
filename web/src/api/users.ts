// Console users: list, create, change, delete, password resets and sessions.

import { apiRequest } from "./session";
import { badShape, enc, isRecord } from "./http";
import { isRole, type Role } from "./auth";

export interface UserView {
  username: string;
  role: Role;
  clientFilter: string | null;
  classifications: string[] | null;
  enabled: boolean;
  mfaEnabled: boolean;
  passwordChangeRequired: boolean;
  created: string;
  updated: string;
}

function parseUser(u: unknown): UserView {
  if (!isRecord(u) || typeof u["username"] !== "string" || !isRole(u["role"])) {
    throw badShape("user");
  }
  const cls = u["classifications"];
  return {
    username: u["username"],
    role: u["role"],
    clientFilter: typeof u["clientFilter"] === "string" ? u["clientFilter"] : null,
    classifications:
      Array.isArray(cls) && cls.every((c: unknown) => typeof c === "string") ? (cls as string[]) : null,
    enabled: u["enabled"] !== false,
    mfaEnabled: u["mfaEnabled"] === true,
    passwordChangeRequired: u["passwordChangeRequired"] === true,
    created: typeof u["created"] === "string" ? u["created"] : "",
    updated: typeof u["updated"] === "string" ? u["updated"] : "",
  };
}

/** `GET /api/admin/users` (Administrator). */
export async function listUsers(): Promise<UserView[]> {
  const body = await apiRequest("GET", "/admin/users");
  if (!isRecord(body) || !Array.isArray(body["users"])) throw badShape("users");
  return body["users"].map(parseUser);
}

/**
 * The classification of a setting that has none, for user permissions: a User limited to a list
 * may edit such settings only when the list names it.
 */
export const UNCLASSIFIED = "Unclassified";

export interface NewUser {
  username: string;
  password: string;
  role: Role;
  clientFilter?: string;
  /**
   * Classifications the user may edit: absent means every classification; a list allows exactly
   * those it names, so `[]` allows no edit at all. List `Unclassified` for settings without one.
   */
  classifications?: string[];
}

/** `POST /api/admin/users` → 201 with the user; the password must be changed at first login. */
export async function createUser(user: NewUser): Promise<UserView> {
  return parseUser(await apiRequest("POST", "/admin/users", user));
}

/**
 * Only the fields to change. `clientFilter: ""` removes the filter. `classifications`: absent
 * leaves them as they are, `null` allows every classification, a list exactly those (`[]` no
 * edit at all).
 */
export interface UserUpdate {
  role?: Role;
  clientFilter?: string;
  classifications?: string[] | null;
  enabled?: boolean;
}

/** `PUT /api/admin/users/{username}`. */
export async function updateUser(username: string, update: UserUpdate): Promise<UserView> {
  return parseUser(await apiRequest("PUT", `/admin/users/${enc(username)}`, update));
}

/** `DELETE /api/admin/users/{username}` → 204. */
export async function deleteUser(username: string): Promise<void> {
  await apiRequest("DELETE", `/admin/users/${enc(username)}`);
}

/** `POST /api/admin/users/{username}/password-reset` → the one-time password, shown once. */
export async function resetPassword(username: string): Promise<string> {
  const body = await apiRequest("POST", `/admin/users/${enc(username)}/password-reset`);
  if (!isRecord(body) || typeof body["password"] !== "string" || body["password"] === "") {
    throw badShape("password reset");
  }
  return body["password"];
}

/** `DELETE /api/admin/users/{username}/sessions` → how many sessions were ended. */
export async function endSessions(username: string): Promise<number> {
  const body = await apiRequest("DELETE", `/admin/users/${enc(username)}/sessions`);
  return isRecord(body) && typeof body["terminated"] === "number" ? body["terminated"] : 0;
}
