# shellcheck shell=bash disable=SC2034  # sourced: the variables set here are for the caller
# Command-line handling shared by bench/run-*-bench.sh (sourced).
#
#   bench_build_dir SCRIPT "$@"  sets BUILD from the first argument; prints SCRIPT's header
#                                comment (up to its `set -u` line) and exits 2 when that
#                                argument is missing, -h or --help
#   bench_options "$@"           the arguments after BUILD: --size S, --runtime S, --rounds N,
#                                --quick (128M, 2 s, 1 round), --only "a b", --keep, over the
#                                defaults the caller put in SIZE RUNTIME ROUNDS ONLY KEEP;
#                                an unknown option exits 2

bench_build_dir() {  # script args...
  local script=$1
  BUILD=${2:-}
  if [ -z "$BUILD" ] || [ "$BUILD" = "-h" ] || [ "$BUILD" = "--help" ]; then
    sed -n '2,/^set -u/p' "$script" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2
  fi
}

bench_options() {  # args after BUILD...
  while [ $# -gt 0 ]; do
    case "$1" in
      --size) SIZE=$2; shift 2 ;;
      --runtime) RUNTIME=$2; shift 2 ;;
      --rounds) ROUNDS=$2; shift 2 ;;
      --quick) SIZE=128M; RUNTIME=2; ROUNDS=1; shift ;;
      --only) ONLY=$2; shift 2 ;;
      --keep) KEEP=1; shift ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
  done
}
