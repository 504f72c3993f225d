import stringWidth from "string-width";

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

/** Columns a text takes on a terminal: CJK and most emoji take two, combining marks none. */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

/** Pads text with spaces to a display width (never cuts). */
export function padToWidth(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - displayWidth(text)));
}

/**
 * Lays rows out in columns (left-aligned, two spaces apart) by display width, so that CJK and
 * emoji line up; the last column is not padded.
 */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => displayWidth(r[i] ?? ""))));
  return `${all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : padToWidth(cell, widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** `512 B`, `1.5 KiB`, `23 MiB`: binary units, one decimal below 10. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** `2026-11-29 05:00` (UTC) from an ISO time; the input when it is not one. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return "-";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toISOString().slice(0, 16).replace("T", " ");
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * Cuts text to at most `max` display columns, marking the cut with `…`; never splits a character
 * (a surrogate pair, an emoji sequence or a character with its combining marks).
 */
export function truncate(text: string, max: number): string {
  if (displayWidth(text) <= max) return text;
  let out = "";
  let width = 0;
  for (const { segment } of graphemes.segment(text)) {
    const w = displayWidth(segment);
    if (width + w > max - 1) break;
    out += segment;
    width += w;
  }
  return `${out}…`;
}

/**
 * Prints catalog damage as warnings (each with its key, and line when it is one line) and returns
 * how many: a damaged line is skipped, a truncated or altered part still gives its other lines.
 */
export function reportCatalogErrors(
  err: OutputSink,
  errors: ReadonlyArray<{ message: string; line?: number }>,
): number {
  for (const e of errors) {
    err.write(
      `mailstream: warning: ${e.message} (${e.line !== undefined ? "line skipped" : "its remaining lines used"})\n`,
    );
  }
  return errors.length;
}
