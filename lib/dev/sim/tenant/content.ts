/**
 * The words the generator writes with: people, subjects, body text and folder names, in several
 * languages and charsets, including the awkward names real mailboxes have.
 */
import type { Charset } from "./encoding.js";
import type { Random } from "./random.js";

export const FIRST_NAMES = [
  "Adele",
  "Alex",
  "Allan",
  "Diego",
  "Grady",
  "Henrietta",
  "Isaiah",
  "Johanna",
  "Joni",
  "Lee",
  "Lidia",
  "Lynne",
  "Megan",
  "Miriam",
  "Nestor",
  "Patti",
  "Pradeep",
  "Björn",
  "Zoë",
  "José",
  "François",
  "Łukasz",
  "Søren",
  "Chloé",
  "Ana",
  "Yuki",
  "Wei",
  "Priya",
  "Olumide",
  "Ingrid",
];
export const LAST_NAMES = [
  "Vance",
  "Wilber",
  "Deyoung",
  "Soto",
  "Archie",
  "Cueva",
  "Langer",
  "Lauridsen",
  "Sherman",
  "Gu",
  "Holloway",
  "Robinson",
  "Bowen",
  "Graham",
  "Wilke",
  "Fernandez",
  "Gupta",
  "Müller",
  "Dupont",
  "Nørgaard",
  "García",
  "Kowalski",
  "O'Brien",
  "Tanaka",
  "Zhang",
  "Okafor",
  "Svensson",
  "Rossi",
  "Nguyen",
  "Schäfer",
];
/** Display names in Japanese for a few accounts (encoded words in headers). */
export const JAPANESE_NAMES = ["山田 太郎", "佐藤 花子", "鈴木 一郎", "田中 美咲"];

export const EXTERNAL_DOMAINS = [
  "fabrikam.example",
  "northwind.example",
  "adatum.example",
  "tailspin.example",
  "wingtip.example",
];
export const GROUPS = ["All Staff", "Sales", "Engineering", "Finance", "Executives", "Marketing"];

const TOPICS = [
  "Quarterly report",
  "Budget review",
  "Project kickoff",
  "Team offsite",
  "Invoice",
  "Contract renewal",
  "Customer escalation",
  "Release notes",
  "Hiring plan",
  "Security training",
  "Weekly sync",
  "Travel booking",
  "Expense approval",
  "Roadmap draft",
  "Board meeting",
  "Office move",
  "Newsletter",
  "Vendor evaluation",
];
const LATIN_SUBJECTS = [
  "Réunion d'équipe à 14h",
  "Grüße aus München",
  "Café & croissants — vendredi",
  "Año nuevo: planificación",
  "Überprüfung der Kosten",
  "Déjeuner d’équipe",
  "Niño’s birthday “party”",
  "Søknad om ferie",
];
const UNICODE_SUBJECTS = [
  "🎉 Launch day!",
  "Встреча в понедельник",
  "Ελέγξτε το έγγραφο",
  "회의 일정 변경",
  "项目进度更新 📈",
  "مراجعة العقد",
];
const JAPANESE_SUBJECTS = ["会議の議事録", "来週の予定について", "見積書の送付", "お疲れ様です"];

const SENTENCES = [
  "Please find the latest numbers below.",
  "Let me know if you have any questions before Friday.",
  "I have attached the document we discussed in the meeting.",
  "Could you review this and send me your comments?",
  "Thanks for the quick turnaround on this.",
  "We need to finalise the plan by the end of the month.",
  "The customer asked for an update on the delivery date.",
  "I moved the meeting to Thursday afternoon to fit everyone's calendar.",
  "Here are the action items from today's call.",
  "The budget has been approved with minor changes.",
];
const LATIN_SENTENCES = [
  "Merci pour votre réponse rapide, à bientôt.",
  "Die Unterlagen für die Besprechung sind fertig - schöne Grüße.",
  "¿Podrías revisar el presupuesto antes del jueves?",
  "Les coûts ont été vérifiés ; tout est conforme.",
];
const WINDOWS_1252_SENTENCES = ["The “final” version costs 1 200 € – see attached…", "It’s done — thanks!"];
const UNICODE_SENTENCES = [
  "Отличная работа, спасибо!",
  "祝你一切顺利。",
  "Great job team 🚀🎉",
  "Σας ευχαριστώ πολύ.",
];
const JAPANESE_SENTENCES = [
  "いつもお世話になっております。",
  "会議の資料を送付いたします。",
  "ご確認のほどよろしくお願いいたします。",
];

