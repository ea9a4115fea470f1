"""Least privilege, checked: every function role's statements against one expected table.

Run by infra/lint.sh (and so by `make test`). A policy that is widened (an action, a
partition, a KMS purpose, a resource or a missing condition) fails here, and the table below is
where a reviewer sees what each function may do. Also checks the rules that must hold whatever
the table says: table access always names its partitions (dynamodb:LeadingKeys), envelope-key
use is always pinned (a KMS encryption context or kms:ViaService), only the auth function may
unwrap token signing keys, and the identity table has no stream.
"""

import json
import sys

from samtranslator.yaml_helper import yaml_parse


def ref(value):
    """An intrinsic as short text: !GetAtt Table.Arn -> 'Table.Arn', !Sub '${X.Arn}/a' -> '${X.Arn}/a'."""
    if isinstance(value, dict):
        (name, arg), = value.items()
        if name == "Fn::GetAtt":
            return ".".join(arg) if isinstance(arg, list) else arg
        if name == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
        if name == "Ref":
            return arg
        return json.dumps(value, sort_keys=True)
    return value


def listed(value):
    return sorted(ref(v) for v in (value if isinstance(value, list) else [value]))


def normalize(statement):
    condition = {
        operator: {key: listed(values) for key, values in keys.items()}
        for operator, keys in statement.get("Condition", {}).items()
    }
    return {
        "actions": listed(statement["Action"]),
        "resources": listed(statement["Resource"]),
        "condition": condition,
    }


def roles(template):
    out = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        statements = {}
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow", f"{name}: only Allow statements"
                statements[statement["Sid"]] = normalize(statement)
        out[name] = statements
    return out


LOGS = lambda group: {"actions": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "resources": [f"{group}.Arn"], "condition": {}}
VIA_DYNAMODB = {"actions": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], "resources": ["Key.Arn"], "condition": {"StringEquals": {"kms:ViaService": ["dynamodb.${AWS::Region}.amazonaws.com"]}}}
STREAM = {"actions": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"], "resources": ["Table.StreamArn"], "condition": {}}
READ = ["dynamodb:GetItem", "dynamodb:Query"]
WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
RW = ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]


def table(name, actions, partitions):
    return {"actions": sorted(actions), "resources": [f"{name}.Arn"], "condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": sorted(partitions)}}}


def purposes(actions, names):
    return {"actions": sorted(actions), "resources": ["Key.Arn"], "condition": {"StringEquals": {"kms:EncryptionContext:app": ["fig"], "kms:EncryptionContext:purpose": sorted(names)}}}


def data_keys(actions):
    return {"actions": sorted(actions), "resources": ["Key.Arn"], "condition": {"StringEquals": {"kms:EncryptionContext:app": ["fig"]}, "Null": {"kms:EncryptionContext:client": ["false"], "kms:EncryptionContext:purpose": ["true"], "kms:EncryptionContext:webhook": ["true"]}}}


def webhook_secrets(actions):
    return {"actions": sorted(actions), "resources": ["Key.Arn"], "condition": {"StringEquals": {"kms:EncryptionContext:app": ["fig"]}, "Null": {"kms:EncryptionContext:client": ["true"], "kms:EncryptionContext:purpose": ["true"], "kms:EncryptionContext:webhook": ["false"]}}}


ORIGIN = {"actions": ["kms:Decrypt"], "resources": ["Key.Arn"], "condition": {"StringEquals": {"kms:EncryptionContext:app": ["fig"], "kms:EncryptionContext:purpose": ["origin-verify"]}}}

AUDIT_WRITE = {
    "AuditObjects": {"actions": ["s3:PutObject", "s3:PutObjectRetention"], "resources": ["${AuditBucket.Arn}/audit/*", "${AuditBucket.Arn}/digests/*"], "condition": {}},
    "AuditDigestsRead": {"actions": ["s3:GetObject"], "resources": ["${AuditBucket.Arn}/digests/*"], "condition": {}},
    "AuditEncryption": {"actions": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], "resources": ["Key.Arn"], "condition": {"StringEquals": {"kms:ViaService": ["s3.${AWS::Region}.amazonaws.com"]}}},
    "AuditDigestSigning": {"actions": ["kms:Sign"], "resources": ["AuditSigningKey.Arn"], "condition": {}},
}

