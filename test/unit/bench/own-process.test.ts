import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inItsOwnProcess } from "../../../bench/own-process.js";

const dir = mkdtempSync(join(tmpdir(), "own-process-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A script that writes its arguments to `--out=FILE`, or exits with `--exit=N` before writing. */
function script(): string {
  const path = join(dir, "child.mjs");
  writeFileSync(
    path,
    `import { writeFileSync } from "node:fs";
const arg = (n) => process.argv.find((a) => a.startsWith("--" + n + "="))?.slice(n.length + 3);
if (arg("exit")) process.exit(Number(arg("exit")));
writeFileSync(arg("out"), JSON.stringify({ args: process.argv.slice(2).filter((a) => !a.startsWith("--out=")), pid: process.pid }));
`,
  );
  return path;
}

describe("a bench script in a process of its own", () => {
  it("passes its arguments and reads back the figures it wrote, from another process", async () => {
    const figures = await inItsOwnProcess<{ args: string[]; pid: number }>(script(), ["--endpoints={}"]);
    expect(figures.args).toEqual(["--endpoints={}"]);
    expect(figures.pid).not.toBe(process.pid);
  });

  it("fails with the script's exit code when it does not end well", async () => {
    const path = script();
    await expect(inItsOwnProcess(path, ["--exit=3"])).rejects.toThrow(
      `${path}: expected exit 0, found exit 3`,
    );
  });
});
