// Tests for the theme override: stored values, palettes in step with styles.css, and WCAG AA
// contrast (4.5:1) for every text colour our styles put on every background they use.
import { describe, expect, it } from "vitest";
import { parseThemeChoice } from "./theme";

// Vitest turns CSS imports (even `?raw`) into empty strings, so the sheets are read from disk
// through Node's fs (typed narrowly here: the UI has no Node type definitions).
interface NodeFs {
  readFileSync: (path: URL, encoding: "utf8") => string;
}
const fs = (
  globalThis as unknown as { process: { getBuiltinModule: (name: "node:fs") => NodeFs } }
).process.getBuiltinModule("node:fs");
const styles = fs.readFileSync(new URL("../styles.css", import.meta.url), "utf8");
const themeCss = fs.readFileSync(new URL("./theme.css", import.meta.url), "utf8");

/** The custom properties declared in the first block whose header matches `header`. */
function variables(css: string, header: RegExp): Map<string, string> {
  const start = css.search(header);
  if (start < 0) throw new Error(`no block matching ${String(header)}`);
  const open = css.indexOf("{", start);
  let depth = 0;
  let end = open;
  for (let i = open; i < css.length; i++) {
    if (css[i] === "{") depth++;
    if (css[i] === "}") depth--;
    if (depth === 0) {
      end = i;
      break;
    }
  }
  const vars = new Map<string, string>();
  for (const m of css.slice(open, end).matchAll(/(--[\w-]+):\s*(#[0-9a-fA-F]{6})/g)) {
    vars.set(m[1] ?? "", (m[2] ?? "").toLowerCase());
  }
  return vars;
}

function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

const systemLight = variables(styles, /^:root\s*\{/m);
const systemDark = variables(styles, /prefers-color-scheme:\s*dark\)\s*\{\s*:root/);
const light = variables(themeCss, /:root\[data-theme="light"\]/);
const dark = variables(themeCss, /:root\[data-theme="dark"\]/);

describe("theme override", () => {
  it("reads stored choices, defaulting to the OS", () => {
    expect(parseThemeChoice("light")).toBe("light");
    expect(parseThemeChoice("dark")).toBe("dark");
    expect(parseThemeChoice(null)).toBe("system");
    expect(parseThemeChoice("purple")).toBe("system");
  });

  it("repeats styles.css's palettes exactly", () => {
    expect(light).toEqual(systemLight);
    expect(dark).toEqual(systemDark);
    expect(light.size).toBeGreaterThan(10);
  });

  // Text colours and the backgrounds our styles put them on: body text, muted text and links
  // go everywhere; status colours (table STATUS cells) only on the page and panels (selected
  // rows show them in the body colour, see table.css); --bad also on error banners.
  const PAIRS: [string[], string[]][] = [
    [["--text", "--muted", "--accent"], ["--bg", "--panel", "--sidebar", "--accent-soft", "--error-bg", "--code-bg"]],
    [["--ok", "--warn", "--bad"], ["--bg", "--panel"]],
    [["--bad"], ["--error-bg"]],
  ];

  for (const [name, palette] of [
    ["light", light],
    ["dark", dark],
  ] as const) {
    it(`meets WCAG AA (4.5:1) for text in the ${name} theme`, () => {
      const failures: string[] = [];
      for (const [texts, backgrounds] of PAIRS) {
        for (const fg of texts) {
          for (const bg of backgrounds) {
            const ratio = contrast(palette.get(fg) ?? "", palette.get(bg) ?? "");
            if (ratio < 4.5) failures.push(`${fg} on ${bg}: ${ratio.toFixed(2)}`);
          }
        }
      }
      expect(failures).toEqual([]);
    });
  }
});
