// Tests of the exec pane's command-line splitting and missing-program detection.
import { describe, expect, it } from "vitest";
import { isMissingProgram, shellAttempts, splitCommand } from "./exec";

describe("splitCommand", () => {
  it("splits on whitespace and groups quotes", () => {
    expect(splitCommand("  ls   -la /tmp ")).toEqual(["ls", "-la", "/tmp"]);
    expect(splitCommand(`sh -c 'echo "hi there"; exit 3'`)).toEqual(["sh", "-c", 'echo "hi there"; exit 3']);
    expect(splitCommand(`echo "a \\"b\\"" c\\ d ''`)).toEqual(["echo", 'a "b"', "c d", ""]);
    expect(splitCommand("")).toEqual([]);
  });
});

describe("isMissingProgram", () => {
  it("recognises a program the container does not have", () => {
    expect(isMissingProgram({ code: 127, message: "The command exited with code 127." })).toBe(true);
    expect(isMissingProgram({ code: null, message: 'The command failed: exec: "bash": executable file not found in $PATH' })).toBe(true);
    expect(isMissingProgram({ code: "badRequest", message: "no such file or directory", causes: [] })).toBe(true);
  });

  it("does not mistake a failing command for a missing one", () => {
    expect(isMissingProgram({ code: 1, message: "The command exited with code 1." })).toBe(false);
    expect(isMissingProgram({ code: "notFound", message: 'pods "web" not found', causes: [] })).toBe(false);
  });
});

describe("shellAttempts", () => {
  it("tries sh, then /bin/sh, for the default shell only", () => {
    expect(shellAttempts("sh")).toEqual([["sh"], ["/bin/sh"]]);
    expect(shellAttempts("bash -l")).toEqual([["bash", "-l"]]);
  });
});
