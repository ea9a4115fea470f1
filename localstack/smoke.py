#!/usr/bin/env python3
"""Smoke test of the local AWS emulator: the AWS behaviour Fig relies on, checked with boto3.

Run it with `localstack/emulator.sh smoke` (starts the emulator if none answers, stops it after;
uses the LocalStack virtualenv's boto3). Not part of the test suite. Endpoint: $AWS_ENDPOINT_URL
(default http://127.0.0.1:4566), credentials test/test, region us-east-1. Every resource it
creates has a unique name and is deleted at the end (KMS keys are scheduled for deletion).

Prints one line per check, "ok" or "FAIL", and exits 1 if any check failed.
"""

import os
import sys
import threading
import time
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566").rstrip("/")
RUN = uuid.uuid4().hex[:8]
FAILED = []
DIFFERENCES = []


def client(service, **config):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
    )


def check(name, condition, detail=""):
    print(f"{'ok  ' if condition else 'FAIL'} {name}{f' ({detail})' if detail else ''}", flush=True)
    if not condition:
        FAILED.append(name)


def differs(name, aws, here):
    """A behaviour that differs from AWS's but that Fig does not depend on."""
    print(f"diff {name}: AWS {aws}; here {here}", flush=True)
    DIFFERENCES.append(name)


def error_code(call):
    """The AWS error code `call()` fails with, or None if it succeeds."""
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def poll(what, fn, timeout=30.0, interval=0.1):
    """fn() until it returns something true, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def section(label, fn):
    """fn() timed; an exception fails the section instead of ending the run."""
    t = time.monotonic()
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        check(f"{label}: no unexpected error", False, repr(e))
        return None
    finally:
        print(f"     {label}: {time.monotonic() - t:.2f} s", flush=True)


# --- DynamoDB ------------------------------------------------------------------------------------


def put(table, pk, **condition):
    return {"Put": {"TableName": table, "Item": {"pk": {"S": pk}, "ttl": {"N": str(int(time.time()) + 3600)}}, **condition}}


def stream_records(streams, stream_arn):
    """Every record currently in the stream, over all shards, from the start."""
    records = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for _ in range(20):  # an open shard always returns a next iterator: stop at an empty page
            page = streams.get_records(ShardIterator=it, Limit=1000)
            records += page["Records"]
            it = page.get("NextShardIterator")
            if not it or not page["Records"]:
                break
    return records


def dynamodb_checks():
    ddb = client("dynamodb")
    streams = client("dynamodbstreams")
    table = f"fig-smoke-{RUN}"
    t = time.monotonic()
    created = ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]
    check("CreateTable returns CREATING or ACTIVE", created["TableStatus"] in ("CREATING", "ACTIVE"), created["TableStatus"])
    if created["TableStatus"] != "CREATING":
        differs("CreateTable status", "CREATING (wait for ACTIVE)", created["TableStatus"])
    try:
        desc = poll(
            "table ACTIVE",
            lambda: (d := ddb.describe_table(TableName=table)["Table"])["TableStatus"] == "ACTIVE" and d,
        )
        stream_arn = desc["LatestStreamArn"]
        poll(
            "stream ENABLED",
            lambda: streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["StreamStatus"] == "ENABLED",
        )
        print(f"     table ACTIVE and stream ENABLED after {time.monotonic() - t:.2f} s", flush=True)
        check("stream view type NEW_IMAGE", desc["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE")

        ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
        ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        check("TTL enabled on attribute ttl", ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName") == "ttl", str(ttl))

        # A transaction whose condition fails is cancelled and writes nothing.
        try:
            ddb.transact_write_items(
                TransactItems=[
                    put(table, "cancelled-1"),
                    {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "missing"}}, "ConditionExpression": "attribute_exists(pk)"}},
                ]
            )
            check("TransactWriteItems with a failing condition is cancelled", False, "it succeeded")
        except ClientError as e:
            reasons = [r.get("Code") for r in e.response.get("CancellationReasons", [])]
            check(
                "TransactWriteItems with a failing condition is cancelled",
                e.response["Error"]["Code"] == "TransactionCanceledException" and reasons == ["None", "ConditionalCheckFailed"],
                f"{e.response['Error']['Code']}, reasons {reasons}",
            )
        ddb.transact_write_items(TransactItems=[put(table, "ok-1"), put(table, "ok-2")])

        # Concurrent transactions on one item: exactly one wins (moto loses items here).
        results = {}

        def race(i):
            try:
                ddb.transact_write_items(
                    TransactItems=[put(table, "race", ConditionExpression="attribute_not_exists(pk)"), put(table, f"race-{i}")]
                )
                results[i] = "ok"
            except ClientError as e:
                results[i] = e.response["Error"]["Code"]

        threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        winners = [i for i, r in results.items() if r == "ok"]
        others = sorted({r for r in results.values() if r != "ok"})
        check("8 concurrent conditional transactions: exactly one succeeds", len(winners) == 1, f"winners {winners}, others {others}")
        expected = {"ok-1", "ok-2", "race"} | {f"race-{i}" for i in winners}
        items = {i["pk"]["S"] for i in ddb.scan(TableName=table, ConsistentRead=True)["Items"]}
        check("the table holds exactly the successful transactions' items", items == expected, f"{sorted(items)}")

        # The stream has records for the successful transactions only.
        records = poll("stream records", lambda: (r := stream_records(streams, stream_arn)) and len(r) >= len(expected) and r, timeout=15)
        records = stream_records(streams, stream_arn)  # and nothing more shows up on a second read
        keys = sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in records)
        check("stream records only for successful transactions", keys == sorted(expected), f"{keys}")
        check(
            "stream records are INSERTs with NewImage only",
            all(r["eventName"] == "INSERT" and "NewImage" in r["dynamodb"] and "OldImage" not in r["dynamodb"] for r in records),
        )
    finally:
        ddb.delete_table(TableName=table)
        gone = poll("table deleted", lambda: error_code(lambda: ddb.describe_table(TableName=table)) == "ResourceNotFoundException")
        check("table deleted", gone)


# --- KMS -----------------------------------------------------------------------------------------


def kms_checks():
    kms = client("kms")
    keys = []
    aliases = []
    try:
        key = kms.create_key(Description=f"fig smoke {RUN}")["KeyMetadata"]
        keys.append(key["KeyId"])
        check("CreateKey symmetric", key.get("KeySpec") == "SYMMETRIC_DEFAULT" and key.get("KeyUsage") == "ENCRYPT_DECRYPT", f"{key.get('KeySpec')} {key.get('KeyUsage')}")
        ctx = {"fig:table": f"fig-smoke-{RUN}", "fig:purpose": "smoke"}
        dk = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=ctx)
        check("GenerateDataKey AES_256", len(dk["Plaintext"]) == 32 and dk["KeyId"] == key["Arn"], dk["KeyId"])
        out = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)
        check("Decrypt with the encryption context", out["Plaintext"] == dk["Plaintext"] and out["KeyId"] == key["Arn"])
        code = error_code(lambda: kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"fig:table": "other"}))
        check("Decrypt with another encryption context fails", code == "InvalidCiphertextException", str(code))
        kms.disable_key(KeyId=key["KeyId"])
        code = error_code(lambda: kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx))
        check("Decrypt with a disabled key fails (moto decrypts)", code == "DisabledException", str(code))
        kms.enable_key(KeyId=key["KeyId"])

        sk = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description=f"fig smoke sign {RUN}")["KeyMetadata"]
        keys.append(sk["KeyId"])
        msg = f"fig smoke {RUN}".encode()
        sig = kms.sign(KeyId=sk["KeyId"], Message=msg, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        ok = kms.verify(KeyId=sk["KeyId"], Message=msg, MessageType="RAW", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
        check("Sign + Verify ECC_NIST_P256 / ECDSA_SHA_256", ok["SignatureValid"] is True)
        code = error_code(
            lambda: kms.verify(KeyId=sk["KeyId"], Message=msg + b"!", MessageType="RAW", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
        )
        check("Verify of another message fails", code == "KMSInvalidSignatureException", str(code))
        try:
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec

            pub = serialization.load_der_public_key(kms.get_public_key(KeyId=sk["KeyId"])["PublicKey"])
            pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
            check("the signature verifies locally with GetPublicKey (DER ECDSA)", True)
        except ImportError:
            print("     (cryptography not installed: local signature check skipped)")
        except Exception as e:  # noqa: BLE001
            check("the signature verifies locally with GetPublicKey (DER ECDSA)", False, repr(e))

        # Aliases: CreateAlias, then ListAliases paged with Limit and Marker.
        for i in range(60):
            name = f"alias/fig-smoke-{RUN}-{i:02d}"
            kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
            aliases.append(name)
        seen, pages, marker, biggest = [], 0, None, 0
        while True:
            page = kms.list_aliases(Limit=7, **({"Marker": marker} if marker else {}))
            pages += 1
            biggest = max(biggest, len(page["Aliases"]))
            seen += [a["AliasName"] for a in page["Aliases"]]
            if not page.get("Truncated"):
                break
            marker = page["NextMarker"]
        mine = [a for a in seen if a.startswith(f"alias/fig-smoke-{RUN}-")]
        check("ListAliases Limit=7 pages with Marker", biggest <= 7 and sorted(mine) == aliases and len(seen) == len(set(seen)), f"{pages} pages, {len(mine)} of ours")
        first = kms.list_aliases()
        n, truncated = len(first["Aliases"]), bool(first.get("Truncated"))
        # AWS's default page is 50 aliases; a client must follow NextMarker either way.
        check("ListAliases without Limit: at most 100 per page", n <= 100 and (truncated == ("NextMarker" in first)), f"{n}, Truncated={truncated}")
        if n > 50:
            differs("ListAliases default page size", "50 aliases, Truncated with NextMarker", f"{n} in one page, Truncated={truncated}")
        by_key = kms.list_aliases(KeyId=key["KeyId"], Limit=100)
        check("ListAliases by KeyId", sorted(a["AliasName"] for a in by_key["Aliases"]) == aliases or by_key.get("Truncated"))
        return key
    finally:
        for name in aliases:
            kms.delete_alias(AliasName=name)
        for k in keys[1:]:
            kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)


# --- S3 ------------------------------------------------------------------------------------------


def s3_checks(key):
    urls = []
    s3 = client("s3", s3={"addressing_style": "path"})
    s3.meta.events.register("before-send.s3", lambda request, **_: urls.append(request.url))
    bucket = f"fig-smoke-{RUN}"
    try:
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        check("requests are path-style", bool(urls) and urls[-1].startswith(f"{ENDPOINT}/{bucket}"), urls[-1] if urls else "")
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        check("bucket has Object Lock enabled", lock.get("ObjectLockEnabled") == "Enabled", str(lock))
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        check("Object Lock bucket is versioned", versioning == "Enabled", str(versioning))

        r = s3.put_object(Bucket=bucket, Key="audit/sse.json", Body=b'{"a":1}', ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
        check("PutObject SSE-KMS", r.get("ServerSideEncryption") == "aws:kms" and r.get("SSEKMSKeyId") == key["Arn"], f"{r.get('ServerSideEncryption')} {r.get('SSEKMSKeyId')}")
        g = s3.get_object(Bucket=bucket, Key="audit/sse.json")
        check("GetObject of the SSE-KMS object", g["Body"].read() == b'{"a":1}' and g.get("ServerSideEncryption") == "aws:kms")

        first = error_code(lambda: s3.put_object(Bucket=bucket, Key="once.txt", Body=b"1", IfNoneMatch="*"))
        check("PutObject If-None-Match: * creates", first is None, str(first))
        try:
            s3.put_object(Bucket=bucket, Key="once.txt", Body=b"2", IfNoneMatch="*")
            check("second PutObject If-None-Match: * fails 412", False, "it succeeded")
        except ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            check("second PutObject If-None-Match: * fails 412", status == 412, f"{status} {e.response['Error']['Code']}")
        body = s3.get_object(Bucket=bucket, Key="once.txt")["Body"].read()
        check("the first object stays", body == b"1", repr(body))
    finally:
        versions = s3.list_object_versions(Bucket=bucket)
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        s3.delete_bucket(Bucket=bucket)


def main():
    print(f"smoke test of {ENDPOINT} (run {RUN})", flush=True)
    t = time.monotonic()
    key = section("KMS", kms_checks)
    section("DynamoDB and Streams", dynamodb_checks)
    if key:
        section("S3", lambda: s3_checks(key))
        client("kms").schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    else:
        check("S3 (needs the KMS key)", False, "skipped")
    summary = "all checks passed" if not FAILED else f"{len(FAILED)} failed: " + "; ".join(FAILED)
    if DIFFERENCES:
        summary += f"; differs from AWS (harmless for Fig): {'; '.join(DIFFERENCES)}"
    print(f"{summary} ({time.monotonic() - t:.1f} s)")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
