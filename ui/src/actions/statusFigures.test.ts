// The status bar's Docker and machine figures in words.
import { describe, expect, it } from "vitest";
import { dockerLabel, formatBytes, hostLabel } from "./statusFigures";

describe("status figures", () => {
  it("formats memory in binary units", () => {
    expect(formatBytes(512 * 1024 ** 2)).toBe("512 MiB");
    expect(formatBytes(7.84 * 1024 ** 3)).toBe("7.8 GiB");
  });

  it("waits for a second probe before showing CPU", () => {
    const host = { cpuPercent: null, memoryUsedBytes: 1024 ** 3, memoryTotalBytes: 4 * 1024 ** 3 };
    expect(hostLabel(host)).toBe("CPU … · RAM 1.0 GiB / 4.0 GiB");
    expect(hostLabel({ ...host, cpuPercent: 12.6 })).toBe("CPU 13% · RAM 1.0 GiB / 4.0 GiB");
  });

  it("says when Docker is down, with its reason as the tooltip", () => {
    expect(dockerLabel({ state: "running", version: "27.3.1" })).toMatchObject({ text: "Docker 27.3.1", down: false });
    const down = dockerLabel({ state: "unreachable", message: "Docker is not reachable; start Docker" });
    expect(down).toEqual({ text: "Docker unreachable", down: true, title: "Docker is not reachable; start Docker" });
    expect(dockerLabel({ state: "notUsed" }).text).toBe("Hollow pods");
  });
});
