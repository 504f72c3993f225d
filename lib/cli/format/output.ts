/**
 * Where a command writes: process.stdout/stderr in the program, a collector in tests. Commands
 * take an {@link CommandIO} instead of touching the process, so tests run them in process.
 */
export interface OutputSink {
  write(chunk: string | Uint8Array): unknown;
}

export interface CommandIO {
  /** Results (tables, JSON, message bytes). */
  out: OutputSink;
  /** Warnings (damaged catalog lines) and live progress. */
  err: OutputSink;
}

export const processIO: CommandIO = { out: process.stdout, err: process.stderr };

/** An {@link OutputSink} that keeps what is written, for tests and for capturing. */
export interface CollectedOutput extends OutputSink {
  bytes(): Buffer;
  text(): string;
}

export function collectOutput(): CollectedOutput {
  const chunks: Buffer[] = [];
  return {
    write(chunk) {
      chunks.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk));
      return true;
    },
    bytes: () => Buffer.concat(chunks),
    text: () => Buffer.concat(chunks).toString("utf8"),
  };
}

export function writeJson(out: OutputSink, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Lays rows out in columns (left-aligned, two spaces apart); the last column is not padded. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return `${all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** `2026-11-29 05:00` (UTC) from an ISO time; the input when it is not one. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return "-";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toISOString().slice(0, 16).replace("T", " ");
}

/** Cuts text to at most `max` characters, marking the cut with `…`. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** Prints damaged catalog lines as warnings (with their key and line) and returns how many. */
export function reportCatalogErrors(err: OutputSink, errors: ReadonlyArray<{ message: string }>): number {
  for (const e of errors) err.write(`mailstream: warning: ${e.message} (line skipped)\n`);
  return errors.length;
}
