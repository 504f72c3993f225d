/**
 * The areas of mailstream and what each may import: the single source of the dependency rule
 * (.dependency-cruiser.cjs turns it into rules) and of the map in docs/architecture.md (a test,
 * test/unit/architecture.test.ts, checks that the document lists exactly these areas and imports).
 *
 * An area is a folder (lib/<name>, lib/dev/<name>, or a top-level folder) or one of the shared
 * root modules lib/errors.ts and lib/retry.ts. `imports` lists the other areas its files may
 * import; node_modules are not restricted here.
 */
/** @type {Record<string, { role: string; imports: string[]; production: boolean }>} */
const AREAS = {
  "lib/errors": {
    role: "the error classes and their kinds; the rule for each kind (ruleFor)",
    imports: [],
    production: true,
  },
  "lib/retry": {
    role: "the one retry primitive: time budget, backoff with jitter, the invocation's deadline",
    imports: ["lib/errors"],
    production: true,
  },
  "lib/backup": {
    role: "the backup flow: coordinator → plan → stream runner → unit backup → archive, the sweep, finalization and the job report; all it needs is declared in ports.ts",
    imports: ["lib/errors", "lib/retry", "lib/queue"],
    production: true,
  },
  "lib/plan": {
    role: "the planner: mailboxes and folders in, units and streams out (pure)",
    imports: ["lib/errors"],
    production: true,
  },
  "lib/queue": {
    role: "stream tasks on SQS: the task format, the queue adapter, partial batch responses, the Lambda event types",
    imports: ["lib/errors"],
    production: true,
  },
  "lib/state": {
    role: "the state store on DynamoDB (jobs, streams, units, sync states) and its adapter to the backup's ports",
    imports: ["lib/errors", "lib/retry", "lib/queue", "lib/backup"],
    production: true,
  },
  "lib/graph": {
    role: "Microsoft Graph: the gateway (MSAL tokens, per-mailbox traffic, the request policy) and the requests the backup and restore make",
    imports: ["lib/errors", "lib/retry"],
    production: true,
  },
  "lib/archive": {
    role: "the archive format on S3 or a folder: blobs, catalog, folder lists, reports, manifests, replay",
    imports: ["lib/errors", "lib/backup"],
    production: true,
  },
  "lib/aws": {
    role: "the AWS SDK clients, configured once",
    imports: [],
    production: true,
  },
  "lib/config": {
    role: "the configuration: one schema, environment variables, files, the client credential",
    imports: ["lib/errors", "lib/aws"],
    production: true,
  },
  "lib/app": {
    role: "the composition root: builds the backup app from the configuration for the Lambda handlers and the local runtime (state, archive, gateway, planner, queue bound to the ports), logs, metrics, live progress",
    imports: [
      "lib/errors",
      "lib/retry",
      "lib/archive",
      "lib/aws",
      "lib/backup",
      "lib/catalog-index",
      "lib/config",
      "lib/graph",
      "lib/plan",
      "lib/queue",
      "lib/state",
    ],
    production: true,
  },
  "lib/catalog-index": {
    role: "reading the archive for people: jobs, mailboxes, point-in-time views, search",
    imports: ["lib/errors", "lib/archive", "lib/backup"],
    production: true,
  },
  "lib/export": {
    role: "exporting archived messages (EML folders, mbox)",
    imports: ["lib/errors", "lib/archive", "lib/catalog-index"],
    production: true,
  },
  "lib/restore": {
    role: "restoring archived messages into a mailbox through Graph",
    imports: ["lib/errors", "lib/archive", "lib/export", "lib/graph"],
    production: true,
  },
  "lib/verify": {
    role: "checking the archive's blobs and catalog",
    imports: ["lib/errors", "lib/archive", "lib/catalog-index"],
    production: true,
  },
  "lib/cli": {
    role: "the production commands of the mailstream command line (browse, export, restore, verify, status), its options, failures and exit codes",
    imports: [
      "lib/errors",
      "lib/app",
      "lib/archive",
      "lib/aws",
      "lib/backup",
      "lib/catalog-index",
      "lib/export",
      "lib/graph",
      "lib/restore",
      "lib/state",
      "lib/verify",
    ],
    production: true,
  },
  "lib/dev/sim": {
    role: "the simulated Exchange Online tenant over HTTPS (Graph and the token endpoint), for tests, the benchmark and `mailstream sim`",
    imports: ["lib/errors"],
    production: false,
  },
  "lib/dev/local": {
    role: "the local runtime: AWS emulators, DynamoDB Local, the local SQS event source, the whole stack on one machine",
    imports: [
      "lib/errors",
      "lib/app",
      "lib/archive",
      "lib/aws",
      "lib/backup",
      "lib/cli",
      "lib/config",
      "lib/queue",
      "lib/state",
      "lib/dev/sim",
    ],
    production: false,
  },
  "lib/dev/cli": {
    role: "the mailstream command's entry (lib/dev/cli/main.ts: every command's options, the production ones loaded from lib/cli when they run) and its development commands `run` and `sim`, and the generator of the README's examples (readme-examples.ts)",
    imports: ["lib/errors", "lib/app", "lib/backup", "lib/cli", "lib/dev/local", "lib/dev/sim"],
    production: false,
  },
  functions: {
    role: "the Lambda handlers (coordinator, controller, sweep): parse the event, call lib/app",
    imports: ["lib/app", "lib/backup", "lib/queue"],
    production: true,
  },
  infra: {
    role: "the CDK stack (cdk deploy)",
    imports: ["lib/errors", "lib/app", "lib/config", "lib/state", "lib/catalog-index"],
    production: true,
  },
  bin: {
    role: "the mailstream command: runs the compiled entry lib/dev/cli/main.ts (bin/build-cli.js), or the TypeScript through tsx",
    imports: ["lib/cli", "lib/dev/cli"],
    production: false,
  },
  bench: {
    role: "the benchmark (npm run bench) and its figures",
    imports: [
      "functions",
      "infra",
      "lib/errors",
      "lib/archive",
      "lib/backup",
      "lib/catalog-index",
      "lib/config",
      "lib/graph",
      "lib/plan",
      "lib/queue",
      "lib/dev/local",
      "lib/dev/sim",
    ],
    production: false,
  },
};

/** The area of a path relative to the repository (e.g. `lib/backup/ports.ts` → `lib/backup`), or undefined. */
function areaOf(path) {
  const parts = path.split("/");
  if (parts[0] === "lib") {
    if (parts.length === 2) return `lib/${parts[1].replace(/\.[cm]?[jt]s$/, "")}`;
    if (parts[1] === "dev") return `lib/dev/${parts[2]}`;
    return `lib/${parts[1]}`;
  }
  return parts.length > 1 ? parts[0] : undefined;
}

/** A regular expression source matching the files of an area. */
function pathOf(area) {
  const root = area === "lib/errors" || area === "lib/retry";
  return root ? `^${area}\\.ts$` : `^${area}/`;
}

module.exports = { AREAS, areaOf, pathOf };
