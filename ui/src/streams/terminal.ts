// xterm.js mounted into a pane, as the exec pane and the lesson terminal both use it: the
// terminal fits its pane as the pane resizes, typed text and binary input come out as bytes,
// size changes are reported, and one `dispose` undoes all of it.
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";

/** What a mounted terminal reports. */
export interface TerminalHandlers {
  /** Bytes the user typed or pasted (binary sequences included). */
  onInput: (bytes: Uint8Array) => void;
  /** The terminal's new size in cells, after its pane resized. */
  onResize: (cols: number, rows: number) => void;
}

/** A terminal in a pane; `dispose` removes it and every listener. */
export interface MountedTerminal {
  term: Terminal;
  dispose: () => void;
}

/** Opens an xterm.js terminal in `el`. `convertEol` for output without a TTY (bare `\n`). */
export function mountTerminal(el: HTMLElement, handlers: TerminalHandlers, options: { convertEol?: boolean } = {}): MountedTerminal {
  const term = new Terminal({
    cursorBlink: true,
    convertEol: options.convertEol ?? false,
    fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
    fontSize: 13,
    scrollback: 5000,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  const refit = (): void => {
    try {
      fit.fit();
    } catch {
      // Not laid out, or hidden behind another tab: the observer fits it once it shows.
    }
  };
  refit();
  const encoder = new TextEncoder();
  const onData = term.onData((data) => {
    handlers.onInput(encoder.encode(data));
  });
  const onBinary = term.onBinary((data) => {
    handlers.onInput(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff));
  });
  const onResize = term.onResize(({ cols, rows }) => {
    handlers.onResize(cols, rows);
  });
  const observer = new ResizeObserver(refit);
  observer.observe(el);
  return {
    term,
    dispose: () => {
      observer.disconnect();
      onData.dispose();
      onBinary.dispose();
      onResize.dispose();
      term.dispose();
    },
  };
}

/** Writes a session's end (`[message]`, dimmed) on a line of its own. */
export function writeExit(term: Terminal, message: string): void {
  term.write(`\r\n\x1b[2m[${message}]\x1b[0m\r\n`);
}