/** A language/charset pairing whose texts the charset can encode. */
export interface TextStyle {
  charset: Charset;
  subjectEncoding: "utf-8" | "iso-8859-1" | "iso-2022-jp";
  subject(rng: Random): string;
  sentence(rng: Random): string;
}

const ENGLISH: TextStyle = {
  charset: "utf-8",
  subjectEncoding: "utf-8",
  subject: (rng) => `${rng.pick(TOPICS)}${rng.chance(0.4) ? ` ${rng.int(2019, 2025)}` : ""}`,
  sentence: (rng) => rng.pick(SENTENCES),
};

export const TEXT_STYLES: Array<{ weight: number; style: TextStyle }> = [
  { weight: 70, style: ENGLISH },
  {
    weight: 10,
    style: {
      charset: "iso-8859-1",
      subjectEncoding: "iso-8859-1",
      subject: (rng) => rng.pick(LATIN_SUBJECTS).replace(/[—’“”]/g, "-"),
      sentence: (rng) => rng.pick(LATIN_SENTENCES),
    },
  },
  {
    weight: 6,
    style: {
      charset: "windows-1252",
      subjectEncoding: "utf-8",
      subject: (rng) => rng.pick(LATIN_SUBJECTS),
      sentence: (rng) => (rng.chance(0.5) ? rng.pick(WINDOWS_1252_SENTENCES) : rng.pick(SENTENCES)),
    },
  },
  {
    weight: 8,
    style: {
      charset: "utf-8",
      subjectEncoding: "utf-8",
      subject: (rng) => rng.pick(UNICODE_SUBJECTS),
      sentence: (rng) => (rng.chance(0.5) ? rng.pick(UNICODE_SENTENCES) : rng.pick(SENTENCES)),
    },
  },
  {
    weight: 3,
    style: {
      charset: "iso-2022-jp",
      subjectEncoding: "iso-2022-jp",
      subject: (rng) => rng.pick(JAPANESE_SUBJECTS),
      sentence: (rng) => rng.pick(JAPANESE_SENTENCES),
    },
  },
  {
    weight: 3,
    style: {
      charset: "shift_jis",
      subjectEncoding: "utf-8",
      subject: (rng) => rng.pick(JAPANESE_SUBJECTS),
      sentence: (rng) => rng.pick(JAPANESE_SENTENCES),
    },
  },
];

export function pickTextStyle(rng: Random): TextStyle {
  return (TEXT_STYLES[rng.weightedIndex(TEXT_STYLES.map((s) => s.weight))] as (typeof TEXT_STYLES)[number])
    .style;
}

/** A body of `paragraphs` short paragraphs, lines joined by "\n" (the MIME builder makes them CRLF). */
export function bodyText(
  style: TextStyle,
  rng: Random,
  greeting: string,
  signature: string,
  paragraphs: number,
): string {
  const parts = [`${greeting},`];
  for (let p = 0; p < paragraphs; p++) {
    const n = rng.int(1, 4);
    const sentences: string[] = [];
    for (let i = 0; i < n; i++) sentences.push(style.sentence(rng));
    parts.push(sentences.join(" "));
  }
  parts.push(`Best regards,\n${signature}`);
  return parts.join("\n\n");
}

/** Names for user folders: ordinary ones and the awkward ones real mailboxes contain. */
export const FOLDER_NAMES = [
  "Projects",
  "Clients",
  "Receipts 🧾",
  "会議",
  "Q&A",
  "2023/2024",
  " Leading space",
  "Trailing space ",
  "Ünïcödé",
  "Archive (old)",
  "日本語フォルダ",
  "Réunions",
  "Newsletters",
  "Travel ✈️",
  "HR",
  "Invoices",
  "Personal",
  "Team A & B",
  "Годовой отчёт",
  "Follow-up",
  "Legal",
  "Vendors",
  "📁 Misc",
  "100% done",
  "a.b.c",
  "Tax#2024",
  `A very long folder name ${"that keeps going ".repeat(10).trim()}`,
];
