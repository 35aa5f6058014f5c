/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

/** xterm.js 6.0.0 assigns `toString` to a plain namespace object when its module loads
 * (xtermjs/xterm.js#5131). Tauri's `freezePrototype` makes `Object.prototype.toString`
 * read-only, and in strict code assigning a property that is read-only up the prototype
 * chain throws — the whole bundle stopped at load and the window stayed blank. The property
 * is defined instead; the build fails if xterm's code no longer has exactly that assignment,
 * so an upgrade is checked rather than silently unpatched. */
function xtermUnderFrozenPrototype(): Plugin {
  const assignment = /([A-Za-z_$][\w$]*)\.toString=([A-Za-z_$][\w$]*);/g;
  return {
    name: "xterm-under-frozen-prototype",
    transform(code, id) {
      if (!id.includes("/@xterm/xterm/lib/xterm.mjs")) return null;
      const found = code.match(assignment)?.length ?? 0;
      if (found !== 1) {
        throw new Error(`@xterm/xterm: expected one \`<namespace>.toString=<fn>;\` to rewrite for freezePrototype, found ${String(found)}; check whether this xterm version still needs the rewrite (xtermjs/xterm.js#5131)`);
      }
      return {
        code: code.replace(assignment, 'Object.defineProperty($1,"toString",{value:$2,writable:!0,enumerable:!0,configurable:!0});'),
        map: null,
      };
    },
  };
}

// The UI runs inside the system webview: WebKitGTK on Linux, WKWebView on macOS
// (Safari 16+), WebView2 on Windows.
export default defineConfig({
  plugins: [react(), xtermUnderFrozenPrototype()],
  clearScreen: false,
  server: { port: 5173, strictPort: true, host: "127.0.0.1" },
  build: {
    target: ["es2022", "safari16"],
    outDir: "dist",
    emptyOutDir: true,
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
