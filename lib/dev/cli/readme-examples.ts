/**
 * The README's examples, made from a real run so that they cannot drift from what the commands
 * print. Each block between `<!-- example -->` and `<!-- /example -->` is a console session:
 * lines `$ npx mailstream …` are run, in order, in a fresh folder whose `.mailstream/` is the data
 * folder (the first ones are `run`s of the demo tenant), and every other line of the block is
 * replaced by what the commands printed (stdout, then stderr without progress lines). Job ids in
 * the commands are those of the README's own runs, replaced by the new runs' ids in order.
 *
 * `npm run readme:examples` rewrites README.md; test/integration/cli/readme-examples.test.ts
 * makes the same run and fails when the README differs from it, modulo ids, times and durations
 * ({@link normalizeExample}).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const OPEN = "<!-- example -->";
const CLOSE = "<!-- /example -->";
const PROMPT = "$ npx mailstream ";
const JOB_ID = /\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z(?:\.\d{3})?-[0-9a-f]{8}/g;
/** Progress lines on stderr (live view without a terminal, export/verify counters): not shown. */
const PROGRESS =
  /^(\[[^\]]+\] (planning|running|finalizing|complete|partial|failed) |(export|verify|restore|plan): \d+\/\d+$)/;

export interface ExampleRunOptions {
  /** The `mailstream` launcher. Default bin/mailstream.js of this repository. */
  bin?: string;
  /** Environment of the commands. Default: this process's, without MAILSTREAM_* and AWS_*. */
  env?: Record<string, string>;
}

/** Splits a command line as a shell would for these examples (words, "…" and '…' quoting). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** The command of a `$ npx mailstream …` line, without a trailing `# comment`. */
function commandOf(line: string): string[] {
  const text = line.slice(PROMPT.length).replace(/\s+#.*$/, "");
  return shellWords(text);
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("MAILSTREAM_") && !k.startsWith("AWS_")) env[k] = v;
  }
  return env;
}

/** Job ids in the order they first appear. */
function jobIdsIn(text: string): string[] {
  return [...new Set(text.match(JOB_ID) ?? [])];
}

/**
 * Runs every example block of `readme` and returns the README with fresh outputs (and the new
 * runs' job ids in the commands).
 */
export function regenerateExamples(readme: string, options: ExampleRunOptions = {}): string {
  const bin = options.bin ?? fileURLToPath(new URL("../../../bin/mailstream.js", import.meta.url));
  const env = options.env ?? cleanEnv();
  const cwd = mkdtempSync(join(tmpdir(), "readme-examples-"));
  const oldIds = jobIdsIn(
    readme
      .split(OPEN)
      .slice(1)
      .map((b) => b.split(CLOSE)[0])
      .join("\n"),
  );
  const newIds: string[] = [];
  const substitute = (line: string) =>
    line.replace(JOB_ID, (id) => {
      const i = oldIds.indexOf(id);
      return i >= 0 && newIds[i] ? newIds[i]! : id;
    });
  try {
    const out: string[] = [];
    let inBlock = false;
    for (const line of readme.split("\n")) {
      if (line.trim() === OPEN) inBlock = true;
      else if (line.trim() === CLOSE) inBlock = false;
      if (!inBlock || !line.startsWith(PROMPT)) {
        // Inside a block, output lines are replaced by what the commands print (fences stay).
        if (!inBlock || line.startsWith("```") || line.trim() === OPEN) out.push(line);
        continue;
      }
      const command = substitute(line);
      out.push(command);
      const args = commandOf(command);
      const r = spawnSync(process.execPath, [bin, ...args], {
        cwd,
        env,
        encoding: "utf8",
        maxBuffer: 64 << 20,
      });
      if (r.error) throw r.error;
      const stdout = r.stdout.replace(/\n+$/, "");
      if (args[0] === "run") {
        const id = /job (\S+) /.exec(stdout)?.[1];
        if (!id)
          throw new Error(`README example ${command}: expected a job summary, found: ${stdout}${r.stderr}`);
        newIds.push(id);
      }
      const stderr =
        args[0] === "run"
          ? []
          : r.stderr
              .split("\n")
              .filter((l) => l !== "" && !PROGRESS.test(l))
              .map((l) => l.trimEnd());
      // A leading empty line of the run summary is not shown.
      const lines = [...(stdout ? stdout.replace(/^\n+/, "").split("\n") : []), ...stderr];
      out.push(...lines.map((l) => l.trimEnd()));
    }
    return out.join("\n");
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/**
 * An example as compared: job ids numbered by first appearance, times of those jobs' days,
 * ISO times and durations replaced, and column padding collapsed (a shorter or longer time or
 * size moves the columns after it).
 */
export function normalizeExample(text: string): string {
  const ids = jobIdsIn(text);
  let out = text;
  ids.forEach((id, i) => {
    out = out.replaceAll(id, `<job${i + 1}>`);
  });
  for (const day of new Set(ids.map((id) => id.slice(0, 10)))) {
    out = out.replace(new RegExp(`${day}[ T]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?Z?)?`, "g"), "<time>");
  }
  return out
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, "<time>")
    .replace(/\b\d+\.\d+ s\b/g, "<n> s")
    .replace(/ {2,}/g, "  ")
    .replace(/[ \t]+$/gm, "");
}

/** The example blocks of a README, normalized, for comparison. */
export function exampleBlocks(readme: string): string[] {
  return readme
    .split(OPEN)
    .slice(1)
    .map((b) => normalizeExample(b.split(CLOSE)[0]!));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = fileURLToPath(new URL("../../../README.md", import.meta.url));
  const updated = regenerateExamples(readFileSync(file, "utf8"));
  writeFileSync(file, updated);
  process.stderr.write(`README.md: ${exampleBlocks(updated).length} example blocks regenerated\n`);
}
