import { defineConfig } from "vitest/config";

// The server applies a strict CSP (no inline scripts or styles), so the build must emit only
// external files: no module-preload polyfill (it is the one thing Vite might inline).
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
  },
  server: {
    // `npm run dev` only: forward /api to the local gateway (adjust if the gateway's port differs).
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
  test: {
    environment: "happy-dom",
    include: ["test/**/*.test.ts"],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
