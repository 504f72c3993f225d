/** How a message's catalog metadata reads in a listing. */

interface Address {
  emailAddress?: { name?: string; address?: string };
}

/** `Name <address>` (or whichever part is known) of one Graph recipient object. */
export function addressText(value: unknown): string {
  const a = (value as Address | undefined)?.emailAddress;
  if (!a) return "";
  if (a.name && a.address && a.name !== a.address) return `${a.name} <${a.address}>`;
  return a.address ?? a.name ?? "";
}

/** The sender as a listing shows it: the address (names vary, addresses identify). */
export function senderText(meta: Record<string, unknown>): string {
  const a = (meta.from as Address | undefined)?.emailAddress;
  return a?.address ?? a?.name ?? "";
}
