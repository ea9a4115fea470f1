// The rules of a setting's value, as the web client checks them before it sends a change: the
// value's type, allowed values, minimum and maximum, the validation pattern (anchored as the
// server anchors it) and the size limit, and the same rules in words. The server checks again
// and has the final word; these only save a round trip and explain the rule up front.

import type { AdminSetting } from "../api/clients";

/** Shown with a secret setting's field. */
export const SECRET_HINT =
  "Write-only: the current value is never shown. Whatever you type replaces it.";

/** A client version as the server counts it (a whole number), or undefined. */
export function versionNumber(version: number | string | undefined): number | undefined {
  if (typeof version === "number") return Number.isSafeInteger(version) && version >= 0 ? version : undefined;
  if (typeof version === "string" && /^\d{1,15}$/.test(version)) return Number(version);
  return undefined;
}


export type Checked = { ok: true; value: unknown } | { ok: false; error: string };

const INT32 = [-2147483648, 2147483647] as const;

/** The setting's type, lower-cased and without a .NET-style prefix (`Int32` → `int`). */
export function kindOf(setting: AdminSetting): string {
  const t = setting.type.toLowerCase();
  if (t === "int32" || t === "integer") return "int";
  if (t === "int64") return "long";
  if (t === "boolean") return "bool";
  if (t === "float" || t === "decimal" || t === "number") return "double";
  return t;
}

export function isMultiline(setting: AdminSetting): boolean {
  const k = kindOf(setting);
  return k === "json" || k === "datagrid";
}

/**
 * Turn what was typed into the JSON value to send, checking the definition first: type,
 * allowed values, minimum/maximum and the validation pattern. The server checks again and
 * has the final word; this only saves a round trip and explains the rule up front.
 */
export function validateValue(setting: AdminSetting, raw: string): Checked {
  const fail = (error: string): Checked => ({ ok: false, error });
  const kind = kindOf(setting);
  let value: unknown;
  switch (kind) {
    case "int":
    case "long": {
      const t = raw.trim();
      if (!/^-?\d+$/.test(t)) return fail("Enter a whole number.");
      const n = Number(t);
      if (!Number.isSafeInteger(n)) return fail("The number is too large.");
      if (kind === "int" && (n < INT32[0] || n > INT32[1])) {
        return fail("Enter a whole number between -2147483648 and 2147483647.");
      }
      value = n;
      break;
    }
    case "double": {
      const t = raw.trim();
      const n = Number(t);
      if (t === "" || !Number.isFinite(n)) return fail("Enter a number.");
      value = n;
      break;
    }
    case "bool":
      if (raw !== "true" && raw !== "false") return fail("Choose true or false.");
      value = raw === "true";
      break;
    case "datetime": {
      const t = raw.trim();
      const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
      if (!rfc3339.test(t) || Number.isNaN(Date.parse(t))) {
        return fail("Enter a date and time like 2026-01-31T09:30:00Z (RFC 3339).");
      }
      value = t;
      break;
    }
    case "json":
    case "datagrid": {
      try {
        value = JSON.parse(raw) as unknown;
      } catch {
        return fail("Enter valid JSON.");
      }
      if (
        kind === "datagrid" &&
        !(
          Array.isArray(value) &&
          value.every((r: unknown) => typeof r === "object" && r !== null && !Array.isArray(r))
        )
      ) {
        return fail("Enter a JSON list of records, like [{\"name\": \"a\"}].");
      }
      break;
    }
    default:
      value = raw;
  }
  if (setting.validValues !== undefined && typeof value === "string" && !setting.validValues.includes(value)) {
    return fail(`Choose one of: ${setting.validValues.join(", ")}.`);
  }
  if (typeof value === "number") {
    if (setting.minimum !== undefined && value < setting.minimum) {
      return fail(`The smallest value allowed is ${setting.minimum}.`);
    }
    if (setting.maximum !== undefined && value > setting.maximum) {
      return fail(`The largest value allowed is ${setting.maximum}.`);
    }
  }
  if (setting.validationRegex !== undefined && typeof value === "string") {
    let re: RegExp | null = null;
    try {
      // Anchored, as the server anchors it. A pattern JavaScript cannot read is left to the server.
      re = new RegExp(`^(?:${setting.validationRegex})$`, "u");
    } catch {
      re = null;
    }
    if (re !== null && !re.test(value)) {
      return fail(
        setting.validationExplanation !== undefined && setting.validationExplanation !== ""
          ? `Not valid: ${setting.validationExplanation}`
          : `Not valid: it must match the pattern ${setting.validationRegex}`,
      );
    }
  }
  if (JSON.stringify(value).length > 32 * 1024) return fail("The value is larger than 32 KiB.");
  return { ok: true, value };
}

/** What the rules of a definition are, in words (shown under the value field). */
export function ruleHint(setting: AdminSetting): string {
  const parts: string[] = [`Type: ${setting.type}.`];
  if (setting.minimum !== undefined) parts.push(`Minimum ${setting.minimum}.`);
  if (setting.maximum !== undefined) parts.push(`Maximum ${setting.maximum}.`);
  if (setting.validationRegex !== undefined) {
    parts.push(
      setting.validationExplanation !== undefined && setting.validationExplanation !== ""
        ? `Rule: ${setting.validationExplanation}.`
        : `Must match ${setting.validationRegex}.`,
    );
  }
  if (setting.secret) parts.push(SECRET_HINT);
  return parts.join(" ");
}
