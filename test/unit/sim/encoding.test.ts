import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import {
  base64Body,
  encodeHeaderWords,
  encodeIso2022JpWord,
  encodeLatin1Word,
  encodeText,
  quotedPrintable,
} from "../../../lib/dev/sim/tenant/encoding.js";

async function decodedSubject(encoded: string): Promise<string | undefined> {
  return (await simpleParser(Buffer.from(`Subject: ${encoded}\r\n\r\n.\r\n`, "latin1"))).subject;
}

describe("encoding", () => {
  it("encodes the legacy charsets byte for byte", () => {
    expect(encodeText("Grüße", "iso-8859-1")).toEqual(Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]));
    expect(encodeText("5 € – “x”", "windows-1252")).toEqual(
      Buffer.from([0x35, 0x20, 0x80, 0x20, 0x96, 0x20, 0x93, 0x78, 0x94]),
    );
    expect(encodeText("会議", "shift_jis")).toEqual(Buffer.from([0x89, 0xef, 0x8b, 0x63]));
    // ESC $ B <JIS 0x3271 0x3544> ESC ( B (the JIS X 0208 codes of 会 and 議)
    expect(encodeText("会議", "iso-2022-jp")).toEqual(
      Buffer.from([0x1b, 0x24, 0x42, 0x32, 0x71, 0x35, 0x44, 0x1b, 0x28, 0x42]),
    );
    expect(() => encodeText("€", "iso-8859-1")).toThrow(RangeError);
    expect(() => encodeText("Ł", "windows-1252")).toThrow(RangeError);
  });

  it("writes quoted-printable lines of at most 76 characters that keep hard line breaks", () => {
    const text = `${"Grüße, ".repeat(30)}end \r\nsecond=line\t\r\n`;
    const qp = quotedPrintable(Buffer.from(text, "utf8"));
    for (const line of qp.split("\r\n")) expect(line.length).toBeLessThanOrEqual(76);
    expect(qp).toContain("Gr=C3=BC=C3=9Fe");
    expect(qp).toContain("end=20\r\nsecond=3Dline=09\r\n");
    // Undo soft breaks and escapes: the original bytes come back.
    const decoded = Buffer.from(
      qp
        .replace(/=\r\n/g, "")
        .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
      "latin1",
    );
    expect(decoded.toString("utf8")).toBe(text);
  });

  it("wraps base64 bodies at 76 characters with CRLF", () => {
    const body = base64Body(Buffer.alloc(200, 7));
    const lines = body.split("\r\n");
    expect(lines.at(-1)).toBe("");
    expect(lines.slice(0, -2).every((l) => l.length === 76)).toBe(true);
    expect(Buffer.from(lines.join(""), "base64")).toEqual(Buffer.alloc(200, 7));
  });

  it("produces RFC 2047 words within 75 characters that decode back", async () => {
    const long = "项目进度更新 📈 — Überprüfung der Kosten für das nächste Quartal, 会議の議事録";
    const encoded = encodeHeaderWords(long);
    for (const word of encoded.split("\r\n ")) expect(word.length).toBeLessThanOrEqual(75);
    expect(await decodedSubject(encoded)).toBe(long);
    expect(encodeHeaderWords("plain ascii")).toBe("plain ascii");
    expect(await decodedSubject(encodeLatin1Word("Réunion d'équipe"))).toBe("Réunion d'équipe");
    expect(await decodedSubject(encodeIso2022JpWord("来週の予定について"))).toBe("来週の予定について");
  });
});
