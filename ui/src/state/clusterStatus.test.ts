import { describe, expect, it } from "vitest";
import { formatLatency, phaseLabel, retryLabel } from "./clusterStatus";
import type { AppError } from "../ipc";

describe("formatLatency", () => {
  it("keeps precision below a millisecond and drops it above ten", () => {
    expect(formatLatency(0.1234)).toBe("0.12 ms");
    expect(formatLatency(3.456)).toBe("3.5 ms");
    expect(formatLatency(42.7)).toBe("43 ms");
  });
});

describe("phaseLabel", () => {
  it("has words for every phase", () => {
    expect(phaseLabel("starting")).toBe("Starting…");
    expect(phaseLabel("connected")).toBe("Connected");
    expect(phaseLabel("unreachable")).toBe("Not answering");
    expect(phaseLabel("failed")).toBe("Failed to start");
    expect(phaseLabel("stopped")).toBe("Stopped");
  });
});

describe("phaseLabel with the probe's error", () => {
  const error = (code: AppError["code"]): AppError => ({ code, message: "m", causes: [] });
  it("says a cluster that answered but refused us is not merely silent", () => {
    expect(phaseLabel("unreachable", error("unauthorized"))).toBe("Credentials refused");
    expect(phaseLabel("unreachable", error("forbidden"))).toBe("Access denied");
    expect(phaseLabel("unreachable", error("tls"))).toBe("Certificate not trusted");
    expect(phaseLabel("unreachable", error("unreachable"))).toBe("Not answering");
    expect(phaseLabel("unreachable")).toBe("Not answering");
    expect(phaseLabel("connected", error("unauthorized"))).toBe("Connected");
  });
});

describe("retryLabel", () => {
  it("counts whole seconds down to the next try, then says it is trying", () => {
    expect(retryLabel(10_000, 2_000)).toBe("retrying in 8 s");
    expect(retryLabel(10_000, 9_001)).toBe("retrying in 1 s");
    expect(retryLabel(10_000, 10_000)).toBe("retrying now");
    expect(retryLabel(10_000, 12_000)).toBe("retrying now");
  });
});
