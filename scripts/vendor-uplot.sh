#!/usr/bin/env bash
# Refreshes the chart library the dashboard embeds (web/assets/vendor/):
# uPlot from npm at the pinned version, its minified script, stylesheet and
# licence. Needs npm; building and testing do not. Change VERSION, run this,
# check the dashboard's browser tests, and commit the files it wrote.
set -euo pipefail
VERSION=${1:-1.6.32}
cd "$(dirname "$0")/.."
out=web/assets/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$VERSION" >/dev/null && tar xzf uplot-"$VERSION".tgz)
mkdir -p "$out"
cp "$work/package/dist/uPlot.iife.min.js" "$out/uPlot.iife.min.js"
cp "$work/package/dist/uPlot.min.css" "$out/uPlot.min.css"
cp "$work/package/LICENSE" "$out/uPlot.LICENSE"
echo "uPlot $VERSION from npm (https://www.npmjs.com/package/uplot), MIT licence" > "$out/uPlot.VERSION"
sha256sum "$out"/uPlot.* | sed "s|$out/||"
