import { describe, expect, it } from "vitest";

// Cheap guard rails over the shipped source: no HTML parsing sinks, no web storage for tokens.
const sources = import.meta.glob<string>("../src/**/*.ts", {
  query: "?raw",
  import: "default",
  eager: true,
});

describe("source audit", () => {
  it("finds the source files", () => {
    expect(Object.keys(sources).length).toBeGreaterThanOrEqual(5);
  });

  for (const [path, text] of Object.entries(sources)) {
    it(`${path} uses no HTML sinks or web storage`, () => {
      expect(text).not.toMatch(/\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(/);
      expect(text).not.toMatch(/localStorage|sessionStorage|indexedDB/);
    });
  }
});
