import { RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as kms from "aws-cdk-lib/aws-kms";
import { Construct } from "constructs";
import { STATE_TABLE_SCHEMA } from "../../lib/state/keys.js";

/** TTL attribute of job records (epoch seconds), written by lib/state; sync state has none. */
export const STATE_TTL_ATTRIBUTE = STATE_TABLE_SCHEMA.ttlAttribute;

export interface StateTableProps {
  key: kms.IKey;
}

/**
 * The single state table (jobs, streams, units, per-folder sync state). Losing it loses the
 * sync states, which forces a full re-enumeration of every folder: hence point-in-time
 * recovery, deletion protection and RETAIN.
 */
export class StateTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StateTableProps) {
    super(scope, id);
    // Table rather than TableV2: TableV2 cannot render a customer-managed key in a
    // region-agnostic stack, and this template must synthesize without an AWS account.
    this.table = new dynamodb.Table(this, "Table", {
      // The key names lib/state writes (lib/state/keys.ts), as the local table uses them.
      partitionKey: { name: STATE_TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: STATE_TABLE_SCHEMA.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: STATE_TTL_ATTRIBUTE,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
