"""The services' Function URL: only the settings function has one, and only it may skip the
distribution's origin secret.

Run by infra/lint.sh (and so by `make test`). Checks that exactly one AWS::Lambda::Url exists,
that it targets the settings function, is public (AuthType NONE: every request is authenticated
by its client secret) and conditional on ServiceFunctionUrl; that its two permissions are
limited to invocations through the URL; that FIG_FUNCTION_URL is set on the settings function
alone (every other function keeps requiring the origin secret, FIG_ORIGIN_VERIFY in Globals);
and that the settings function has a reserved concurrency, the Function URL's throttle.
"""

import sys

from samtranslator.yaml_helper import yaml_parse


def main(path):
    template = yaml_parse(open(path).read())
    resources = template["Resources"]
    urls = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Url"}
    assert list(urls) == ["SettingsFunctionUrl"], f"Function URLs: {sorted(urls)}"
    url = urls["SettingsFunctionUrl"]
    assert url.get("Condition") == "HasServiceFunctionUrl"
    props = url["Properties"]
    assert props["TargetFunctionArn"] == {"Fn::GetAtt": ["SettingsFunction", "Arn"]}, props
    assert props["AuthType"] == "NONE"
    permissions = [
        v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::Permission" and v["Properties"].get("Principal") == "*"
    ]
    assert len(permissions) == 2, permissions
    for p in permissions:
        assert p["FunctionName"] == {"Ref": "SettingsFunction"}, p
        assert (
            p.get("FunctionUrlAuthType") == "NONE" or p.get("InvokedViaFunctionUrl") is True
        ), f"a public permission not limited to the Function URL: {p}"
    assert (
        template["Globals"]["Function"]["Environment"]["Variables"]["FIG_ORIGIN_VERIFY"] == "true"
    )
    with_url = [
        name
        for name, v in resources.items()
        if v["Type"] == "AWS::Serverless::Function"
        and "FIG_FUNCTION_URL" in v["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert with_url == ["SettingsFunction"], f"FIG_FUNCTION_URL set on {with_url}"
    settings = resources["SettingsFunction"]["Properties"]
    assert "ReservedConcurrentExecutions" in settings, "the settings function needs a bound"
    print("function url: the settings function only, public, bounded by reserved concurrency")


if __name__ == "__main__":
    main(sys.argv[1])
