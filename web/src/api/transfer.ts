// Export and import of clients, definitions and values.

import { apiRequest } from "./session";
import { badShape, isRecord } from "./http";

/**
 * `GET /api/admin/export` (no secrets), or `POST /api/admin/export {passphrase}` (secret values
 * sealed with the passphrase). The document is passed through as it came.
 */
export async function exportDocument(passphrase?: string): Promise<unknown> {
  const body =
    passphrase === undefined
      ? await apiRequest("GET", "/admin/export")
      : await apiRequest("POST", "/admin/export", { passphrase });
  if (!isRecord(body)) throw badShape("export");
  return body;
}

export type ImportMode = "addNewClients" | "replaceClients" | "valuesOnly";

/** `POST /api/admin/import` → how many clients and values were imported. */
export async function importDocument(
  mode: ImportMode,
  document: unknown,
  passphrase?: string,
): Promise<{ clients: number; values: number }> {
  const request: Record<string, unknown> = { mode, document };
  if (passphrase !== undefined && passphrase !== "") request["passphrase"] = passphrase;
  const body = await apiRequest("POST", "/admin/import", request);
  if (!isRecord(body)) throw badShape("import");
  return {
    clients: typeof body["clients"] === "number" ? body["clients"] : 0,
    values: typeof body["values"] === "number" ? body["values"] : 0,
  };
}
