// The "why" card's markup (react-dom/server): the test ids and words a pending and a placed
// pod show. The model behind it is tested in decision.test.ts.
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it, vi } from "vitest";
import { DECISION_ANNOTATION } from "./decision";

vi.mock("../shell/route", () => ({ navigate: vi.fn() }));
const { SchedulingDecision } = await import("./SchedulingDecision");

const PENDING =
  '{"nodes":3,"evaluated":3,"feasible":0,"rejected":[{"plugin":"NodeResourcesFit","reason":"Insufficient cpu","count":2,"nodes":["kubarium-worker","kubarium-worker2"]},{"plugin":"TaintToleration","reason":"node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }","count":1,"nodes":["kubarium-control-plane"]}],"message":"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."}';
const SCHEDULED =
  '{"node":"w2","nodes":2,"evaluated":2,"feasible":2,"scores":[{"node":"w2","total":474,"plugins":{"NodeResourcesFit":81,"TaintToleration":100}},{"node":"w1","total":424,"plugins":{"NodeResourcesFit":43,"TaintToleration":100}}],"weights":{"NodeResourcesFit":1,"TaintToleration":3}}';

const pod = (annotation: string | null, nodeName = "") => ({
  metadata: { name: "web", annotations: annotation === null ? {} : { [DECISION_ANNOTATION]: annotation } },
  spec: nodeName ? { nodeName } : {},
});

describe("SchedulingDecision", () => {
  it("asks why a pod is pending and lists each rejected node and reason", () => {
    const html = renderToStaticMarkup(<SchedulingDecision pod={pod(PENDING)} local />);
    expect(html).toContain('data-testid="scheduling-decision"');
    expect(html).toContain("Why is this pod pending?");
    expect(html).toContain("Pending: 0/3 nodes are available");
    expect(html).toMatch(/data-testid="decision-node-kubarium-worker" data-result="rejected"/);
    expect(html).toContain("kubarium-worker, kubarium-worker2");
    expect(html.match(/data-testid="decision-reason"/g)).toHaveLength(2);
  });

  it("shows where a placed pod went, with each plugin's weighted part", () => {
    const html = renderToStaticMarkup(<SchedulingDecision pod={pod(SCHEDULED, "w2")} local />);
    expect(html).toContain("Why is this pod here?");
    expect(html).toContain("Scheduled to w2");
    expect(html).toMatch(/data-testid="decision-node-w2" data-result="chosen"/);
    expect(html).toMatch(/data-testid="decision-node-w1" data-result="feasible"/);
    expect(html).toContain("TaintToleration: 100 × 3 = 300");
    expect(html).not.toContain("decision-reason");
  });

  it("says why there is no record", () => {
    const html = renderToStaticMarkup(<SchedulingDecision pod={pod(null, "w1")} local />);
    expect(html).toContain("Why is this pod here?");
    expect(html).toContain('data-testid="decision-none"');
    expect(html).toContain("spec.nodeName was set");
  });
});
