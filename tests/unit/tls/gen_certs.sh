#!/bin/sh
# Test PKI for the TLS tests, generated at run time with the openssl CLI (no
# private key is checked in). Usage: gen_certs.sh <out-dir>
#
#   ca.pem ca.key              "tern test CA" (ECDSA P-256), issues everything below
#   other-ca.pem               another CA (for "unknown CA" cases)
#   server.pem                 ECDSA P-256 leaf + key in one file (HAProxy crt):
#                              SAN DNS www.example.com, api.example.com; CN www.example.com
#   server.pem.ocsp            a DER OCSP response for server.pem ("good"), to staple
#   svc.pem                    a sidecar's own certificate: SAN DNS www.example.com,
#                              URI spiffe://mesh.local/ns/b/sa/api (XFCC By=)
#   rsa.pem + rsa.pem.key      RSA-2048 leaf, key beside it: SAN DNS rsa.example.com
#   wild.pem                   SAN DNS *.wild.test (CN *.wild.test)
#   client.pem                 SAN URI spiffe://mesh.local/ns/a/sa/frontend, DNS client.mesh.local
#   client-other.pem           SAN URI spiffe://mesh.local/ns/a/sa/other
#   client-foreign.pem         like client.pem, issued by other-ca
#   client-multi-uri.pem       two URI SANs (not an SVID)
#   client-bad-spiffe.pem      URI SAN spiffe://Mesh.Local/x (upper case trust domain)
#   expired.pem                valid 2020-01-01 .. 2020-01-02
#   mismatch.pem               server.pem's certificate with rsa.pem's key
#   dir/                       a crt directory: 10-server.pem, 20-wild.pem(+.ocsp ignored names)
set -eu
out=$1
mkdir -p "$out"
cd "$out"

cat > ca.cnf <<'CNF'
[ ca ]
default_ca = tca
[ tca ]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
default_days = 30
[ anything ]
commonName = supplied
organizationName = optional
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
mkdir -p newcerts
: > index.txt
echo 1000 > serial

q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@"; exit 1; }; }

q openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -days 30 -subj "/O=tern/CN=tern test CA" \
    -config ca.cnf -extensions v3_ca
q openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout other-ca.key -out other-ca.pem -days 30 -subj "/O=other/CN=other CA" \
    -config ca.cnf -extensions v3_ca

# leaf <name> <subject> <san> <keyalg> [ca-prefix] [extra openssl ca args...]
leaf() {
    name=$1 subj=$2 san=$3 alg=$4 ca=${5:-ca}
    shift 5 2>/dev/null || shift $#
    if [ "$alg" = rsa ]; then
        q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.key"
    else
        q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key"
    fi
    q openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" -config ca.cnf
    printf 'basicConstraints = CA:false\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = %s\n' "$san" > "$name.ext"
    q openssl ca -batch -config ca.cnf -cert "$ca.pem" -keyfile "$ca.key" -in "$name.csr" \
        -out "$name.crt" -extfile "$name.ext" -notext "$@"
}

leaf server "/O=tern/CN=www.example.com" "DNS:www.example.com,DNS:api.example.com" ec ca
cat server.crt server.key > server.pem
leaf svc "/O=tern/CN=api" "DNS:www.example.com,URI:spiffe://mesh.local/ns/b/sa/api" ec ca
cat svc.crt svc.key > svc.pem
leaf rsa "/CN=rsa.example.com" "DNS:rsa.example.com" rsa ca
cp rsa.crt rsa.pem
cp rsa.key rsa.pem.key
leaf wild "/CN=*.wild.test" "DNS:*.wild.test" ec ca
cat wild.crt wild.key > wild.pem
leaf client "/O=tern/CN=frontend" "URI:spiffe://mesh.local/ns/a/sa/frontend,DNS:client.mesh.local" ec ca
cat client.crt client.key > client.pem
leaf client-other "/O=tern/CN=other" "URI:spiffe://mesh.local/ns/a/sa/other" ec ca
cat client-other.crt client-other.key > client-other.pem
leaf client-foreign "/O=evil/CN=frontend" "URI:spiffe://mesh.local/ns/a/sa/frontend" ec other-ca
cat client-foreign.crt client-foreign.key > client-foreign.pem
leaf client-multi-uri "/CN=multi" "URI:spiffe://mesh.local/a,URI:https://example.com/b" ec ca
cat client-multi-uri.crt client-multi-uri.key > client-multi-uri.pem
leaf client-bad-spiffe "/CN=bad" "URI:spiffe://Mesh.Local/x" ec ca
cat client-bad-spiffe.crt client-bad-spiffe.key > client-bad-spiffe.pem
leaf expired "/CN=expired.example.com" "DNS:expired.example.com" ec ca \
    -startdate 20200101000000Z -enddate 20200102000000Z
cat expired.crt expired.key > expired.pem
cat server.crt rsa.key > mismatch.pem

# OCSP: the CA answers for server.crt from its own index (responder mode, no network).
q openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem \
    -issuer ca.pem -cert server.crt -respout server.pem.ocsp -ndays 1

mkdir -p dir
cp server.pem dir/10-server.pem
cp wild.pem dir/20-wild.pem
cp server.pem.ocsp dir/10-server.pem.ocsp
echo ok
