// The compiled CLI: lib/dev/cli/main.ts (and everything it imports from lib/, the local runtime
// included) bundled by esbuild into plain JavaScript under dist/cli/<fingerprint>/, one chunk per
// lazily loaded command, npm packages left as imports. `npm ci` builds it (`prepare`); when it is
// missing or older than its sources (a pull, an edit, `npm ci --ignore-scripts`), bin/mailstream.js
// builds it on first use. dist/cli/current.json names the current build and every source file it
// was made from, with size and modification time: a start compares them (a few milliseconds), so
// the compiled code is never stale.
//
// Run as a script (`node bin/build-cli.js`) it builds when stale and prints where.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Where builds go; `dist` in the options below puts them elsewhere (tests). */
export const DIST = join(ROOT, "dist", "cli");
const ENTRY = "lib/dev/cli/main.ts";
/** Builds other than the current one are removed once this old: a running command may still load chunks of its own. */
const KEEP_OLD_BUILDS_MS = 24 * 3600 * 1000;

/** `size:mtime` of a file, or undefined when it is gone. */
function stamp(file) {
  try {
    const s = statSync(join(ROOT, file));
    return `${s.size}:${Math.trunc(s.mtimeMs)}`;
  } catch {
    return undefined;
  }
}

/** Every file under a folder of the repository, as repository-relative `/`-separated paths. */
function sourceFiles(folder) {
  const out = [];
  for (const e of readdirSync(join(ROOT, folder), { withFileTypes: true })) {
    const path = `${folder}/${e.name}`;
    if (e.isDirectory()) out.push(...sourceFiles(path));
    else if (e.isFile()) out.push(path);
  }
  return out;
}

function readCurrent(dist) {
  try {
    return JSON.parse(readFileSync(join(dist, "current.json"), "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The compiled entry (a file: URL) when the current build matches its sources, else undefined.
 * Also undefined when the build was made for another entry or format.
 */
export function compiledEntry({ dist = DIST } = {}) {
  const current = readCurrent(dist);
  if (current?.format !== 1 || typeof current.inputs !== "object") return undefined;
  for (const [file, expected] of Object.entries(current.inputs)) {
    if (stamp(file) !== expected) return undefined;
  }
  return pathToFileURL(join(dist, current.dir, "main.js")).href;
}

/** Removes builds that are neither current nor recent. */
function pruneOldBuilds(dist, keep) {
  let entries = [];
  try {
    entries = readdirSync(dist, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.isDirectory() || e.name === keep) continue;
    const dir = join(dist, e.name);
    try {
      if (Date.now() - statSync(dir).mtimeMs > KEEP_OLD_BUILDS_MS)
        rmSync(dir, { recursive: true, force: true });
    } catch {
      // Another process removed it first.
    }
  }
}

/**
 * Bundles the CLI with esbuild. Returns the compiled entry's URL, or undefined when esbuild is
 * not installed (`npm ci --omit=dev`): the caller then runs the TypeScript through tsx.
 */
export async function buildCli({ dist = DIST } = {}) {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    return undefined;
  }
  mkdirSync(dist, { recursive: true });
  // Stamped before the build: a source edited while esbuild reads it keeps its old stamp here,
  // so the next start sees the difference and builds again.
  const before = new Map(sourceFiles("lib").map((file) => [file, stamp(file)]));
  before.set("bin/build-cli.js", stamp("bin/build-cli.js"));
  const staging = join(dist, `.tmp-${process.pid}-${Date.now()}`);
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { main: ENTRY },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node22",
    packages: "external",
    outdir: staging,
    sourcemap: "linked",
    metafile: true,
    logLevel: "error",
    chunkNames: "chunks/[name]-[hash]",
  });
  // Every source the bundle read, with its stamp from before the build.
  const inputs = { "bin/build-cli.js": before.get("bin/build-cli.js") };
  for (const file of Object.keys(result.metafile.inputs)) {
    if (file.startsWith("node_modules/")) continue;
    inputs[file] = before.get(file) ?? "unknown";
  }
  const dir = createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 16);
  const target = join(dist, dir);
  try {
    renameSync(staging, target);
  } catch {
    // The same build is already in place (another process built it at the same time).
    rmSync(staging, { recursive: true, force: true });
  }
  const current = join(dist, "current.json");
  const pointer = `${current}.tmp-${process.pid}`;
  writeFileSync(pointer, `${JSON.stringify({ format: 1, dir, entry: ENTRY, inputs }, null, 1)}\n`);
  renameSync(pointer, current);
  pruneOldBuilds(dist, dir);
  return pathToFileURL(join(target, "main.js")).href;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const fresh = compiledEntry();
  const url = fresh ?? (await buildCli());
  if (!url) {
    process.stderr.write("mailstream: esbuild is not installed; the CLI will run from TypeScript (tsx)\n");
  } else {
    const where = relative(process.cwd(), fileURLToPath(url));
    process.stderr.write(`mailstream: compiled CLI ${fresh ? "up to date" : "built"}: ${where}\n`);
  }
}
