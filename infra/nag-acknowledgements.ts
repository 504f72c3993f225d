/**
 * The cdk-nag AwsSolutions findings this stack accepts, each on the narrowest construct and with
 * the reason it is acceptable. Anything not listed here fails `cdk synth`.
 */
import { type CfnResource, Stack, Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { ARCHIVE_LAYOUT } from "./archive-layout.js";
import type { MailstreamStack } from "./mailstream-stack.js";

/** What cdk-nag prints for a resource ARN reference: `<LogicalId.Arn>`. */
function arnRef(resource: IConstruct): string {
  const stack = Stack.of(resource);
  const logicalId = stack.resolve(stack.getLogicalId(resource.node.defaultChild as CfnResource)) as string;
  return `<${logicalId}.Arn>`;
}

export function acknowledgeNagFindings(stack: MailstreamStack): void {
  const prefix = stack.config.archivePrefix;
  const bucket = arnRef(stack.archive.bucket);
  const objects = (sub = "") => `AwsSolutions-IAM5[Resource::${bucket}/${prefix}${sub}*]`;

  for (const fn of [stack.coordinator, stack.controller, stack.sweep]) {
    Validations.of(fn.fn).acknowledge({
      id: "AwsSolutions-L1",
      reason:
        "Pinned to Node.js 22 on purpose: the bundles are built and tested for target node22 and the " +
        "project supports Node 20+; moving to a newer runtime is a deliberate, tested upgrade.",
    });
  }

  Validations.of(stack.controller.role).acknowledge(
    {
      id: objects(),
      reason:
        "Message blobs are content-addressed (blobs/sha256/<aa>/<bb>/<hash>.eml) and catalog parts are keyed " +
        "by mailbox, job and folder ids known only at run time; the wildcard is limited to the archive prefix " +
        "and to GetObject/PutObject/multipart actions (no delete).",
    },
    {
      id: objects(ARCHIVE_LAYOUT.staging),
      reason:
        "DeleteObject only on the staging prefix, where a large blob is uploaded before it is copied to its " +
        "content address; the upload key is generated at run time.",
    },
  );
  // Both the sweep and the coordinator (which finalizes empty jobs and sweeps on every tick)
  // finalize jobs: puts of the manifest and the report, nothing else.
  const finalizeWrites = (who: string) => [
    {
      id: objects(ARCHIVE_LAYOUT.jobs),
      reason: `PutObject only under jobs/: the ${who} writes jobs/<jobId>/manifest.json for a run-time job id.`,
    },
    {
      id: objects(ARCHIVE_LAYOUT.reports),
      reason: `PutObject only under reports/: the ${who} writes reports/<jobId>/report.json for a run-time job id.`,
    },
  ];
  Validations.of(stack.sweep.role).acknowledge(...finalizeWrites("sweep, finalizing a stuck job,"));
  Validations.of(stack.coordinator.role).acknowledge(
    {
      id: objects(ARCHIVE_LAYOUT.catalog),
      reason:
        "PutObject only under catalog/: the coordinator records each mailbox's folder tree at " +
        "catalog/mailbox=<id>/job=<id>/folders.jsonl, with mailbox and job ids known only at run time.",
    },
    ...finalizeWrites("coordinator, finalizing an empty job or sweeping,"),
  );
}
