#!/bin/sh
# The package flags and keys (docs/packages.md): setup's --python ...
# --bash lists and the configuration's `dependencies`, build's --install,
# --tag and --setup, the `packages` keys. A bad item is a usage error
# (exit 2) naming it, found before Docker is asked: DOCKER_HOST points at
# no socket, so anything that reached Docker would exit 3 instead (the
# good lists below do, which proves they passed every check).
. "$(dirname "$0")/lib.sh"

nodocker() { status 3 "Docker is not running" "$@"; }
config() { printf '%s\n' "$1" >isol8.config.json; }

# setup's lists: each runtime's grammar, the item named.
usage "python package \`-e\`: looks like an option" setup --python numpy,-e
usage "python package \`--index-url=http://x\`" setup --python "--index-url=http://x"
usage "python package \`https://x/y.whl\`" setup --python numpy --python https://x/y.whl
usage "python package \`numpy; os_name=='nt'\`" setup --python "numpy; os_name=='nt'"
usage "node (npm) package \`../x\`" setup --node ../x
usage "node (npm) package \`Zod\`" setup --node Zod
usage "bun (npm) package \`github:u/r\`" setup --bun github:u/r
usage "deno package \`zod\`" setup --deno zod
usage "bash (Debian) package \`jq;id\`" setup --bash "jq;id"
usage "bash (Debian) package \`/tmp/x.deb\`" setup --bash /tmp/x.deb
# Good lists pass every check and reach Docker (none here).
nodocker setup --python "numpy,pandas>=2,<3" --python requests --node zod@3 \
	--bun hono --deno npm:zod,jsr:@std/path --bash jq=1.6-2.1 --replace
nodocker setup --replace
nodocker setup --python ""

# The configuration's lists: checked at load, the key and item named.
config '{"dependencies":{"node":["--registry=http://evil"]}}'
usage "\`dependencies.node\`: node (npm) package \`--registry=http://evil\`" setup
usage "\`dependencies.node\`" config
config '{"dependencies":{"perl":["x"]}}'
usage "unknown key \`dependencies.perl\`" setup
config '{"packages":{"pipIndexUrl":"http://u:p@h/simple"}}'
usage "\`packages\`: the pip index URL" setup
config '{"packages":{"caBundle":"missing.pem"}}'
usage "\`packages.caBundle\`: missing.pem: No such file" config
config '{"dependencies":{"python":["numpy"]},"packages":{"npmRegistry":"http://127.0.0.1:4873/"}}'
nodocker setup --python pandas
"$ISOL8" config --json >"$work/out" 2>"$work/err"
rc=$?
if [ "$rc" = 0 ] && grep -qF '"dependencies":{"python":["numpy"],"node":[],"bun":[],"deno":[],"bash":[]},"packages":{"pipIndexUrl":null,"npmRegistry":"http://127.0.0.1:4873/","caBundle":null}' "$work/out"; then
	pass "config --json shows dependencies and packages"
else
	fail "config --json shows dependencies and packages"
fi
rm -f isol8.config.json

# build: its flags, the name, the commands.
usage "needs --base RUNTIME and --tag NAME" build --base python --install x
usage "--base \`ruby\`" build --base ruby --tag t --install x
usage "nothing to build" build --base python --tag t
usage "python package \`-e\`: looks like an option" build --base python --tag t --install numpy,-e
usage "node (npm) package \`../x\`" build --base node --tag t --install ../x
usage "isol8/ is where setup keeps the runtime images" build --base python --tag isol8/python:latest --install numpy
usage "isol8/ is where setup keeps" build --base python --tag isol8/mine --install numpy
usage "image name \`Upper/Case\`" build --base python --tag Upper/Case --install numpy
usage "image name \`t:bad tag\`" build --base python --tag "t:bad tag" --install numpy
usage "image name \`t:\`" build --base python --tag "t:" --install numpy
usage "image name \`-t\`" build --base python --tag "-t" --install numpy
usage "image name \`a//b\`" build --base python --tag "a//b" --install numpy
usage "setup command 1 has a control byte" build --base bash --tag t --setup "$(printf 'a\033b')"
usage "setup command 2 is empty" build --base bash --tag t --setup true --setup ""
head -c 9000 /dev/zero | tr '\0' 'x' >big.sh
usage "--setup big.sh" build --base bash --tag t --setup big.sh
nodocker build --base python --tag localhost:5000/team/img:v1.2 --install numpy
nodocker build --base bash --tag my-img --setup "apt-get install -y jq" --setup "echo ok"
printf 'echo from a file\n' >setup.sh
nodocker build --base bash --tag my-img --setup setup.sh
nodocker list-custom

finish
