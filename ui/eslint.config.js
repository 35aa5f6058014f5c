// @ts-check
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";

export default defineConfig(
  { ignores: ["dist", "src/ipc/bindings"] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  reactHooks.configs.flat.recommended,
  {
    languageOptions: {
      globals: globals.browser,
      parserOptions: {
        projectService: { allowDefaultProject: ["eslint.config.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Only ui/src/ipc may talk to the backend (DESIGN.md: typed IPC in one place).
      "no-restricted-imports": [
        "error",
        {
          paths: [
            {
              name: "@tauri-apps/api/core",
              message: "Call the backend through src/ipc, which wraps invoke() with generated types.",
            },
          ],
        },
      ],
    },
  },
  { files: ["src/ipc/**"], rules: { "no-restricted-imports": "off" } },
  { files: ["eslint.config.js"], extends: [tseslint.configs.disableTypeChecked] },
);
