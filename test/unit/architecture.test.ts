/**
 * docs/architecture.md and the dependency rule say the same thing: the areas the document maps
 * are the areas of dependency-areas.cjs (which .dependency-cruiser.cjs enforces in `npm test`),
 * with the same imports, and every folder of lib/ is one of them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const { AREAS } = createRequire(import.meta.url)(`${root}dependency-areas.cjs`) as {
  AREAS: Record<string, { role: string; imports: string[]; production: boolean }>;
};

/** The rows of the "Areas" table: area → role and imports. */
function documentedAreas(): Map<string, { role: string; imports: string[] }> {
  const doc = readFileSync(`${root}docs/architecture.md`, "utf8");
  const section = doc.split("\n## Areas\n")[1]?.split("\n## ")[0] ?? "";
  const rows = new Map<string, { role: string; imports: string[] }>();
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    const area = /^`([^`]+)`$/.exec(cells[1] ?? "")?.[1];
    if (!area) continue;
    const imports =
      cells[3] === "—" ? [] : [...(cells[3] ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
    rows.set(area, { role: cells[2] ?? "", imports });
  }
  return rows;
}

describe("docs/architecture.md and the dependency rule", () => {
  it("map the same areas, each with the same role and the same imports", () => {
    const documented = documentedAreas();
    expect([...documented.keys()].sort()).toEqual(Object.keys(AREAS).sort());
    for (const [area, { role, imports }] of Object.entries(AREAS)) {
      expect(documented.get(area)?.role, area).toBe(role);
      expect(documented.get(area)?.imports.sort(), area).toEqual([...imports].sort());
    }
  });

  it("cover every folder of lib/ and lib/dev/, and the shared root modules", () => {
    const entries = readdirSync(`${root}lib`, { withFileTypes: true });
    const folders = entries.filter((e) => e.isDirectory() && e.name !== "dev").map((e) => `lib/${e.name}`);
    const dev = readdirSync(`${root}lib/dev`, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => `lib/dev/${e.name}`);
    const modules = entries
      .filter((e) => e.isFile() && e.name.endsWith(".ts"))
      .map((e) => `lib/${e.name.slice(0, -3)}`);
    for (const area of [...folders, ...dev, ...modules]) expect(Object.keys(AREAS), area).toContain(area);
    // A file directly in lib/dev would belong to no area, and the rule would not check it.
    const devFiles = readdirSync(`${root}lib/dev`, { withFileTypes: true }).filter((e) => e.isFile());
    expect(devFiles.map((e) => `lib/dev/${e.name}`)).toEqual([]);
  });

  it("let no production area import a development tool, and have no cycle", () => {
    for (const [area, { imports, production }] of Object.entries(AREAS)) {
      for (const target of imports) {
        expect(AREAS[target], `${area} imports unknown area ${target}`).toBeDefined();
        if (production) expect(AREAS[target]?.production, `${area} → ${target}`).toBe(true);
      }
    }
    // Depth-first search for a back edge.
    const state = new Map<string, "open" | "done">();
    const visit = (area: string, path: string[]): void => {
      if (state.get(area) === "done") return;
      if (state.get(area) === "open") throw new Error(`area cycle: ${[...path, area].join(" → ")}`);
      state.set(area, "open");
      for (const next of AREAS[area]?.imports ?? []) visit(next, [...path, area]);
      state.set(area, "done");
    };
    for (const area of Object.keys(AREAS)) visit(area, []);
  });
});
