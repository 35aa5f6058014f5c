// The lesson text format.
import { describe, expect, it } from "vitest";
import { blocks, spans } from "./text";

describe("lesson text", () => {
  it("marks code and bold, and leaves unclosed markers alone", () => {
    expect(spans("Run `kubectl get pods` **now** or `later")).toEqual([
      { type: "text", text: "Run " },
      { type: "code", text: "kubectl get pods" },
      { type: "text", text: " " },
      { type: "bold", text: "now" },
      { type: "text", text: " or `later" },
    ]);
  });
  it("splits paragraphs and lists", () => {
    const text = "First line\nsame paragraph.\n\n- one\n- two\n  continued\nAfter.\n\n<b>not html</b>";
    expect(blocks(text)).toEqual([
      { type: "paragraph", spans: [{ type: "text", text: "First line same paragraph." }] },
      { type: "list", items: [[{ type: "text", text: "one" }], [{ type: "text", text: "two continued" }]] },
      { type: "paragraph", spans: [{ type: "text", text: "After." }] },
      { type: "paragraph", spans: [{ type: "text", text: "<b>not html</b>" }] },
    ]);
  });
});
