/**
 * `npx tsx bench/client-cpu.ts --items=6000`: the client's CPU per exported item, apart from the
 * service and the state table. The Graph gateway (graph client, request policy) is given a `fetch`
 * that answers in process: item delta pages of 100 mails (the metadata properties expanded, in
 * the service's spelling, transport headers included), then `exportItems` answers of 20 items
 * (`--item-bytes` of data each, base64). Each page's items get their metadata (itemMetadata) and
 * are exported in batches of 20; each answer's data is stored as a blob in a LocalObjectStore
 * (a fresh folder under the system's temp folder, removed at the end).
 *
 * Prints the process's CPU (event loop and libuv's thread pool, which does the file system's
 * work) and the main thread's alone (the event loop: what delays every other callback of a
 * harness), per item. Both are CPU time, so a loaded machine moves them far less than wall time;
 * run it alternately on two trees to compare them in the same minutes.
 */
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { storeBlob } from "../lib/archive/blobs.js";
import { LocalObjectStore } from "../lib/archive/local-store.js";
import { createGraphGateway } from "../lib/graph/client.js";
import { exportItems } from "../lib/graph/export-items.js";
import { itemDeltaPages } from "../lib/graph/item-delta.js";
import { ITEM_META_PROPERTIES, itemMetadata } from "../lib/graph/item-meta.js";

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const ITEMS = arg("items", 6000);
const ITEM_BYTES = arg("item-bytes", 6000);
const PAGE = 100;
const BATCH = 20;

/** CPU seconds of this process's main thread (Linux `/proc`, clock ticks of 10 ms). */
function mainThreadCpuSeconds(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const HEADERS =
  "Received: from mx\r\nTo: Ann <ann@example.com>, bob@example.com\r\n" +
  "Cc: =?utf-8?q?Cl=C3=A9o?= <cleo@example.com>\r\nSubject: hello\r\n";

/** The metadata properties as the service may spell them (type in lower case). */
function propertiesOf(i: number): Array<{ id: string; value: string }> {
  return Object.values(ITEM_META_PROPERTIES).map((id) => ({
    id: id.replace(/^(\w+)/, (type) => type.toLowerCase()),
    value: id.endsWith("0x007D") ? HEADERS : id.startsWith("Integer") ? "1" : `value ${i}`,
  }));
}

const answer = (body: unknown) =>
  new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });

let served = 0;
async function serviceFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const url = String(input);
  if (url.includes("/exportItems")) {
    const { itemIds } = JSON.parse(String(init?.body)) as { itemIds: string[] };
    return answer({
      value: itemIds.map((itemId) => ({
        itemId,
        changeKey: "ck",
        // Distinct bytes per item, so every blob is new to the archive.
        data: Buffer.alloc(ITEM_BYTES, itemId).toString("base64"),
      })),
    });
  }
  const first = served;
  served += PAGE;
  return answer({
    value: Array.from({ length: PAGE }, (_, k) => ({
      id: `item-${first + k}`,
      changeKey: "ck",
      type: "IPM.Note",
      size: ITEM_BYTES,
      singleValueExtendedProperties: propertiesOf(first + k),
    })),
    ...(served < ITEMS
      ? {
          "@odata.nextLink": `https://graph.test/v1.0/admin/exchange/mailboxes/m/folders/f/items/delta?$skiptoken=${served}`,
        }
      : {
          "@odata.deltaLink":
            "https://graph.test/v1.0/admin/exchange/mailboxes/m/folders/f/items/delta?$deltatoken=1",
        }),
  });
}

async function main(): Promise<void> {
  const gateway = createGraphGateway({
    tokens: { getToken: async () => "token", invalidate: () => {} },
    baseUrl: "https://graph.test/v1.0",
    policy: { fetch: serviceFetch },
  });
  const dir = join(tmpdir(), `mailstream-client-cpu-${process.pid}`);
  const store = new LocalObjectStore(dir);
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuSeconds();
  const wall0 = performance.now();
  let items = 0;
  let requests = 0;
  try {
    for await (const page of itemDeltaPages(gateway, "m", "f", { trafficKey: "m" })) {
      requests++;
      for (const item of page.upserts) itemMetadata(item);
      const ids = page.upserts.map((u) => u.id);
      const batches: string[][] = [];
      for (let i = 0; i < ids.length; i += BATCH) batches.push(ids.slice(i, i + BATCH));
      await Promise.all(
        batches.map(async (batch) => {
          requests++;
          for (const a of await exportItems(gateway, "m", batch, { trafficKey: "m" })) {
            if (!("data" in a)) throw new Error(`item ${a.itemId}: expected data, found ${a.error.code}`);
            await storeBlob(store, "export", a.data);
            items++;
          }
        }),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cpu = process.cpuUsage(cpu0);
  const perItem = (seconds: number) => ((seconds * 1e6) / items).toFixed(0);
  console.log(
    `items ${items} requests ${requests}: process CPU ${perItem((cpu.user + cpu.system) / 1e6)} µs/item, ` +
      `main thread ${perItem(mainThreadCpuSeconds() - main0)} µs/item (wall ${((performance.now() - wall0) / 1000).toFixed(2)} s)`,
  );
}

await main();
