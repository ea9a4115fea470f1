import { describe, expect, it } from "vitest";
import type { AdminSetting } from "../src/api/clients";
import { SECRET_HINT, isMultiline, kindOf, ruleHint, validateValue } from "../src/settings/validate";

// The value rules alone, without the clients view around them (test/clients-edit.test.ts
// covers them through the editor).
const setting = (over: Partial<AdminSetting>): AdminSetting => ({
  name: "S",
  type: "string",
  description: "",
  secret: false,
  ...over,
});

describe("the value rules", () => {
  it("read .NET-style and lower-case type names alike", () => {
    expect(kindOf(setting({ type: "Int32" }))).toBe("int");
    expect(kindOf(setting({ type: "integer" }))).toBe("int");
    expect(kindOf(setting({ type: "Int64" }))).toBe("long");
    expect(kindOf(setting({ type: "Boolean" }))).toBe("bool");
    expect(kindOf(setting({ type: "decimal" }))).toBe("double");
    expect(kindOf(setting({ type: "DateTime" }))).toBe("datetime");
    expect(isMultiline(setting({ type: "json" }))).toBe(true);
    expect(isMultiline(setting({ type: "DataGrid" }))).toBe(true);
    expect(isMultiline(setting({ type: "string" }))).toBe(false);
  });

  it("take RFC 3339 times only", () => {
    const at = setting({ type: "datetime" });
    expect(validateValue(at, " 2026-01-31T09:30:00Z ")).toEqual({ ok: true, value: "2026-01-31T09:30:00Z" });
    expect(validateValue(at, "2026-01-31T09:30:00.5+01:00")).toMatchObject({ ok: true });
    expect(validateValue(at, "2026-01-31")).toMatchObject({ ok: false });
    expect(validateValue(at, "2026-13-45T99:99:99Z")).toMatchObject({ ok: false });
  });

  it("take JSON for json, and only a list of records for a data grid", () => {
    expect(validateValue(setting({ type: "json" }), '{"a":[1,2]}')).toEqual({ ok: true, value: { a: [1, 2] } });
    expect(validateValue(setting({ type: "json" }), "{")).toEqual({ ok: false, error: "Enter valid JSON." });
    const grid = setting({ type: "DataGrid" });
    expect(validateValue(grid, '[{"name":"a"},{"name":"b"}]')).toMatchObject({ ok: true });
    expect(validateValue(grid, "[1,2]")).toMatchObject({ ok: false });
    expect(validateValue(grid, '{"name":"a"}')).toMatchObject({ ok: false });
  });

  it("anchor the pattern, so an alternation cannot match part of a value", () => {
    const s = setting({ validationRegex: "a|b" });
    expect(validateValue(s, "a")).toMatchObject({ ok: true });
    expect(validateValue(s, "ab")).toMatchObject({ ok: false });
    expect(validateValue(s, "xa")).toMatchObject({ ok: false });
    // A pattern JavaScript cannot read is left to the server.
    expect(validateValue(setting({ validationRegex: "(?<x" }), "anything")).toMatchObject({ ok: true });
  });

  it("refuse values over 32 KiB", () => {
    expect(validateValue(setting({}), "x".repeat(32 * 1024))).toEqual({
      ok: false,
      error: "The value is larger than 32 KiB.",
    });
    expect(validateValue(setting({}), "x".repeat(32 * 1024 - 2))).toMatchObject({ ok: true });
  });

  it("say the rules in words, and that a secret is write-only", () => {
    expect(ruleHint(setting({ type: "int", minimum: 1, maximum: 9 }))).toBe("Type: int. Minimum 1. Maximum 9.");
    expect(ruleHint(setting({ validationRegex: "[a-z]+" }))).toBe("Type: string. Must match [a-z]+.");
    expect(ruleHint(setting({ validationRegex: "[a-z]+", validationExplanation: "lower-case letters" }))).toBe(
      "Type: string. Rule: lower-case letters.",
    );
    expect(ruleHint(setting({ secret: true }))).toBe(`Type: string. ${SECRET_HINT}`);
  });
});
