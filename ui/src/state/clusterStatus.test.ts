import { describe, expect, it } from "vitest";
import { formatLatency, phaseLabel } from "./clusterStatus";

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
