# shellcheck shell=bash
# What the allocator comparisons share (sourced by tools/bench and tools/bench-programs): the builds
# of nodealloc they measure and the peer allocators they measure it against. In one place so that
# both compare the same builds with the same peers, and so that the two scripts, which configure the
# same build directories, never configure them differently and rebuild each other's work.
#
# Sourcing it needs the checkout's root as the working directory and a say() for progress; it
# defines the variables and functions below and runs nothing but a few look-ups.

# The release drop-in, what users preload for speed, with the benchmark programs of bench/.
bench_release_dir=build/bench-release
# shellcheck disable=SC2207  # the options are words on purpose
bench_release_options=($(tools/release-options) -Dtests=false -Dprops=false -Dfuzzing=false -Dbench=true)

# bench_setup DIR OPTION...: configures DIR (reconfigures it when it is configured already); the
# log is DIR-setup.log, whose compiler line the reports quote.
bench_setup() {
  local dir=$1; shift
  mkdir -p "$(dirname "$dir")"
  if [[ -f $dir/build.ninja ]]; then meson setup --reconfigure "$dir" "$@" >"$dir-setup.log" 2>&1
  else meson setup "$dir" "$@" >"$dir-setup.log" 2>&1; fi
}

# bench_build_preset PRESET: build/bench-PRESET's drop-in, the release build but for
# -Dhardening=PRESET (so a difference in time is the preset's alone). Prints the drop-in's path;
# fails, with its logs in build/, when it does not build.
bench_build_preset() {
  local dir=build/bench-$1
  # shellcheck disable=SC2207
  local options=($(tools/release-options | sed "s/-Dhardening=none/-Dhardening=$1/") -Dtests=false -Dprops=false -Dbench=false)
  say "building $dir (${options[*]})"
  bench_setup "$dir" "${options[@]}" && meson compile -C "$dir" nodealloc >"$dir-compile.log" 2>&1 \
    && echo "$root/$dir/core/libnodealloc.so"
}

# --- the peers: Debian's packages (tools/install-deps bench) and clang's scudo -------------------
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
libdir=/usr/lib/$multiarch
scudo=$(find /usr/lib/llvm-14/lib/clang -path "*/lib/linux/libclang_rt.scudo_standalone-$(uname -m).so" 2>/dev/null | sort | tail -n 1)
scudo=${scudo:-/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.scudo_standalone-x86_64.so}
# scudo's settings comparable to nodealloc's full preset: a quarantine, and new/delete/free
# mismatches reported (scudo's defaults have neither).
scudo_full_options="quarantine_size_kb=256:thread_local_quarantine_size_kb=64:quarantine_max_chunk_size=2048:dealloc_type_mismatch=true:delete_size_mismatch=true"
# name|library to preload (empty: none)|environment (NAME=value, or empty). scudo is the peer of
# nodealloc's hardened presets, the others of its release build.
peer_allocators=(
  "glibc||"
  "mimalloc|$libdir/libmimalloc.so.2|"
  "jemalloc|$libdir/libjemalloc.so.2|"
  "tcmalloc|$libdir/libtcmalloc.so.4|"
  "tcmalloc_minimal|$libdir/libtcmalloc_minimal.so.4|"
  "scudo|$scudo|"
)

upstream_version() {  # the upstream part of the version of the package that owns file $1
  local package="" version path
  # dpkg knows a file by the path its package ships, which /usr-merge or a symlink may hide.
  for path in "$1" "$(readlink -f "$1")" "$(readlink -f "$1" | sed 's|^/usr/lib/|/lib/|')"; do
    package=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
    [[ -n "$package" ]] && break
  done
  [[ -n "$package" ]] || return 0
  version=$(dpkg-query -W -f='${Version}' "$package" 2>/dev/null)
  version=${version#*:}
  echo "${version%%[-+~]*}"
}
