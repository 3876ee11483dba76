#!/usr/bin/env bash
# A local certificate authority and a server certificate for 127.0.0.1 and localhost, for
# `tls.cert` / `tls.key` (README "TLS"). Usage: scripts/dev-cert.sh [DIR] (default ./certs).
# Writes DIR/ca.pem (trust this one in clients), DIR/ca-key.pem, DIR/cert.pem and DIR/key.pem.
set -euo pipefail
dir=${1:-certs}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=llm-simulator local CA" \
  -keyout ca-key.pem -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 -extfile server.ext -out cert.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 600 key.pem ca-key.pem
echo "wrote $dir/ca.pem (trust it: NODE_EXTRA_CA_CERTS=$dir/ca.pem), $dir/cert.pem and $dir/key.pem"
