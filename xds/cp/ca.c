/*
 * ca.c: key generation and certificate signing with OpenSSL 3 (Debian's
 * libssl). Leaves are kept in a small array searched linearly: one per
 * service identity of the mesh.
 */
#include "xds/cp/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "xds/cp/ads.h"

#define CA_LIFETIME_S (10L * 365 * 86400)
#define CA_BACKDATE_S 60      /* clock skew between tern-cp and proxies */

struct ca {
	EVP_PKEY *key;
	X509 *cert;
	char *cert_pem;
	struct ca_leaf *leaves;
	unsigned n, cap;
};

static char *bio_string(BIO *b)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	char *s = malloc((size_t)n + 1);

	if (!s)
		abort();
	memcpy(s, p, (size_t)n);
	s[n] = '\0';
	return s;
}

static void ossl_err(char *err, size_t errlen, const char *what)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, buf);
}

static int random_serial(X509 *x, char hex[40])
{
	unsigned char b[16];
	BIGNUM *bn;
	char *h;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[0] &= 0x7f;   /* positive */
	b[0] |= 0x01;   /* and not short */
	bn = BN_bin2bn(b, sizeof(b), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
		BN_free(bn);
		return -1;
	}
	h = BN_bn2hex(bn);
	snprintf(hex, 40, "%s", h ? h : "");
	OPENSSL_free(h);
	BN_free(bn);
	return 0;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *new_cert(EVP_PKEY *pub, X509 *issuer, long lifetime, char serial[40])
{
	X509 *x = X509_new();

	if (!x || !X509_set_version(x, 2) || random_serial(x, serial) < 0 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -CA_BACKDATE_S) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), lifetime) || !X509_set_pubkey(x, pub)) {
		X509_free(x);
		return NULL;
	}
	if (issuer && !X509_set_issuer_name(x, X509_get_subject_name(issuer))) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int generate(struct ca *ca, char *err, size_t errlen)
{
	X509_NAME *name;
	char serial[40];

	ca->key = EVP_EC_gen("P-256");
	if (!ca->key) {
		ossl_err(err, errlen, "CA key");
		return -1;
	}
	ca->cert = new_cert(ca->key, NULL, CA_LIFETIME_S, serial);
	if (!ca->cert)
		goto fail;
	name = X509_get_subject_name(ca->cert);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tern mesh", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"tern-cp CA", -1, -1, 0) ||
	    !X509_set_issuer_name(ca->cert, name) ||
	    add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
	    add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") < 0 ||
	    !X509_sign(ca->cert, ca->key, EVP_sha256()))
		goto fail;
	return 0;
fail:
	ossl_err(err, errlen, "CA certificate");
	return -1;
}

static int write_file(const char *path, const char *data, mode_t mode, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	size_t len = strlen(data), off = 0;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return close(fd) == 0 ? 0 : -1;
}

struct ca *ca_open(const char *dir, char *err, size_t errlen)
{
	struct ca *ca = calloc(1, sizeof(*ca));
	char kpath[4096], cpath[4096];
	BIO *b;

	if (!ca)
		abort();
	if (dir) {
		snprintf(kpath, sizeof(kpath), "%s/ca.key", dir);
		snprintf(cpath, sizeof(cpath), "%s/ca.crt", dir);
	}
	if (dir && access(kpath, F_OK) == 0) {
		FILE *f = fopen(kpath, "r");

		if (f) {
			ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
			fclose(f);
		}
		f = fopen(cpath, "r");
		if (f) {
			ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
		if (!ca->key || !ca->cert) {
			snprintf(err, errlen, "%s, %s: cannot read a PEM key and certificate", kpath, cpath);
			goto fail;
		}
		if (X509_check_private_key(ca->cert, ca->key) != 1) {
			snprintf(err, errlen, "%s does not belong to %s", kpath, cpath);
			goto fail;
		}
		if (EVP_PKEY_get_base_id(ca->key) != EVP_PKEY_EC) {
			snprintf(err, errlen, "%s: not an ECDSA key", kpath);
			goto fail;
		}
	} else if (generate(ca, err, errlen) < 0) {
		goto fail;
	}
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, ca->cert);
	ca->cert_pem = bio_string(b);
	BIO_free(b);
	if (dir && access(kpath, F_OK) != 0) {
		char *kpem;

		b = BIO_new(BIO_s_mem());
		PEM_write_bio_PrivateKey(b, ca->key, NULL, NULL, 0, NULL, NULL);
		kpem = bio_string(b);
		BIO_free(b);
		if (write_file(kpath, kpem, 0600, err, errlen) < 0 ||
		    write_file(cpath, ca->cert_pem, 0644, err, errlen) < 0) {
			OPENSSL_cleanse(kpem, strlen(kpem));
			free(kpem);
			goto fail;
		}
		OPENSSL_cleanse(kpem, strlen(kpem));
		free(kpem);
	}
	return ca;
fail:
	ca_free(ca);
	return NULL;
}

