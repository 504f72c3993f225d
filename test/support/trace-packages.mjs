// Loaded with `node --import` into a mailstream process: prints each npm package the process
// loads, once, as `package <name>` on stderr (test/unit/cli/compiled-cli.test.ts).
import { registerHooks } from "node:module";

const seen = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(result.url);
    if (m && !seen.has(m[1])) {
      seen.add(m[1]);
      process.stderr.write(`package ${m[1]}\n`);
    }
    return result;
  },
});
