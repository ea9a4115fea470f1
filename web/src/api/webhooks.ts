// Webhooks: configuration, signing secrets, test deliveries and dead letters.

import { apiRequest } from "./session";
import { badShape, enc, isRecord } from "./http";

export const WEBHOOK_TYPES = [
  "SettingValueChanged",
  "NewClientRegistration",
  "UpdatedClientRegistration",
  "ClientStatusChanged",
  "SecurityEvent",
] as const;

export interface Webhook {
  id: string;
  url: string;
  types: string[];
  clientPattern?: string;
  settingPattern?: string;
  createdAt: string;
  lastDelivery?: { time: string; ok: boolean; status?: number; error?: string };
  deadLetters: number;
}

export interface WebhookInput {
  url: string;
  types: string[];
  clientPattern?: string;
  settingPattern?: string;
}

function parseWebhook(w: unknown): Webhook {
  if (!isRecord(w) || typeof w["id"] !== "string" || typeof w["url"] !== "string") {
    throw badShape("webhook");
  }
  const types = w["types"];
  const hook: Webhook = {
    id: w["id"],
    url: w["url"],
    types: Array.isArray(types) ? types.filter((t: unknown): t is string => typeof t === "string") : [],
    createdAt: typeof w["createdAt"] === "string" ? w["createdAt"] : "",
    deadLetters: typeof w["deadLetters"] === "number" ? w["deadLetters"] : 0,
  };
  if (typeof w["clientPattern"] === "string") hook.clientPattern = w["clientPattern"];
  if (typeof w["settingPattern"] === "string") hook.settingPattern = w["settingPattern"];
  const last = w["lastDelivery"];
  if (isRecord(last) && typeof last["time"] === "string") {
    hook.lastDelivery = { time: last["time"], ok: last["ok"] === true };
    if (typeof last["status"] === "number") hook.lastDelivery.status = last["status"];
    if (typeof last["error"] === "string") hook.lastDelivery.error = last["error"];
  }
  return hook;
}

/** `GET /api/admin/webhooks` (Administrator). */
export async function listWebhooks(): Promise<Webhook[]> {
  const body = await apiRequest("GET", "/admin/webhooks");
  if (!isRecord(body) || !Array.isArray(body["webhooks"])) throw badShape("webhooks");
  return body["webhooks"].map(parseWebhook);
}

/** `POST /api/admin/webhooks` → 201 `{id, signingSecret, ...}`; the signing secret is shown once. */
export async function createWebhook(input: WebhookInput): Promise<{ id: string; signingSecret: string }> {
  const body = await apiRequest("POST", "/admin/webhooks", input);
  if (
    !isRecord(body) ||
    typeof body["id"] !== "string" ||
    typeof body["signingSecret"] !== "string" ||
    body["signingSecret"] === ""
  ) {
    throw badShape("webhook");
  }
  return { id: body["id"], signingSecret: body["signingSecret"] };
}

/**
 * `PUT /api/admin/webhooks/{id}`. A URL on another host is another receiver: the answer then
 * carries a new signing secret, shown once.
 */
export async function updateWebhook(
  id: string,
  input: WebhookInput,
): Promise<{ webhook: Webhook; signingSecret?: string }> {
  const body = await apiRequest("PUT", `/admin/webhooks/${enc(id)}`, input);
  const webhook = parseWebhook(body);
  const secret = isRecord(body) ? body["signingSecret"] : undefined;
  if (secret === undefined) return { webhook };
  if (typeof secret !== "string" || secret === "") throw badShape("webhook");
  return { webhook, signingSecret: secret };
}

/** `POST /api/admin/webhooks/{id}/secret`: a new signing secret, shown once; the old one is retired. */
export async function rotateWebhookSecret(id: string): Promise<{ signingSecret: string }> {
  const body = await apiRequest("POST", `/admin/webhooks/${enc(id)}/secret`);
  if (!isRecord(body) || typeof body["signingSecret"] !== "string" || body["signingSecret"] === "") {
    throw badShape("webhook");
  }
  return { signingSecret: body["signingSecret"] };
}

/** `DELETE /api/admin/webhooks/{id}` → 204. */
export async function deleteWebhook(id: string): Promise<void> {
  await apiRequest("DELETE", `/admin/webhooks/${enc(id)}`);
}

export interface WebhookTestResult {
  delivered: boolean;
  status?: number;
  error?: string;
}

/** `POST /api/admin/webhooks/{id}/test`: one test delivery, now. */
export async function testWebhook(id: string): Promise<WebhookTestResult> {
  const body = await apiRequest("POST", `/admin/webhooks/${enc(id)}/test`);
  if (!isRecord(body) || typeof body["delivered"] !== "boolean") throw badShape("webhook test");
  const result: WebhookTestResult = { delivered: body["delivered"] };
  if (typeof body["status"] === "number") result.status = body["status"];
  if (typeof body["error"] === "string") result.error = body["error"];
  return result;
}

export interface DeadLetter {
  eventId: string;
  type: string;
  time: string;
  attempts: number;
  lastError: string;
}

/** `GET /api/admin/webhooks/{id}/dead-letters`. */
export async function webhookDeadLetters(id: string): Promise<DeadLetter[]> {
  const body = await apiRequest("GET", `/admin/webhooks/${enc(id)}/dead-letters`);
  if (!isRecord(body) || !Array.isArray(body["deadLetters"])) throw badShape("dead letters");
  return body["deadLetters"].map((d: unknown): DeadLetter => {
    if (!isRecord(d)) throw badShape("dead letters");
    return {
      eventId: typeof d["eventId"] === "string" ? d["eventId"] : "",
      type: typeof d["type"] === "string" ? d["type"] : "",
      time: typeof d["time"] === "string" ? d["time"] : "",
      attempts: typeof d["attempts"] === "number" ? d["attempts"] : 0,
      lastError: typeof d["lastError"] === "string" ? d["lastError"] : "",
    };
  });
}
