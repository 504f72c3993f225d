import { describe, expect, it } from "vitest";
import { replaceMarked } from "../../../bench/cost/deploy-estimate.js";

describe("replaceMarked", () => {
  it("replaces only what lies between the markers", () => {
    const text = "a\n<!-- cost-estimate:begin -->\nold\n<!-- cost-estimate:end -->\nb";
    expect(replaceMarked(text, "new", "f.md")).toBe(
      "a\n<!-- cost-estimate:begin -->\nnew\n<!-- cost-estimate:end -->\nb",
    );
  });

  it("names the file when the markers are missing", () => {
    expect(() => replaceMarked("no markers", "new", "docs/x.md")).toThrow(
      /docs\/x\.md: expected the markers/,
    );
  });
});
