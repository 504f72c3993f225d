/**
 * Byte-level encodings that generated MIME needs: charsets beyond UTF-8, quoted-printable,
 * base64 bodies and RFC 2047 encoded words. Only what the generator uses, written out because
 * Node's TextEncoder knows UTF-8 alone.
 */

/** Charsets the generator writes bodies in. */
export type Charset = "utf-8" | "iso-8859-1" | "windows-1252" | "iso-2022-jp" | "shift_jis";

/** windows-1252 code points 0x80–0x9F that differ from ISO-8859-1 (typographic punctuation, €). */
const WINDOWS_1252_EXTRAS: Record<string, number> = {
  "€": 0x80,
  "‚": 0x82,
  "„": 0x84,
  "…": 0x85,
  "‘": 0x91,
  "’": 0x92,
  "“": 0x93,
  "”": 0x94,
  "•": 0x95,
  "–": 0x96,
  "—": 0x97,
  "™": 0x99,
};

/** JIS X 0208 code (two bytes 0x21–0x7E each) of every character, built once from Node's EUC-JP decoder. */
let jisTable: Map<string, [number, number]> | undefined;

function jisCode(char: string): [number, number] {
  if (!jisTable) {
    jisTable = new Map();
    const decoder = new TextDecoder("euc-jp");
    for (let hi = 0xa1; hi <= 0xfe; hi++) {
      for (let lo = 0xa1; lo <= 0xfe; lo++) {
        const decoded = decoder.decode(Uint8Array.of(hi, lo));
        if (decoded.length === 1 && decoded !== "\ufffd" && !jisTable.has(decoded))
          jisTable.set(decoded, [hi - 0x80, lo - 0x80]);
      }
    }
  }
  const code = jisTable.get(char);
  if (!code)
    throw new RangeError(
      `encodeText: expected a JIS X 0208 character, found U+${char.codePointAt(0)?.toString(16)}`,
    );
  return code;
}

/** Shift_JIS bytes of a JIS X 0208 code (the standard arithmetic mapping). */
function jisToShiftJis([j1, j2]: [number, number]): [number, number] {
  const s1 = ((j1 + 1) >> 1) + (j1 <= 0x5e ? 0x70 : 0xb0);
  const s2 = j1 % 2 === 1 ? j2 + (j2 >= 0x60 ? 0x20 : 0x1f) : j2 + 0x7e;
  return [s1, s2];
}

/** Encodes text in a charset; throws RangeError for characters the charset cannot hold. */
export function encodeText(text: string, charset: Charset): Buffer {
  switch (charset) {
    case "utf-8":
      return Buffer.from(text, "utf8");
    case "iso-8859-1":
    case "windows-1252": {
      const out: number[] = [];
      for (const ch of text) {
        const extra = charset === "windows-1252" ? WINDOWS_1252_EXTRAS[ch] : undefined;
        const cp = ch.codePointAt(0) ?? 0;
        if (extra !== undefined) out.push(extra);
        else if (cp <= 0xff && !(charset === "windows-1252" && cp >= 0x80 && cp <= 0x9f)) out.push(cp);
        else throw new RangeError(`encodeText: expected a ${charset} character, found U+${cp.toString(16)}`);
      }
      return Buffer.from(out);
    }
    case "shift_jis": {
      const out: number[] = [];
      for (const ch of text) {
        const cp = ch.codePointAt(0) ?? 0;
        if (cp < 0x80) out.push(cp);
        else out.push(...jisToShiftJis(jisCode(ch)));
      }
      return Buffer.from(out);
    }
    case "iso-2022-jp": {
      // ESC $ B switches to JIS X 0208, ESC ( B back to ASCII; every line must end in ASCII mode.
      const out: number[] = [];
      let kanji = false;
      for (const ch of text) {
        const cp = ch.codePointAt(0) ?? 0;
        if (cp < 0x80) {
          if (kanji) out.push(0x1b, 0x28, 0x42);
          kanji = false;
          out.push(cp);
        } else {
          if (!kanji) out.push(0x1b, 0x24, 0x42);
          kanji = true;
          out.push(...jisCode(ch));
        }
      }
      if (kanji) out.push(0x1b, 0x28, 0x42);
      return Buffer.from(out);
    }
  }
}

/** Base64 of `data` in lines of 76 characters, each ended by CRLF. */
export function base64Body(data: Buffer): string {
  // Lines joined once: several times faster than a regex or concatenating piece by piece.
  const b64 = data.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  lines.push("");
  return lines.join("\r\n");
}

/**
 * Quoted-printable (RFC 2045 §6.7) of text already encoded in its charset, with CRLF line
 * breaks kept as hard breaks and soft breaks keeping lines within 76 characters.
 */
export function quotedPrintable(data: Buffer): string {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i <= data.length; i++) {
    const atEnd = i === data.length;
    if (atEnd || (data[i] === 0x0d && data[i + 1] === 0x0a)) {
      lines.push(qpLine(data.subarray(start, i)));
      if (!atEnd) {
        i++;
        start = i + 1;
      }
    }
  }
  return lines.join("\r\n");
}

function qpLine(line: Buffer): string {
  let out = "";
  let width = 0;
  for (let i = 0; i < line.length; i++) {
    const b = line[i] as number;
    const last = i === line.length - 1;
    const literal = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last);
    const token = literal ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
    if (width + token.length > 75) {
      out += "=\r\n";
      width = 0;
    }
    out += token;
    width += token.length;
  }
  return out;
}

/**
 * A header value as RFC 2047 encoded words where it is not plain ASCII: UTF-8 "B" words split on
 * character boundaries so each word stays within 75 characters, joined by folding whitespace.
 */
export function encodeHeaderWords(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const words: string[] = [];
  let chunk = "";
  for (const ch of text) {
    if (Buffer.byteLength(chunk + ch, "utf8") > 45) {
      words.push(chunk);
      chunk = "";
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?utf-8?B?${Buffer.from(w, "utf8").toString("base64")}?=`).join("\r\n ");
}

/** An ISO-8859-1 "Q" encoded word (short latin texts, as older clients send them). */
export function encodeLatin1Word(text: string): string {
  const bytes = encodeText(text, "iso-8859-1");
  let out = "";
  for (const b of bytes) {
    if (b === 32) out += "_";
    else if ((b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122))
      out += String.fromCharCode(b);
    else out += `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return `=?iso-8859-1?Q?${out}?=`;
}

/** An ISO-2022-JP "B" encoded word (how Japanese mail clients encode subjects). */
export function encodeIso2022JpWord(text: string): string {
  return `=?ISO-2022-JP?B?${encodeText(text, "iso-2022-jp").toString("base64")}?=`;
}