# What each function may do. Change this table only together with the code that needs it.
EXPECTED = {
    "AuthRole": {
        "Logs": LOGS("AuthLogGroup"),
        "Identity": table("IdentityTable", RW, ["USER#*", "USERS", "THROTTLE#USER#*", "THROTTLE#IP#*"]),
        "TableWrite": table("Table", ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"], ["EVENT#*", "KEYS"]),
        "TableRead": table("Table", READ, ["KEYS", "CONFIG"]),
        "TableEncryption": VIA_DYNAMODB,
        "ServiceSecrets": purposes(["kms:Encrypt", "kms:Decrypt"], ["jwt-signing", "jwt-verify", "totp", "client-secret-pepper"]),
        "OriginSecret": ORIGIN,
    },
    "SettingsRole": {
        "Logs": LOGS("SettingsLogGroup"),
        "TableWrite": table("Table", WRITE, ["CLIENT#*", "CLIENTS", "CLIENTCOUNT", "HISTORY#*", "CLIENTSTATUS#*", "EVENT#*"]),
        "TableRead": table("Table", READ, ["CLIENT#*", "CLIENTS", "CLIENTCOUNT", "HISTORY#*", "KEYS", "CONFIG"]),
        "TableEncryption": VIA_DYNAMODB,
        "ClientDataKeys": data_keys(["kms:GenerateDataKey", "kms:Decrypt"]),
        "Pepper": purposes(["kms:Encrypt", "kms:Decrypt"], ["client-secret-pepper"]),
        "OriginSecret": ORIGIN,
    },
    "AdminRole": {
        "Logs": LOGS("AdminLogGroup"),
        "Identity": table("IdentityTable", RW + ["dynamodb:BatchWriteItem"], ["USER#*", "USERS", "THROTTLE#USER#*"]),
        "TableWrite": table("Table", WRITE + ["dynamodb:BatchWriteItem"], ["CLIENT#*", "CLIENTS", "CLIENTCOUNT", "HISTORY#*", "CONFIG", "WEBHOOKS", "DEADLETTER#*", "EVENT#*"]),
        "TableRead": table("Table", READ + ["dynamodb:BatchGetItem"], ["CLIENT#*", "CLIENTS", "CLIENTCOUNT", "HISTORY#*", "KEYS", "CONFIG", "WEBHOOKS", "DEADLETTER#*", "EVENT#*"]),
        "TableEncryption": VIA_DYNAMODB,
        "ClientDataKeys": data_keys(["kms:GenerateDataKey", "kms:Decrypt"]),
        "ServiceSecrets": purposes(["kms:Encrypt", "kms:Decrypt"], ["client-secret-pepper"]),
        "TokenVerification": purposes(["kms:Decrypt"], ["jwt-verify"]),
        "WebhookSecrets": webhook_secrets(["kms:Encrypt", "kms:Decrypt"]),
        "OriginSecret": ORIGIN,
    },
    "WebhooksRole": {
        "Logs": LOGS("WebhooksLogGroup"),
        "Stream": STREAM,
        "TableWrite": table("Table", ["dynamodb:PutItem", "dynamodb:UpdateItem"], ["DELIVERY#*", "DEADLETTER#*", "EVENT#*"]),
        "WebhookStatus": {**table("Table", ["dynamodb:UpdateItem"], ["WEBHOOKS"]), "condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["WEBHOOKS"]}, "ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK", "lastDelivery"]}}},
        "TableRead": table("Table", READ, ["WEBHOOKS", "CONFIG", "DELIVERY#*"]),
        "TableEncryption": VIA_DYNAMODB,
        "WebhookSecrets": webhook_secrets(["kms:Decrypt"]),
        "FailureQueue": {"actions": ["sqs:SendMessage"], "resources": ["EventsFailureQueue.Arn"], "condition": {}},
    },
    "MaintenanceRole": {
        "Logs": LOGS("MaintenanceLogGroup"),
        "Table": table("Table", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"],
                       ["KEYS", "CLIENTS", "CLIENT#*", "EVENT#*", "AUDIT"]),
        "TableEncryption": VIA_DYNAMODB,
        "ClientDataKeys": data_keys(["kms:GenerateDataKey", "kms:Decrypt"]),
        "TokenKeys": purposes(["kms:Encrypt"], ["jwt-signing", "jwt-verify"]),
        "Pepper": purposes(["kms:Encrypt", "kms:Decrypt"], ["client-secret-pepper"]),
        "AuditList": {"actions": ["s3:ListBucket"], "resources": ["AuditBucket.Arn"], "condition": {}},
        "AuditRead": {"actions": ["s3:GetObject"], "resources": ["${AuditBucket.Arn}/audit/*"], "condition": {}},
        **AUDIT_WRITE,
        "OriginSecret": purposes(["kms:Encrypt", "kms:Decrypt"], ["origin-verify"]),
        "OriginSecretPublish": {"actions": ["cloudfront-keyvaluestore:DescribeKeyValueStore", "cloudfront-keyvaluestore:PutKey"], "resources": ["OriginSecretStore.Arn"], "condition": {}},
    },
    "EventsRole": {
        "Logs": LOGS("EventsLogGroup"),
        "Stream": STREAM,
        "Table": table("Table", ["dynamodb:GetItem", "dynamodb:PutItem"], ["AUDIT"]),
        "TableEncryption": VIA_DYNAMODB,
        **AUDIT_WRITE,
    },
}


def main(path):
    with open(path) as f:
        template = yaml_parse(f.read())
    problems = []
    found = roles(template)
    function_roles = {n for n in found if n != "CodeDeployServiceRole"}
    for name in sorted(set(EXPECTED) | function_roles):
        expected = {sid: {**st, "actions": sorted(st["actions"])} for sid, st in EXPECTED.get(name, {}).items()}
        actual = found.get(name, {})
        for sid in sorted(set(expected) | set(actual)):
            if expected.get(sid) != actual.get(sid):
                problems.append(f"{name}/{sid}: expected {json.dumps(expected.get(sid), sort_keys=True)}, found {json.dumps(actual.get(sid), sort_keys=True)}")
    for name, statements in found.items():
        for sid, st in statements.items():
            if any(a == "*" or a.endswith(":*") for a in st["actions"]):
                problems.append(f"{name}/{sid}: wildcard action")
            if any(r in ("Table.Arn", "IdentityTable.Arn") for r in st["resources"]) and any(a.startswith("dynamodb:") for a in st["actions"]):
                if "dynamodb:LeadingKeys" not in st["condition"].get("ForAllValues:StringLike", {}):
                    problems.append(f"{name}/{sid}: table access without dynamodb:LeadingKeys")
            if "Key.Arn" in st["resources"] and not st["condition"]:
                problems.append(f"{name}/{sid}: envelope key use without a condition")
            leading = st["condition"].get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys", [])
            writes = [a for a in st["actions"] if a in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")]
            if writes and "CONFIG" in leading and name != "AdminRole":
                problems.append(f"{name}/{sid}: only the admin function may change the server configuration")
            if writes and "KEYS" in leading and name not in ("AuthRole", "MaintenanceRole"):
                problems.append(f"{name}/{sid}: only the auth and maintenance functions may write service keys")
            purposes_allowed = st["condition"].get("StringEquals", {}).get("kms:EncryptionContext:purpose", [])
            if "jwt-signing" in purposes_allowed and "kms:Decrypt" in st["actions"] and name != "AuthRole":
                problems.append(f"{name}/{sid}: only the auth function may unwrap token signing keys")
    identity = template["Resources"].get("IdentityTable", {}).get("Properties", {})
    if "StreamSpecification" in identity:
        problems.append("IdentityTable: must have no stream (its items must never reach a stream consumer)")
    for problem in problems:
        print(f"policy: {problem}")
    if problems:
        sys.exit(f"policy: {len(problems)} problem(s) in {path}")
    print(f"policy: {len(found)} roles match the expected table ({sum(len(s) for s in found.values())} statements)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml")
