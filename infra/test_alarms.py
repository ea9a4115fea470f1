"""The alarms a security team expects, checked in the template (run by infra/lint.sh).

Each expected alarm exists, notifies the AlarmTopic and watches the metric it should; every
log-based metric counts a tag the code really logs (shared/core/src/telemetry.rs, `alarm` module);
the KMS metric is fed by every function's log group; every alarm has a runbook entry in the
README's operations section (its name appears there).
"""

import pathlib
import re
import sys

from samtranslator.yaml_helper import yaml_parse

REPO = pathlib.Path(__file__).resolve().parent.parent

# alarm resource -> (namespace, metric)
EXPECTED = {
    "AuditTrailBehindAlarm": ("AWS/Lambda", "IteratorAge"),
    "AuditTrailErrorsAlarm": ("AWS/Lambda", "Errors"),
    "WebhookErrorsAlarm": ("AWS/Lambda", "Errors"),
    "MaintenanceErrorsAlarm": ("AWS/Lambda", "Errors"),
    "EventsDeadLettersAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    "WebhookDeadLettersAlarm": ("Fig", "WebhookDeadLetters"),
    "LoginsThrottledAlarm": ("Fig", "LoginsThrottled"),
    "LoginFailuresAlarm": ("Fig", "LoginFailures"),
    "KmsErrorsAlarm": ("Fig", "KmsErrors"),
    "ServiceUrlThrottledAlarm": ("AWS/Lambda", "Throttles"),
}


def namespace(value):
    if isinstance(value, dict) and "Fn::Sub" in value:
        return value["Fn::Sub"].split("/")[0]
    return value


def main(path):
    template = yaml_parse(open(path).read())
    resources = template["Resources"]
    readme = (REPO / "README.md").read_text()
    telemetry = (REPO / "shared" / "core" / "src" / "telemetry.rs").read_text()
    tags = set(re.findall(r'pub const [A-Z_]+: &str = "([a-z_]+)";', telemetry))
    logged_tags = set()
    for source in (REPO / "shared").glob("**/src/*.rs"):
        logged_tags |= set(re.findall(r"alarm::([A-Z_]+)", source.read_text()))
    for source in (REPO / "functions").glob("*/src/*.rs"):
        logged_tags |= set(re.findall(r"alarm::([A-Z_]+)", source.read_text()))
    constants = dict(re.findall(r'pub const ([A-Z_]+): &str = "([a-z_]+)";', telemetry))
    for constant in constants:
        assert constant in logged_tags, f"alarm tag {constant} is defined but never logged"

    for name, (ns, metric) in EXPECTED.items():
        alarm = resources.get(name)
        assert alarm and alarm["Type"] == "AWS::CloudWatch::Alarm", f"missing alarm {name}"
        props = alarm["Properties"]
        assert namespace(props["Namespace"]) == ns, f"{name}: namespace {props['Namespace']}"
        assert props["MetricName"] == metric, f"{name}: metric {props['MetricName']}"
        assert {"Ref": "AlarmTopic"} in props["AlarmActions"], f"{name}: does not notify AlarmTopic"
        alarm_name = props["AlarmName"]["Fn::Sub"].replace("fig-${Stage}-", "")
        assert alarm_name in readme, f"{name}: no runbook entry for '{alarm_name}' in README.md"

    feeds = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Logs::MetricFilter":
            continue
        props = resource["Properties"]
        (tag,) = re.fullmatch(r'\{ \$\.fields\.alarm = "([a-z_]+)" \}', props["FilterPattern"]).groups()
        assert tag in tags, f"{name}: counts '{tag}', which the code never logs"
        (transform,) = props["MetricTransformations"]
        feeds.setdefault(transform["MetricName"], set()).add(props["LogGroupName"]["Ref"])
    groups = {n for n, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
    function_groups = {
        r["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for r in resources.values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert function_groups <= groups
    assert feeds.get("KmsErrors") == function_groups, (
        f"KmsErrors is fed by {sorted(feeds.get('KmsErrors', []))}, not every function's log group"
    )
    print(f"alarms: {len(EXPECTED)} alarms, {sum(len(v) for v in feeds.values())} metric filters")


if __name__ == "__main__":
    main(sys.argv[1])
