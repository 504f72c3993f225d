/**
 * The compiled CLI (bin/build-cli.js): a build is used only while every source it was made from
 * is unchanged, and a start loads only what its command needs (speed is measured in
 * bench/cli-start.ts, not here).
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, compiledEntry } from "../../../bin/build-cli.js";
import { cleanEnv, MAILSTREAM_BIN } from "../../support/cli-process.js";

const trace = fileURLToPath(new URL("../../support/trace-packages.mjs", import.meta.url));
let dist: string;
let archive: string;

beforeAll(async () => {
  dist = mkdtempSync(join(tmpdir(), "compiled-cli-"));
  archive = join(dist, "archive");
  cpSync(join(import.meta.dirname, "../../fixtures/archive-v1/archive"), archive, { recursive: true });
  // The starts traced below must not be the first one after an edit (which builds, with esbuild).
  if (!compiledEntry()) await buildCli();
});
afterAll(() => rmSync(dist, { recursive: true, force: true }));

describe("the compiled CLI", () => {
  it("is used while its sources are unchanged, and not once one of them differs", async () => {
    const built = await buildCli({ dist: join(dist, "build") });
    expect(built).toMatch(/^file:.*\/main\.js$/);
    expect(compiledEntry({ dist: join(dist, "build") })).toBe(built);

    const pointer = join(dist, "build", "current.json");
    const current = JSON.parse(readFileSync(pointer, "utf8")) as { inputs: Record<string, string> };
    expect(Object.keys(current.inputs)).toEqual(
      expect.arrayContaining(["lib/dev/cli/main.ts", "lib/cli/commands/jobs.ts", "lib/dev/local/runtime.ts"]),
    );
    // A source edited after the build (its size and time no longer what the build saw).
    const edited = { ...current.inputs, "lib/cli/commands/jobs.ts": "1:1" };
    writeFileSync(pointer, JSON.stringify({ ...current, inputs: edited }));
    expect(compiledEntry({ dist: join(dist, "build") })).toBeUndefined();
    // A source gone (deleted or renamed).
    writeFileSync(
      pointer,
      JSON.stringify({ ...current, inputs: { ...current.inputs, "lib/gone.ts": "1:1" } }),
    );
    expect(compiledEntry({ dist: join(dist, "build") })).toBeUndefined();
    writeFileSync(pointer, JSON.stringify(current));
    expect(compiledEntry({ dist: join(dist, "build") })).toBe(built);
  });

  function packagesLoaded(args: string[]): string[] {
    const r = spawnSync(process.execPath, ["--import", trace, MAILSTREAM_BIN, ...args], {
      env: cleanEnv(),
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    return [...r.stderr.matchAll(/^package (.+)$/gm)].map((m) => m[1]!).sort();
  }

  it("--help loads commander and no other package", () => {
    expect(packagesLoaded(["--help"])).toEqual(["commander"]);
  });

  it("jobs and ls on a local archive load no AWS SDK, MSAL, Graph client, mailparser or progress bars", () => {
    for (const args of [
      ["jobs", "-a", archive],
      ["ls", "-a", archive],
    ]) {
      const loaded = packagesLoaded(args);
      expect(loaded).toContain("zod");
      expect(
        loaded.filter((p) =>
          /^@aws-sdk\/|^@smithy\/|^@azure\/|^@microsoft\/|^mailparser$|^cli-progress$/.test(p),
        ),
      ).toEqual([]);
    }
  });
});
