// The exec pane's logic without a terminal: the command line as argv, and telling "this
// container has no such program" apart from a command that ran and failed.
import type { AppError } from "../ipc";

/**
 * Splits a command line into argv the way a shell would for simple input: whitespace between
 * words, 'single' and "double" quotes group (no expansion, no escapes inside single quotes,
 * backslash escapes the next character elsewhere). Unclosed quotes end at the line's end.
 */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word += line.charAt(++i);
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line.charAt(++i);
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** What a failed exec says, whether it ended with an exit or was refused at start. */
export type ExecFailure = { code: number | null; message: string } | AppError;

/**
 * Whether a failure means the program is not in the container (exit 126/127 from a runtime,
 * or the runtime's "executable file not found" / "no such file"), as opposed to a command
 * that ran and failed.
 */
export function isMissingProgram(failure: ExecFailure): boolean {
  if ("code" in failure && (failure.code === 126 || failure.code === 127)) return true;
  return /executable file not found|no such file or directory|not found in \$?PATH|command not found/i.test(failure.message);
}

/** The commands to try for the default shell: `sh` from PATH, then `/bin/sh`. */
export function shellAttempts(command: string): string[][] {
  const argv = splitCommand(command);
  if (argv.length === 1 && argv[0] === "sh") return [["sh"], ["/bin/sh"]];
  return [argv];
}
