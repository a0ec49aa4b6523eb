#!/bin/sh
# fetch-musl.sh DESTDIR - unpack Debian's musl source package into DESTDIR/musl.
#
# The source comes from Debian's archive (apt-get source), so the version we
# patch is the one musl-tools ships on the same machine.  When no deb-src
# entry is configured we add one in a file of our own rather than editing the
# system's debian.sources, and say so.
set -eu

dest=${1:?usage: fetch-musl.sh DESTDIR}
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo=sudo; fi

if [ -d "$dest/musl/src" ]; then
	exit 0
fi

if ! command -v dpkg-source >/dev/null 2>&1; then
	echo "toolchain: installing dpkg-dev (apt-get source needs dpkg-source)"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev
fi

has_debsrc() {
	grep -qsE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}

if ! has_debsrc; then
	src=/etc/apt/sources.list.d/vsysbed-deb-src.sources
	echo "toolchain: no deb-src entry in the apt sources; adding $src for 'apt-get source musl'"
	. /etc/os-release
	codename=${VERSION_CODENAME:-bookworm}
	uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
	[ -n "$uri" ] || uri=http://deb.debian.org/debian
	printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		"$uri" "$codename" | $sudo tee "$src" >/dev/null
	$sudo apt-get update -qq
fi

tmp="$dest/.fetch"
rm -rf "$tmp"
mkdir -p "$tmp"
# dpkg-source applies Debian's own patches while unpacking; ours go on top.
(cd "$tmp" && apt-get source -qq musl >/dev/null)
dir=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'musl-*' | head -n1)
[ -n "$dir" ] || { echo "toolchain: apt-get source musl unpacked nothing" >&2; exit 1; }
rm -rf "$dest/musl"
mv "$dir" "$dest/musl"
rm -rf "$tmp"
