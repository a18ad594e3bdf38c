#!/bin/sh
# job.sh: a long job that reports its progress to one relay page (wslab).
#
# Usage: sh job.sh UUID PORT [HOST] [--tls]     (HOST defaults to 127.0.0.1)
#
# --tls: https, for a server started with --tls-cert (make run-tls); the
# certificate is checked against certs/cert.pem (make cert's), or $WSLAB_CA
# if set, or the system's certificates when neither file exists.
#
# Each message is one HTTP request: POST /api/relay with a JSON object as the
# body. The answer is 200 {"ok":true,"delivered":1}, or an error such as
# 404 {"ok":false,"error":"unknown uuid"} when no page has that UUID.
set -u

scheme=http
for arg in "$@"; do
  shift
  if [ "$arg" = --tls ]; then scheme=https; else set -- "$@" "$arg"; fi
done
if [ $# -lt 2 ]; then
  echo "usage: sh job.sh UUID PORT [HOST] [--tls]" >&2
  exit 2
fi
uuid=$1
port=$2
host=${3:-127.0.0.1}
case $host in
  *:*) url="$scheme://[$host]:$port/api/relay" ;; # an IPv6 address goes in brackets
  *) url="$scheme://$host:$port/api/relay" ;;
esac
cacert=
ca=${WSLAB_CA:-certs/cert.pem}
if [ "$scheme" = https ] && [ -f "$ca" ]; then
  cacert=$ca
fi

# The UUID goes inside a JSON string: escape backslashes and quotes.
uuid_json=$(printf '%s' "$uuid" | sed 's/\\/\\\\/g; s/"/\\"/g')

step=1
while [ "$step" -le 10 ]; do
  body=$(printf '{"opcode":"feedback","uuid":"%s","progress":%d,"message":"step %d of 10"}' \
    "$uuid_json" $((step * 10)) "$step")
  echo "-> POST $url $body"
  # -w appends the status code on a line of its own after the body.
  answer=$(curl -sS ${cacert:+--cacert "$cacert"} -H 'Content-Type: application/json' \
    --data-binary "$body" -w '\n%{http_code}' "$url") || { echo "job.sh: cannot reach $url" >&2; exit 1; }
  status=$(printf '%s\n' "$answer" | tail -n 1)
  reply=$(printf '%s\n' "$answer" | sed '$d')
  echo "  <- $status $reply"
  if [ "$status" != 200 ]; then
    echo "job.sh: error reply: $status $reply" >&2
    exit 1
  fi
  step=$((step + 1))
  if [ "$step" -le 10 ]; then
    sleep 0.2 # the "work" of one step: 200 ms
  fi
done
echo "done: 10 feedback messages sent to $uuid"
