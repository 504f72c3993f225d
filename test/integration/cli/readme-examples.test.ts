/**
 * The README's examples are what the commands print: a fresh run of the demo tenant (two backups,
 * then every `$ npx mailstream …` line of every example block) must give the README's example
 * blocks, modulo job ids, times and durations (lib/dev/cli/readme-examples.ts). When this fails after
 * a deliberate change of output, `npm run readme:examples` rewrites the examples.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exampleBlocks, normalizeExample, regenerateExamples } from "../../../lib/dev/cli/readme-examples.js";

const readme = readFileSync(join(import.meta.dirname, "../../../README.md"), "utf8");

describe("README examples", () => {
  it("normalizes only what differs between runs", () => {
    const a = normalizeExample(
      "job 2026-12-06T04-16-15Z-a643ffcf complete: makespan 11.7 s\n2026-12-06T04-16-15Z-a643ffcf  complete  2026-12-06 04:16  11.7 s\nreceived 2025-12-24 01:59",
    );
    expect(a).toBe(
      "job <job1> complete: makespan <n> s\n<job1>  complete  <time>  <n> s\nreceived 2025-12-24 01:59",
    );
  });

  it("are what the commands print on a fresh run of the demo tenant", () => {
    const blocks = exampleBlocks(readme);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(exampleBlocks(regenerateExamples(readme))).toEqual(blocks);
  }, 300_000);
});
