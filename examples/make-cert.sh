#!/usr/bin/env bash
# make-cert.sh: a throwaway certificate authority and a certificate for
# localhost / 127.0.0.1 / *.localhost, for the HTTPS and TLS examples.
#
#   bash examples/make-cert.sh [DIR]     # default DIR: examples/tls
#
# Writes DIR/ca.crt (trust it with curl --cacert), DIR/localhost.crt and
# DIR/localhost.key. Needs openssl. Never use these outside a demo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$here/tls}"
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
	-subj "/CN=Gantry example CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=localhost" -keyout localhost.key -out localhost.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,DNS:*.localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf
openssl x509 -req -in localhost.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
	-extfile ext.cnf -out localhost.crt 2>/dev/null
rm -f localhost.csr ext.cnf ca.srl
chmod 600 ca.key localhost.key
echo "wrote $dir/ca.crt, $dir/localhost.crt and $dir/localhost.key"
