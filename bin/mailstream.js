#!/usr/bin/env node
// The `mailstream` command. The project is written in TypeScript and runs from source through
// tsx's loader, so there is no build step between a clone and a working CLI.
import { register } from "tsx/esm/api";

register();
await import("../lib/cli/main.ts");
