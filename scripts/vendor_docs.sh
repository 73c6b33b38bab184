#!/usr/bin/env bash
# Refresh the API documentation pages' libraries from the npm registry: Swagger UI's built
# bundle and stylesheet (swagger-ui-dist) and ReDoc's standalone bundle (redoc), with their
# licenses, copied into api/static/vendor/ (served offline: /docs and /redoc use no CDN).
#
#     scripts/vendor_docs.sh [SWAGGER_UI_VERSION] [REDOC_VERSION]   # default: the VERSION files
set -euo pipefail
cd "$(dirname "$0")/.."
swagger=api/static/vendor/swagger-ui
redoc=api/static/vendor/redoc
swagger_version="${1:-$(cat "$swagger/VERSION")}"
redoc_version="${2:-$(cat "$redoc/VERSION")}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/s" "$work/r" "$swagger" "$redoc"
(cd "$work/s" && npm pack --silent "swagger-ui-dist@$swagger_version" >/dev/null \
    && tar xzf "swagger-ui-dist-$swagger_version.tgz")
(cd "$work/r" && npm pack --silent "redoc@$redoc_version" >/dev/null \
    && tar xzf "redoc-$redoc_version.tgz")
cp "$work/s/package/swagger-ui-bundle.js" "$work/s/package/swagger-ui-bundle.js.LICENSE.txt" \
   "$work/s/package/swagger-ui.css" "$work/s/package/LICENSE" "$work/s/package/NOTICE" \
   "$swagger/"
cp "$work/r/package/bundles/redoc.standalone.js" \
   "$work/r/package/bundles/redoc.standalone.js.LICENSE.txt" "$work/r/package/LICENSE" "$redoc/"
# the bundles name their source maps, which are not shipped: drop the reference
sed -i '/^\/\/# sourceMappingURL=/d' "$swagger/swagger-ui-bundle.js" "$redoc/redoc.standalone.js"
sed -i 's#/\*\# sourceMappingURL=[^*]*\*/##' "$swagger/swagger-ui.css"
# ReDoc's "powered by" logo is loaded from its CDN: point it at an empty picture instead
sed -i "s#https://cdn.redoc.ly/redoc/logo-mini.svg#data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E#" \
    "$redoc/redoc.standalone.js"
! grep -q "cdn.redoc.ly" "$redoc/redoc.standalone.js"
echo "$swagger_version" > "$swagger/VERSION"
echo "$redoc_version" > "$redoc/VERSION"
echo "Swagger UI $swagger_version and ReDoc $redoc_version vendored into api/static/vendor/"
