// Tests of the port-forward pane's pure helpers.
import { describe, expect, it } from "vitest";
import type { Forward } from "../ipc/streams";
import { forwardsTo, parseLocalPort } from "./forwards";

describe("parseLocalPort", () => {
  it("reads empty as any free port and accepts 1–65535", () => {
    expect(parseLocalPort("  ")).toEqual({ port: null });
    expect(parseLocalPort("8080")).toEqual({ port: 8080 });
    expect(parseLocalPort("65535")).toEqual({ port: 65535 });
  });

  it("refuses what is not a port, saying what to enter", () => {
    for (const bad of ["0", "65536", "80a", "-1", "8.5"]) {
      const parsed = parseLocalPort(bad);
      expect("error" in parsed && parsed.error).toMatch(/enter 1–65535/);
    }
  });
});

describe("forwardsTo", () => {
  const forward: Forward = {
    id: 1, cluster: "local", namespace: "default", target: { kind: "service", name: "web" },
    remotePort: 80, pod: "web-1", podPort: 8080, localPort: 5000, url: "http://127.0.0.1:5000/",
  };

  it("matches cluster, namespace, kind and name", () => {
    expect(forwardsTo(forward, "local", "default", { kind: "service", name: "web" })).toBe(true);
    expect(forwardsTo(forward, "local", "default", { kind: "pod", name: "web" })).toBe(false);
    expect(forwardsTo(forward, "local", "other", { kind: "service", name: "web" })).toBe(false);
  });
});
