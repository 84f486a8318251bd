import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

// One page per window: the shell opens approval.html, evidence.html and settings.html.
export default defineConfig({
  clearScreen: false,
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