static void leaf_clear(struct ca_leaf *l)
{
	free(l->identity);
	free(l->cert_pem);
	if (l->key_pem) {
		OPENSSL_cleanse(l->key_pem, strlen(l->key_pem));
		free(l->key_pem);
	}
	memset(l, 0, sizeof(*l));
}

void ca_free(struct ca *ca)
{
	unsigned i;

	if (!ca)
		return;
	for (i = 0; i < ca->n; i++)
		leaf_clear(&ca->leaves[i]);
	free(ca->leaves);
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca->cert_pem);
	free(ca);
}

const char *ca_cert_pem(const struct ca *ca)
{
	return ca->cert_pem;
}

static int issue(struct ca *ca, const char *identity, const char *extra_san, uint32_t ttl_s,
		 struct ca_leaf *out)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = NULL;
	X509_NAME *name;
	BIO *b;
	char san[600];
	time_t now = time(NULL);
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!key)
		goto out;
	x = new_cert(key, ca->cert, (long)ttl_s, out->serial);
	if (!x)
		goto out;
	name = X509_get_subject_name(x);
	if ((size_t)snprintf(san, sizeof(san), "URI:%s%s%s", identity, extra_san ? "," : "",
			     extra_san ? extra_san : "") >= sizeof(san))
		goto out;
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tern mesh", -1, -1, 0) ||
	    add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature,keyAgreement") < 0 ||
	    add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
	    add_ext(x, ca->cert, NID_subject_alt_name, san) < 0 ||
	    add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") < 0 ||
	    !X509_sign(x, ca->key, EVP_sha256()))
		goto out;
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	out->cert_pem = bio_string(b);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
	out->key_pem = bio_string(b);
	BIO_free(b);
	out->identity = strdup(identity);
	if (!out->identity)
		abort();
	out->not_before = now - CA_BACKDATE_S;
	out->not_after = now + (time_t)ttl_s;
	out->renew_at = now + (time_t)ttl_s / 2;
	rc = 0;
out:
	if (rc < 0) {
		char buf[256];

		ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
		cp_log("error", "ca: cannot issue a certificate for %s: %s", identity, buf);
	}
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

const struct ca_leaf *ca_leaf(struct ca *ca, const char *identity, uint32_t ttl_s, int *issued)
{
	struct ca_leaf fresh, *l = NULL;
	time_t now = time(NULL);
	unsigned i;

	*issued = 0;
	for (i = 0; i < ca->n; i++)
		if (strcmp(ca->leaves[i].identity, identity) == 0)
			l = &ca->leaves[i];
	if (l && now < l->renew_at && l->not_after - (l->not_before + CA_BACKDATE_S) == (time_t)ttl_s)
		return l;
	if (issue(ca, identity, NULL, ttl_s, &fresh) < 0)
		return l;
	if (!l) {
		if (ca->n == ca->cap) {
			ca->cap = ca->cap ? ca->cap * 2 : 16;
			ca->leaves = realloc(ca->leaves, ca->cap * sizeof(*ca->leaves));
			if (!ca->leaves)
				abort();
		}
		l = &ca->leaves[ca->n++];
	} else {
		leaf_clear(l);
	}
	*l = fresh;
	*issued = 1;
	cp_log("info", "ca: issued %s serial %s valid until %ld", identity, l->serial, (long)l->not_after);
	return l;
}

time_t ca_due(const struct ca *ca)
{
	time_t due = 0;
	unsigned i;

	for (i = 0; ca && i < ca->n; i++)
		if (!due || ca->leaves[i].renew_at < due)
			due = ca->leaves[i].renew_at;
	return due;
}

void ca_dump_json(const struct ca *ca, struct evbuffer *out)
{
	unsigned i;

	if (!ca) {
		evbuffer_add_printf(out, "{\"enabled\":false}\n");
		return;
	}
	evbuffer_add(out, "{\"enabled\":true,\"certificate\":", 30);
	json_str(out, ca->cert_pem);
	evbuffer_add(out, ",\"leaves\":[", 11);
	for (i = 0; i < ca->n; i++) {
		const struct ca_leaf *l = &ca->leaves[i];

		evbuffer_add_printf(out, "%s{\"identity\":", i ? "," : "");
		json_str(out, l->identity);
		evbuffer_add_printf(out, ",\"serial\":\"%s\",\"not_before\":%ld,\"not_after\":%ld,\"renew_at\":%ld}",
				    l->serial, (long)l->not_before, (long)l->not_after, (long)l->renew_at);
	}
	evbuffer_add(out, "]}\n", 3);
}

int ca_issue_serving(struct ca *ca, const char *identity, const char *sans, uint32_t ttl_s,
		     struct ca_leaf *out)
{
	if (issue(ca, identity, sans, ttl_s, out) < 0)
		return -1;
	cp_log("info", "ca: issued the xDS serving certificate %s (%s) serial %s valid until %ld",
	       identity, sans, out->serial, (long)out->not_after);
	return 0;
}

void ca_leaf_free(struct ca_leaf *l)
{
	leaf_clear(l);
}
