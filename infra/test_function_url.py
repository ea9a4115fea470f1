"""The services' Function URL: only the settings code has one, as a function of its own, and
only that function may skip the distribution's origin secret.

Run by infra/lint.sh (and so by `make test`). Checks that exactly one AWS::Lambda::Url exists,
that it targets ServiceUrlFunction, is public (AuthType NONE: every request is authenticated by
its client secret) and conditional on ServiceFunctionUrl; that its two permissions are limited
to invocations through the URL; that ServiceUrlFunction runs the settings package, has no API
events (the distribution never reaches it) and a reserved concurrency of its own (the URL's
throttle, which a flood there exhausts without touching the settings function behind the
distribution, which has its own); and that FIG_FUNCTION_URL is set on it alone (every other function keeps
requiring the origin secret, FIG_ORIGIN_VERIFY in Globals).
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
    assert props["TargetFunctionArn"] == {"Fn::GetAtt": ["ServiceUrlFunction", "Arn"]}, props
    assert props["AuthType"] == "NONE"
    permissions = [
        v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::Permission" and v["Properties"].get("Principal") == "*"
    ]
    assert len(permissions) == 2, permissions
    for p in permissions:
        assert p["FunctionName"] == {"Ref": "ServiceUrlFunction"}, p
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
    assert with_url == ["ServiceUrlFunction"], f"FIG_FUNCTION_URL set on {with_url}"
    function = resources["ServiceUrlFunction"]
    assert function.get("Condition") == "HasServiceFunctionUrl"
    service, settings = function["Properties"], resources["SettingsFunction"]["Properties"]
    assert service["CodeUri"] == settings["CodeUri"], "the URL runs the settings package"
    assert service["Role"] == settings["Role"], "with the settings function's permissions"
    assert not service.get("Events"), "the distribution never reaches the URL's function"
    assert service.get("ReservedConcurrentExecutions") == {"Ref": "ServiceUrlConcurrency"}
    assert settings.get("ReservedConcurrentExecutions") == {"Ref": "SettingsConcurrency"}, (
        "the settings function behind the distribution has a bound of its own, not the URL's"
    )
    print("function url: the settings code as a function of its own, public, own concurrency")


if __name__ == "__main__":
    main(sys.argv[1])
