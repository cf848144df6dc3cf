#!/bin/sh
# Runs one of logpipe's two commands; without one, says which there are.
#   docker run IMAGE logs2kafka tail /var/log/apache2/access.log
#   docker run IMAGE kafka2cassandra poll
set -eu

case "${1:-}" in
  logs2kafka | kafka2cassandra)
    exec "$@"
    ;;
  "" | -h | --help)
    cat <<'USAGE'
usage: logs2kafka COMMAND [OPTIONS] ...        (tail, ship, parse)
       kafka2cassandra COMMAND [OPTIONS] ...   (poll, schema, query)
Every option also reads an environment variable; see `<command> --help`.
USAGE
    [ -n "${1:-}" ] && exit 0 || exit 64
    ;;
  *)
    # Anything else (a shell, python) runs as given: useful when debugging a pod.
    exec "$@"
    ;;
esac
