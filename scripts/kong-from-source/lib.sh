# Shared by the steps of scripts/kong-from-source.sh: finding a pinned source and logging.
# shellcheck source=pins.sh
. "$(dirname "${BASH_SOURCE[0]}")/pins.sh"

say() { printf '[kong-from-source] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# pin NAME -> "MIRROR COMMIT"
pin() {
  local line
  line=$(printf '%s\n' "$KONG_PINS" | awk -v n="$1" '$1 == n { print $2, $3 }')
  [ -n "$line" ] || die "no pin named $1"
  printf '%s\n' "$line"
}

# git_dir MIRROR -> the bare repository fetch left under $SOURCES
git_dir() {
  local d="$SOURCES/$1/repo"
  [ -d "$d" ] || d="$SOURCES/$1"
  [ ! -d "$d/.git" ] || d="$d/.git" # some mirrors arrive as a work tree's .git
  git --git-dir="$d" rev-parse --git-dir >/dev/null 2>&1 || die "no git repository for $1 under $SOURCES"
  printf '%s\n' "$d"
}

# export_tree NAME DEST: the pinned commit of NAME, as files in DEST (replaced if there).
export_tree() {
  local mirror commit gd
  read -r mirror commit <<<"$(pin "$1")"
  gd=$(git_dir "$mirror")
  git --git-dir="$gd" cat-file -e "$commit^{commit}" 2>/dev/null || die "$mirror lacks commit $commit ($1)"
  rm -rf "$2" && mkdir -p "$2"
  git --git-dir="$gd" archive "$commit" | tar -x -C "$2"
}

# show_file NAME PATH: one file of NAME at its pin (or at COMMIT given as a third argument).
show_file() {
  local mirror commit
  read -r mirror commit <<<"$(pin "$1")"
  git --git-dir="$(git_dir "$mirror")" show "${3:-$commit}:$2"
}

# stamped STEP / stamp STEP: a step is skipped on the next run once its stamp exists (--force
# reruns it).
stamped() { [ -z "${FORCE:-}" ] && [ -f "$WORK/.done-$1" ]; }
stamp() { touch "$WORK/.done-$1"; }

# The C libraries and tools from Debian the build links or runs (installed when missing).
KONG_DEBS="build-essential perl patch libpcre2-dev libssl-dev zlib1g-dev libyaml-dev libexpat1-dev libsnappy-dev jq"
debian_packages() {
  local missing=() p
  for p in $KONG_DEBS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  # A fresh machine may have no package lists yet: fetched once, then the install is tried again.
  $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${missing[@]}" >/dev/null; } ||
    die "apt-get install ${missing[*]}"
}
