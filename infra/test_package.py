"""The template deploys what `make package` builds: checked without building.

Run by infra/lint.sh (and so by `make test`). Every AWS::Serverless::Function's CodeUri must be
the zip cargo-lambda writes for one of the functions infra/package.sh builds
(../target/lambda/<function>/bootstrap.zip), each of those functions must be a [[bin]] of a
crate under functions/, and each must be deployed by at least one function resource. Also: every
function runs on arm64 under provided.al2023, the platform the package is built for, and reads
its TLS roots from that platform's one CA bundle (SSL_CERT_FILE), not the whole directory.
"""

import pathlib
import re
import sys

from samtranslator.yaml_helper import yaml_parse

REPO = pathlib.Path(__file__).resolve().parent.parent
# Amazon Linux 2023's CA bundle (the ca-certificates package; /etc/ssl/certs links to its directory).
AL2023_CA_BUNDLE = "/etc/pki/tls/certs/ca-bundle.crt"


def packaged_functions():
    script = (REPO / "infra" / "package.sh").read_text()
    (names,) = re.findall(r"^FUNCTIONS=\(([^)]*)\)", script, re.M)
    return names.split()


def binaries():
    out = set()
    for manifest in (REPO / "functions").glob("*/Cargo.toml"):
        text = manifest.read_text()
        for block in re.findall(r"\[\[bin\]\]\s*\nname\s*=\s*\"([^\"]+)\"", text):
            out.add(block)
    return out


def main(path):
    template = yaml_parse(open(path).read())
    functions = packaged_functions()
    assert functions, "infra/package.sh names its functions"
    missing = set(functions) - binaries()
    assert not missing, f"packaged but not a [[bin]] under functions/: {sorted(missing)}"
    globals_ = template.get("Globals", {}).get("Function", {})
    deployed = set()
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        uri = props["CodeUri"]
        match = re.fullmatch(r"\.\./target/lambda/([a-z0-9-]+)/bootstrap\.zip", uri)
        assert match, f"{name}: CodeUri {uri!r} is not a package zip"
        assert match.group(1) in functions, f"{name}: {match.group(1)} is not packaged"
        deployed.add(match.group(1))
        runtime = props.get("Runtime", globals_.get("Runtime"))
        arch = props.get("Architectures", globals_.get("Architectures"))
        assert runtime == "provided.al2023", f"{name}: runtime {runtime}"
        assert arch == ["arm64"], f"{name}: architectures {arch}"
        variables = dict(globals_.get("Environment", {}).get("Variables", {}))
        variables.update(props.get("Environment", {}).get("Variables", {}))
        bundle = variables.get("SSL_CERT_FILE")
        assert bundle == AL2023_CA_BUNDLE, f"{name}: SSL_CERT_FILE {bundle!r}"
    unused = set(functions) - deployed
    assert not unused, f"packaged but never deployed: {sorted(unused)}"
    print(f"package: {len(functions)} functions, every CodeUri a package zip")


if __name__ == "__main__":
    main(sys.argv[1])
