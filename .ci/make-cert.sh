#!/bin/sh
# make cert: a self-signed certificate for this machine's hostname and
# addresses (plus localhost), valid for a year, into DIR (default certs/).
set -eu
dir=${1:-certs}
mkdir -p "$dir"
host=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
san="DNS:localhost,DNS:$host,IP:127.0.0.1"
for ip in $(hostname -I 2>/dev/null || true); do
  case "$ip" in *:*) ;; *) san="$san,IP:$ip" ;; esac
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -subj "/CN=$host" -addext "subjectAltName=$san" \
  -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
chmod 600 "$dir/key.pem"
echo "wrote $dir/cert.pem and $dir/key.pem for $san"
