import { createHash, randomBytes } from "node:crypto";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

describe("S3 on the local emulator", () => {
  it("stores, reads back and lists objects by prefix", async () => {
    const bucket = await aws.createBucket();
    for (const key of ["a/1.txt", "a/2.txt", "b/3.txt"]) {
      await aws.clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
    }
    const got = await aws.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "a/2.txt" }));
    expect(await got.Body!.transformToString()).toBe("body of a/2.txt");

    const listed = await aws.clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "a/" }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(["a/1.txt", "a/2.txt"]);
  });

  it("uploads a 12 MiB object in parts and returns the same bytes", async () => {
    const bucket = await aws.createBucket();
    const body = randomBytes(12 * 1024 * 1024);
    // A single PUT of this size gets 413 from fauxqs; multipart with 5 MiB parts is what we use.
    const upload = new Upload({
      client: aws.clients.s3,
      params: { Bucket: bucket, Key: "big.eml", Body: body },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    await upload.done();

    const got = await aws.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big.eml" }));
    const stored = Buffer.from(await got.Body!.transformToByteArray());
    expect(stored.length).toBe(body.length);
    expect(createHash("sha256").update(stored).digest("hex")).toBe(
      createHash("sha256").update(body).digest("hex"),
    );
  });
});
