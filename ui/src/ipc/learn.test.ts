// Tests that Learn's host wrappers call the Rust commands by their names with the argument
// names Tauri maps onto the commands' parameters (camelCase here, snake_case there).
import { beforeEach, describe, expect, it, vi } from "vitest";

const calls: { command: string; args: Record<string, unknown> | undefined }[] = [];

vi.mock("@tauri-apps/api/core", () => ({
  invoke: (command: string, args?: Record<string, unknown>) => {
    calls.push({ command, args });
    return Promise.resolve(null);
  },
  Channel: class {
    onmessage: ((message: unknown) => void) | null = null;
  },
}));

const learn = await import("./learn");

beforeEach(() => {
  calls.length = 0;
});

describe("learn wrappers", () => {
  it("runs a one-shot exec with the pod's coordinates", async () => {
    await learn.execRun("local", "learn-pods", "web", null, ["cat", "/etc/web/greeting"]);
    expect(calls).toEqual([
      {
        command: "exec_run",
        args: { cluster: "local", namespace: "learn-pods", pod: "web", container: null, command: ["cat", "/etc/web/greeting"] },
      },
    ]);
  });

  it("starts, feeds and resizes the terminal, output on a channel", async () => {
    const seen: unknown[] = [];
    await learn.terminalStart("learn-pods", 80, 24, (output) => seen.push(output));
    await learn.terminalInput(7, new TextEncoder().encode("ls\n"));
    await learn.terminalResize(7, 100, 30);
    const [start, input, resize] = calls;
    expect(start?.command).toBe("terminal_start");
    expect(start?.args).toMatchObject({ namespace: "learn-pods", cols: 80, rows: 24 });
    const channel = start?.args?.["onOutput"] as { onmessage: (m: unknown) => void };
    channel.onmessage({ type: "stdout", data: [104, 105] });
    expect(seen).toEqual([{ type: "stdout", data: [104, 105] }]);
    expect(input).toEqual({ command: "terminal_input", args: { id: 7, data: [108, 115, 10] } });
    expect(resize).toEqual({ command: "terminal_resize", args: { id: 7, cols: 100, rows: 30 } });
  });

  it("asks the ingress by host and path", async () => {
    await learn.ingressGet("blue.localhost", "/api");
    await learn.ingressUrl("blue.localhost");
    expect(calls).toEqual([
      { command: "ingress_get", args: { host: "blue.localhost", path: "/api" } },
      { command: "ingress_url", args: { host: "blue.localhost" } },
    ]);
  });
});
