/**
 * mboxrd: one `From ` separator line per message, and every body line that starts with zero or
 * more `>` followed by `From ` gets one more `>`, so that un-quoting (remove one `>`) gives back
 * the exact bytes. Readers (mutt, Python's `mailbox`, Thunderbird) split on `\nFrom `.
 *
 * Line endings: MIME travels in CRLF (RFC 5322's canonical form, and what Exchange returns), but
 * an mbox file is a Unix text file. Readers such as GNU mailutils find neither the separators nor
 * the header values in CRLF entries, so exports write LF lines; reading back restores CRLF.
 */

const FROM_LINE = /^(>*From )/gm;
const QUOTED_FROM_LINE = /^>(>*From )/gm;

/** The `From ` separator line: sender and an asctime date (UTC), e.g. `From MAILER-DAEMON Thu Nov 29 05:00:00 2026`. */
export function mboxSeparator(sender: string | undefined, date: Date): string {
  const who = sender && /^[^\s@]+@[^\s@]+$/.test(sender) ? sender : "MAILER-DAEMON";
  const time = Number.isNaN(date.getTime()) ? new Date(0) : date;
  // toUTCString: "Thu, 09 Nov 2026 05:00:00 GMT" → asctime "Thu Nov  9 05:00:00 2026".
  const [day, dd, month, yyyy, hms] = time.toUTCString().replace(",", "").split(" ");
  return `From ${who} ${day} ${month} ${String(Number(dd)).padStart(2, " ")} ${hms} ${yyyy}\n`;
}

export interface MboxEntryOptions {
  /**
   * `lf` (what exports use): every CRLF of the message becomes LF, the mbox convention that
   * mail readers expect. `keep` (default): the message's bytes as they are.
   */
  lineEnding?: "lf" | "keep";
}

/** One mbox entry: separator, the quoted message, a newline if it lacks one, a blank line. */
export function mboxEntry(
  mime: Buffer,
  sender: string | undefined,
  date: Date,
  options: MboxEntryOptions = {},
): Buffer {
  const raw = mime.toString("latin1");
  const text = (options.lineEnding === "lf" ? raw.replace(/\r\n/g, "\n") : raw).replace(FROM_LINE, ">$1");
  const ending = text.endsWith("\n") ? "\n" : "\n\n";
  return Buffer.from(mboxSeparator(sender, date) + text + ending, "latin1");
}

export interface SplitMboxOptions {
  /**
   * `crlf` (default): every line of a message ends in CRLF, MIME's canonical form; this gives
   * back the exact bytes of every message whose lines all ended in CRLF, whichever
   * {@link MboxEntryOptions.lineEnding} wrote it. `keep`: the lines as the file has them.
   */
  lineEnding?: "crlf" | "keep";
}

/** Splits an mboxrd file back into the messages' bytes (reverse of {@link mboxEntry}). */
export function splitMbox(file: Buffer, options: SplitMboxOptions = {}): Buffer[] {
  const crlf = (options.lineEnding ?? "crlf") === "crlf";
  const text = file.toString("latin1");
  if (text.length === 0) return [];
  if (!text.startsWith("From ")) throw new Error("mbox: expected a `From ` line at the start");
  const parts = text.split(/\n(?=From )/);
  return parts.map((part, i) => {
    const body = part.slice(part.indexOf("\n") + 1);
    // Each entry ends with a blank line; the split consumed it except after the last entry.
    const trimmed = i === parts.length - 1 && body.endsWith("\n") ? body.slice(0, -1) : body;
    const unquoted = trimmed.replace(QUOTED_FROM_LINE, "$1");
    return Buffer.from(crlf ? unquoted.replace(/\r?\n/g, "\r\n") : unquoted, "latin1");
  });
}
