import { resolve } from "node:path";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

// Dev-only preview without the desktop shell: `CORDON_UI_MOCK=1 npx vite` injects dev/mock.ts,
// which stubs window.__TAURI_INTERNALS__.invoke with sample data. `apply: "serve"`: never in a build.
const mock = (): Plugin => ({
  name: "cordon-dev-mock",
  apply: (_config, env) => env.command === "serve" && process.env.CORDON_UI_MOCK === "1",
  transformIndexHtml: () => [{ tag: "script", attrs: { type: "module", src: "/dev/mock.ts" }, injectTo: "head-prepend" }],
});

// One page per window: the shell opens approval.html, evidence.html and settings.html.
export default defineConfig({
  clearScreen: false,
  plugins: [mock()],
  build: {
    target: "safari15", // WebKitGTK
    outDir: "dist",
    emptyOutDir: true,
    rollupOptions: {
      input: {
        approval: resolve(__dirname, "approval.html"),
        evidence: resolve(__dirname, "evidence.html"),
        settings: resolve(__dirname, "settings.html"),
      },
    },
  },
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
  },
});
