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

describe("module layout", () => {
  it("has no view importing another view (what they share is views/common.ts)", () => {
    for (const [path, text] of Object.entries(sources)) {
      if (!path.includes("/src/views/")) continue;
      const views = [...text.matchAll(/from "\.\/([A-Za-z]+)"/g)].map((m) => m[1]).filter((m) => m !== "common");
      expect(views, path).toEqual([]);
    }
  });

  it("calls fetch only in the transport module", () => {
    const callers = Object.entries(sources)
      .filter(([, text]) => /\bfetch\(/.test(text))
      .map(([path]) => path);
    expect(callers).toEqual(["../src/api/http.ts"]);
  });
});
