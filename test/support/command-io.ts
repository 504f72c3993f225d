/** A CLI command's output captured for a test: `io` goes to the command, `out`/`err` are read back. */
import { type CommandIO, collectOutput } from "../../lib/cli/format/output.js";

export function captureIO() {
  const out = collectOutput();
  const err = collectOutput();
  return { out, err, io: { out, err } satisfies CommandIO };
}
