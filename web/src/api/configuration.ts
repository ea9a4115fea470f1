// The server configuration (GET/PUT /api/admin/config): the switches an administrator controls.

import { apiRequest } from "./session";
import { badShape, isRecord } from "./http";

export interface ServerConfig {
  allowNewRegistrations: boolean;
  allowUpdatedRegistrations: boolean;
  allowClientOverrides: boolean;
  clientOverridesAllowList: string[];
  allowFileImports: boolean;
  allowOfflineSettings: boolean;
  requireMfaForAdministrators: boolean;
  webhookAllowedHosts: string[];
  pollIntervalMs: number;
  /** Most clients this server holds (1 to 100000). */
  maxClients: number;
  /**
   * Fields of the server's answer this page does not know, sent back as they came: a write
   * replaces the whole configuration, and a field left out would fall back to its default.
   */
  otherFields?: Record<string, unknown>;
}

/** The built-in default of `maxClients` (used when an answer has none). */
export const DEFAULT_MAX_CLIENTS = 1000;

const CONFIG_FIELDS = new Set([
  "allowNewRegistrations",
  "allowUpdatedRegistrations",
  "allowClientOverrides",
  "clientOverridesAllowList",
  "allowFileImports",
  "allowOfflineSettings",
  "requireMfaForAdministrators",
  "webhookAllowedHosts",
  "pollIntervalMs",
  "maxClients",
]);

export const CONFIG_SWITCHES = [
  ["allowNewRegistrations", "Allow new client registrations"],
  ["allowUpdatedRegistrations", "Allow registered clients to change their definitions"],
  ["allowClientOverrides", "Allow client overrides (values from a client's environment)"],
  ["allowFileImports", "Allow file imports"],
  ["allowOfflineSettings", "Allow clients to keep an encrypted offline copy"],
  ["requireMfaForAdministrators", "Require two-factor authentication for Administrators"],
] as const;

function parseConfig(body: unknown): ServerConfig {
  if (!isRecord(body) || typeof body["pollIntervalMs"] !== "number") throw badShape("configuration");
  const list = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x: unknown): x is string => typeof x === "string") : [];
  const maxClients = body["maxClients"];
  const otherFields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!CONFIG_FIELDS.has(k)) otherFields[k] = v;
  const config: ServerConfig = {
    allowNewRegistrations: body["allowNewRegistrations"] === true,
    allowUpdatedRegistrations: body["allowUpdatedRegistrations"] === true,
    allowClientOverrides: body["allowClientOverrides"] === true,
    clientOverridesAllowList: list(body["clientOverridesAllowList"]),
    allowFileImports: body["allowFileImports"] === true,
    allowOfflineSettings: body["allowOfflineSettings"] === true,
    requireMfaForAdministrators: body["requireMfaForAdministrators"] === true,
    webhookAllowedHosts: list(body["webhookAllowedHosts"]),
    pollIntervalMs: body["pollIntervalMs"],
    maxClients:
      typeof maxClients === "number" && Number.isSafeInteger(maxClients) ? maxClients : DEFAULT_MAX_CLIENTS,
  };
  if (Object.keys(otherFields).length > 0) config.otherFields = otherFields;
  return config;
}

/** The body of a configuration write: every known field, and the unknown ones as they came. */
export function configurationBody(config: ServerConfig): Record<string, unknown> {
  const { otherFields, ...known } = config;
  return { ...(otherFields ?? {}), ...known };
}

/** `GET /api/admin/configuration` (any role). */
export async function getConfiguration(): Promise<ServerConfig> {
  return parseConfig(await apiRequest("GET", "/admin/configuration"));
}

/** `PUT /api/admin/configuration` (Administrator): the whole configuration. */
export async function putConfiguration(config: ServerConfig): Promise<ServerConfig> {
  return parseConfig(await apiRequest("PUT", "/admin/configuration", configurationBody(config)));
}
