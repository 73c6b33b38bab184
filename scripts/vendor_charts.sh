#!/usr/bin/env bash
# Refresh the dashboard's charting library from the npm registry: uPlot's built IIFE bundle,
# its stylesheet and its license, copied into api/static/vendor/uplot/ (served offline, no CDN).
#
#     scripts/vendor_charts.sh [VERSION]      # default: the version in api/static/vendor/uplot/VERSION
set -euo pipefail
cd "$(dirname "$0")/.."
dest=api/static/vendor/uplot
version="${1:-$(cat "$dest/VERSION")}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$version" >/dev/null && tar xzf "uplot-$version.tgz")
mkdir -p "$dest"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" \
   "$work/package/LICENSE" "$dest/"
echo "$version" > "$dest/VERSION"
echo "uPlot $version vendored into $dest"
