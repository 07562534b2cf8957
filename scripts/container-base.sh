#!/usr/bin/env bash
# Makes a local base image for the Containerfile where no image registry is reachable
# (this project's test machines): Debian bookworm (debootstrap --variant=minbase, from the
# machine's own apt mirror) with Node from the npm registry's `node` package as
# /usr/local/bin/node, as the official Node image has it. Prints the image's name last:
#   podman build --build-arg BASE="$(bash scripts/container-base.sh)" -t meshpool:latest .
# The image is named by a hash of this script and the Node version, and kept: a second run
# finds it (`podman image exists`) and returns at once. Needs root (debootstrap, podman).
# Progress goes to stderr.
set -euo pipefail

suite=bookworm
node_version=${MESHPOOL_BASE_NODE:-22.23.3}
script=${BASH_SOURCE[0]}
key=$({
  cat "$script"
  echo "$suite $node_version"
} | sha256sum | cut -c1-12)
repo=localhost/meshpool-base
image=$repo:$suite-node$node_version-$key

fail() {
  echo "container-base.sh: $*" >&2
  exit 1
}

# debootstrap is in /usr/sbin, which a non-login shell's PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin
for tool in podman debootstrap npm; do
  command -v "$tool" >/dev/null ||
    fail "no $tool on PATH: install Debian's podman runc debootstrap (apt-get install -y --no-install-recommends podman runc debootstrap) and Node with npm"
done
if (($(id -u) != 0)); then fail "debootstrap needs root (it runs as uid $(id -u)): run this as root"; fi

if podman image exists "$image"; then
  echo "$image (cached)" >&2
  echo "$image"
  exit 0
fi

# The mirror the machine's apt uses for $suite, read now: deb822 sources first, then sources.list.
mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -f $file ]] || continue
    # In each stanza (blank-line separated), the first URI of one whose Suites name $suite.
    awk -v suite="$suite" 'BEGIN { RS = ""; FS = "\n" }
      {
        uri = ""; found = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uri = u[2] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) found = 1 }
        }
        if (found && uri != "") { print uri; exit }
      }' "$file"
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $file ]] || continue
    awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' "$file"
  done
}
uri=$(mirror | head -n 1)
[[ -n $uri ]] || fail "no apt source for $suite in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list: debootstrap needs a Debian mirror"

work=$(mktemp -d "${TMPDIR:-/tmp}/meshpool-base-XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
begun=$SECONDS
echo "debootstrap --variant=minbase $suite from the machine's apt mirror" >&2
if ! debootstrap --variant=minbase "$suite" "$rootfs" "$uri" >"$work/debootstrap.log" 2>&1; then
  tail -n 20 "$work/debootstrap.log" >&2
  fail "debootstrap failed (its log's end above)"
fi
# What an image needs none of: the downloaded packages, the package lists, docs.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

echo "node@$node_version from the npm registry" >&2
npm install --prefix "$work/npm" --no-audit --no-fund --no-save "node@$node_version" >&2
install -m 755 "$work/npm/node_modules/node/bin/node" "$rootfs/usr/local/bin/node"
got=$(chroot "$rootfs" /usr/local/bin/node --version) || fail "the node binary doesn't run in the $suite rootfs"
[[ $got == "v$node_version" ]] || fail "npm's node@$node_version runs as $got"

tar -C "$rootfs" -c . | podman import --quiet - "$image" >/dev/null
# Older bases of this script (another hash or Node) are not used again.
podman images --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -vxF "$image" | xargs -r podman rmi >/dev/null || true
echo "$image made in $((SECONDS - begun)) s" >&2
echo "$image"
