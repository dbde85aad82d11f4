# Sourced by the .ci scripts: copy the tracked tree (plus untracked, unignored files)
# into a fresh temporary directory and cd there, so that a special build never touches
# the developer's in-place build.
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pydl-build-XXXXXX")
(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$src" && xargs -0 cp --parents -t "$work" 2>/dev/null || true)
cd "$work"
echo "building in $work"
if [ -z "${PYDL_KEEP_BUILD:-}" ]; then
    trap 'cd / && rm -rf "$work"' EXIT
fi
