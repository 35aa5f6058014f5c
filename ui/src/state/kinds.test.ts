// Tests for the sidebar's kind labels.
import { describe, expect, it } from "vitest";
import type { KindInfo } from "../ipc/resources";
import { pluralLabel } from "./kinds";

const kind = (k: string): KindInfo => ({
  resource: k.toLowerCase(),
  kind: k,
  group: "",
  version: "v1",
  namespaced: true,
  category: "workloads",
  shortNames: [],
  columns: [],
});

describe("pluralLabel", () => {
  it("pluralises kinds the way the Kubernetes docs name them", () => {
    expect(pluralLabel(kind("Pod"))).toBe("Pods");
    expect(pluralLabel(kind("Ingress"))).toBe("Ingresses");
    expect(pluralLabel(kind("StorageClass"))).toBe("StorageClasses");
    expect(pluralLabel(kind("Endpoints"))).toBe("Endpoints");
    expect(pluralLabel(kind("EndpointSlice"))).toBe("EndpointSlices");
    expect(pluralLabel(kind("NetworkPolicy"))).toBe("NetworkPolicies");
    expect(pluralLabel(kind("ServiceAccount"))).toBe("ServiceAccounts");
  });
});
