import { describe, expect, it } from "vitest";
import { formatLatency, kubectlVersionCommand, phaseLabel, shellQuote } from "./clusterStatus";

describe("formatLatency", () => {
  it("keeps precision below a millisecond and drops it above ten", () => {
    expect(formatLatency(0.1234)).toBe("0.12 ms");
    expect(formatLatency(3.456)).toBe("3.5 ms");
    expect(formatLatency(42.7)).toBe("43 ms");
  });
});

describe("shellQuote", () => {
  it("leaves plain paths alone", () => {
    expect(shellQuote("/home/ada/.local/share/kubarium/kubeconfig")).toBe(
      "/home/ada/.local/share/kubarium/kubeconfig",
    );
  });
  it("quotes spaces and single quotes", () => {
    expect(shellQuote("/Users/Ada Lovelace/kube config")).toBe("'/Users/Ada Lovelace/kube config'");
    expect(shellQuote("it's")).toBe(String.raw`'it'\''s'`);
  });
});

describe("kubectlVersionCommand", () => {
  it("points kubectl at the kubeconfig", () => {
    expect(kubectlVersionCommand("/tmp/k dir/kubeconfig")).toBe(
      "kubectl --kubeconfig '/tmp/k dir/kubeconfig' version",
    );
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
