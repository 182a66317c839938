"""Renders the mamba-server config that helm/mamba-server's ConfigMap template writes (the
template's own text, with its few expressions substituted from values.yaml: .Values paths and
`toYaml .Values.config | nindent 4`), then asks the built mamba-server to validate it
(--check-config: every key, value and model directory, nothing loaded). Runs the chart's
defaults and the admin service enabled. No helm is needed (none is installed here); this checks
that the chart and the server agree on the configuration, not the other manifests.

usage: check_helm_config.py MAMBA_SERVER CHART_DIR WORK_DIR
"""
import os
import re
import subprocess
import sys

import yaml


def value(values, path):
    node = values
    for key in path.split("."):
        node = node[key]
    return node


def render_configmap(template, values):
    def to_yaml(m):
        indent = int(m.group(2))
        text = yaml.safe_dump(value(values, m.group(1)), default_flow_style=False, sort_keys=False)
        return "\n" + "\n".join(" " * indent + line for line in text.rstrip("\n").split("\n"))

    out = re.sub(r"\s*\{\{- toYaml \.Values\.([\w.]+) \| nindent (\d+) \}\}", to_yaml, template)
    out = re.sub(r"\s*\{\{- include [^}]*\}\}", "", out)
    out = re.sub(r"\{\{ include [^}]*\}\}", "mamba-server", out)

    def scalar(m):
        v = value(values, m.group(1))
        return str(v).lower() if isinstance(v, bool) else str(v)

    out = re.sub(r"\{\{ \.Values\.([\w.]+) \}\}", scalar, out)
    left = re.findall(r"\{\{.*?\}\}", out)
    if left:
        raise SystemExit(f"unrendered template expressions: {left}")
    return out


def main():
    server, chart, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    values = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
    template = open(os.path.join(chart, "templates", "configmap.yaml")).read()
    for admin in (False, True):
        values["admin"]["enabled"] = admin
        configmap = yaml.safe_load(render_configmap(template, values))
        text = configmap["data"]["mamba-server.yaml"]
        path = os.path.join(work, f"mamba-server-admin-{str(admin).lower()}.yaml")
        open(path, "w").write(text)
        r = subprocess.run([server, "--config", path, "--check-config"], capture_output=True, text=True, timeout=60)
        print(f"--- admin.enabled={admin}: {path}\n{text}--- mamba-server --check-config (rc {r.returncode})\n"
              f"{r.stdout}{r.stderr}")
        if r.returncode != 0:
            raise SystemExit("mamba-server rejected the chart's configuration")
        expected = (f"config OK: gRPC 0.0.0.0:{values['service']['grpcPort']}, "
                    f"metrics 0.0.0.0:{values['service']['metricsPort']}, "
                    f"admin {'0.0.0.0:%d' % values['admin']['port'] if admin else 'off'}")
        if expected not in r.stdout:
            raise SystemExit(f"expected '{expected}' in the summary")
    print("OK")


if __name__ == "__main__":
    main()
