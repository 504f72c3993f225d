import { Aws, Duration, RemovalPolicy } from "aws-cdk-lib";
import * as athena from "aws-cdk-lib/aws-athena";
import * as glue from "aws-cdk-lib/aws-glue";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { ARCHIVE_LAYOUT } from "../archive-layout.js";

export interface CatalogTableProps {
  stage: string;
  archive: s3.IBucket;
  prefix: string;
  key: kms.IKey;
  accessLogBucket: s3.IBucket;
}

/**
 * Columns of a catalog line (docs/archive-format.md). Nested objects (`meta`) are read as JSON
 * text so the table keeps working when the archive adds a property.
 */
export const CATALOG_COLUMNS: glue.CfnTable.ColumnProperty[] = [
  { name: "kind", type: "string", comment: "upsert | removed | folder-reset | folders" },
  { name: "messageid", type: "string" },
  { name: "folderid", type: "string" },
  { name: "sha256", type: "string", comment: "blob key: blobs/sha256/<aa>/<bb>/<sha256>.eml" },
  { name: "size", type: "bigint", comment: "MIME size in bytes" },
  { name: "changekey", type: "string" },
  { name: "meta", type: "string", comment: "message properties as JSON text" },
];

/**
 * A Glue database and table over the catalog, and an Athena workgroup whose results are
 * encrypted and expire. The table is deliberately not partitioned: the catalog's Hive-style
 * path (`mailbox=…/job=…/folder=…`) would need a partition per mailbox, job and folder to be
 * registered; instead queries read them from `"$path"` (see docs/deploy.md), and no crawler
 * or `MSCK REPAIR` is ever needed.
 */
export class CatalogTable extends Construct {
  readonly databaseName: string;
  readonly tableName = "catalog";
  readonly workGroup: athena.CfnWorkGroup;
  readonly resultsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: CatalogTableProps) {
    super(scope, id);
    // Glue database names are per account and region: the stage keeps deployments apart.
    this.databaseName = `mailstream_${props.stage.replace(/-/g, "_")}`;
    const database = new glue.CfnDatabase(this, "Database", {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: { name: this.databaseName, description: `mailstream catalog (${props.stage})` },
    });
    const table = new glue.CfnTable(this, "Table", {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: this.databaseName,
      tableInput: {
        name: this.tableName,
        description: "mailstream catalog: one JSON line per change (docs/archive-format.md)",
        tableType: "EXTERNAL_TABLE",
        parameters: { classification: "json", has_encrypted_data: "true" },
        storageDescriptor: {
          location: `s3://${props.archive.bucketName}/${props.prefix}${ARCHIVE_LAYOUT.catalog}`,
          inputFormat: "org.apache.hadoop.mapred.TextInputFormat",
          outputFormat: "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
          serdeInfo: {
            serializationLibrary: "org.openx.data.jsonserde.JsonSerDe",
            parameters: { "ignore.malformed.json": "true", "case.insensitive": "true" },
          },
          columns: CATALOG_COLUMNS,
        },
      },
    });
    table.addResourceDependency(database);

    this.resultsBucket = new s3.Bucket(this, "QueryResults", {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: "athena-results/",
      // Query results are copies of archive data: keep them briefly. Kept on teardown like the
      // archive (a non-empty bucket cannot be deleted by CloudFormation); it empties itself.
      lifecycleRules: [{ id: "expire-results", expiration: Duration.days(7) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.workGroup = new athena.CfnWorkGroup(this, "WorkGroup", {
      name: `mailstream-${props.stage}`,
      description: `Queries over the mailstream catalog (${props.stage})`,
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        // Caps a runaway query at 10 GB scanned (about $0.05).
        bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/`,
          encryptionConfiguration: { encryptionOption: "SSE_KMS", kmsKey: props.key.keyArn },
        },
      },
    });
  }
}
