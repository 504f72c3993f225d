/**
 * Recipients' addresses from a received message's transport headers (PidTagTransportMessageHeaders,
 * the header block as the message arrived).
 *
 * Why here: in content mode fidelity a message's metadata comes from the properties item delta
 * expands. The recipient table, which holds every recipient's address, is only inside the export
 * stream (opaque to clients), and PidTagDisplayTo/Cc/Bcc hold display names only; of a message's
 * own properties only the transport headers carry the To and Cc addresses. Messages that did not
 * arrive through transport (drafts, the mailbox's own sent items) have none: their recipients stay
 * names only. Bcc never appears in received headers.
 */
import libmime from "libmime";
import addressparser from "nodemailer/lib/addressparser";

export interface HeaderAddress {
  name: string;
  address: string;
}

export interface HeaderRecipients {
  to: HeaderAddress[];
  cc: HeaderAddress[];
}

/**
 * The To and Cc addresses of a header block (folded lines, encoded words and groups as RFC 5322
 * allows); `undefined` when there is no block or it names no recipient with an address. Entries
 * without an address (`undisclosed-recipients:;`) are left out.
 */
export function recipientsFromTransportHeaders(block: string | undefined): HeaderRecipients | undefined {
  if (!block) return undefined;
  const headers = libmime.decodeHeaders(block);
  const field = (name: string): HeaderAddress[] =>
    (headers[name] ?? []).flatMap((value) =>
      addressparser(String(value), { flatten: true })
        .filter((a) => typeof a.address === "string" && a.address.includes("@"))
        .map((a) => ({ name: decodeName(a.name ?? ""), address: a.address ?? "" })),
    );
  const to = field("to");
  const cc = field("cc");
  return to.length + cc.length > 0 ? { to, cc } : undefined;
}

function decodeName(name: string): string {
  try {
    return libmime.decodeWords(name).trim();
  } catch {
    // An encoded word in a charset libmime does not know: the raw text is still a name to find.
    return name.trim();
  }
}
