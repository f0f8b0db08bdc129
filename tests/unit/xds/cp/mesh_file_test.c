/* mesh_file_test: the mesh file parser (xds/cp/mesh_file.c): a valid file,
 * defaults, and each kind of error with its exact FILE:LINE message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xds/cp/mesh.h"

static const char good[] =
	"trust_domain: example.org\n"
	"cert_ttl: 30m\n"
	"services:\n"
	"  web:\n"
	"    token: web-token-0123456789\n"
	"    app: 127.0.0.1:8080\n"
	"    inbound: \"[::1]:15006\"\n"
	"    outbound: 127.0.0.1:15001\n"
	"    calls: [api]\n"
	"  api:\n"
	"    token: api-token-0123456789\n"
	"    protocol: grpc\n"
	"    endpoints: [10.0.0.1:15006, 10.0.0.2:15006]\n"
	"    allow: [web, \"*\"]\n"
	"    routes:\n"
	"      - prefix: /v2/\n"
	"        to: api\n"
	"        rewrite: /\n"
	"    timeout: 1500ms\n"
	"    retries: {attempts: 3, on: \"5xx,reset\", per_try_timeout: 1s}\n"
	"    rate_limit: {requests: 10, per: 1m}\n";

static struct mesh_model *parse(const char *text, char *err)
{
	return mesh_parse("m.yaml", text, strlen(text), err, 512);
}

static void test_good(void **state)
{
	char err[512] = "";
	struct mesh_model *m = parse(good, err);
	const struct mesh_service *api, *web;

	assert_non_null(m);
	assert_string_equal(m->trust_domain, "example.org");
	assert_int_equal(m->cert_ttl_s, 1800);
	assert_int_equal(m->n_services, 2);
	assert_string_equal(m->services[0].name, "api"); /* sorted */
	api = mesh_find_service(m, "api");
	web = mesh_find_service(m, "web");
	assert_non_null(api);
	assert_non_null(web);
	assert_null(mesh_find_service(m, "nope"));
	assert_int_equal(api->protocol, MESH_PROTO_GRPC);
	assert_int_equal(api->n_endpoints, 2);
	assert_string_equal(api->endpoints[1].host, "10.0.0.2");
	assert_int_equal(api->endpoints[1].port, 15006);
	assert_int_equal(api->n_allow, 2);
	assert_string_equal(api->allow[1], "*");
	assert_int_equal(api->n_routes, 1);
	assert_string_equal(api->routes[0].prefix, "/v2/");
	assert_string_equal(api->routes[0].rewrite, "/");
	assert_int_equal(api->timeout_ms, 1500);
	assert_int_equal(api->retries.attempts, 3);
	assert_string_equal(api->retries.on, "5xx,reset");
	assert_int_equal(api->retries.per_try_timeout_ms, 1000);
	assert_int_equal(api->rate_limit.requests, 10);
	assert_int_equal(api->rate_limit.per_ms, 60000);
	assert_string_equal(web->inbound.host, "::1");
	assert_int_equal(web->inbound.port, 15006);
	assert_int_equal(web->n_calls, 1);
	assert_ptr_equal(mesh_find_by_token(m, "api-token-0123456789"), api);
	assert_null(mesh_find_by_token(m, "api-token-012345678"));
	assert_null(mesh_find_by_token(m, ""));
	mesh_model_free(m);
}

static void test_defaults(void **state)
{
	char err[512] = "";
	struct mesh_model *m = parse("services:\n  a:\n    allow: b\n  b: {}\n", err);

	assert_non_null(m);
	assert_string_equal(m->trust_domain, "tern.local");
	assert_int_equal(m->cert_ttl_s, 3600);
	assert_int_equal(mesh_find_service(m, "a")->n_allow, 1);
	assert_null(mesh_find_service(m, "a")->token);
	mesh_model_free(m);
}

struct bad {
	const char *text;
	const char *err;
};

static const struct bad bads[] = {
	{ "services:\n  a:\n    colour: red\n", "m.yaml:3: colour: unknown key in a service" },
	{ "services:\n  a:\n    app: 1.2.3.4:80\n    app: 1.2.3.4:81\n", "m.yaml:4: app: given twice in a service" },
	{ "services:\n  a:\n    app: 1.2.3.4:0\n",
	  "m.yaml:3: app: expected HOST:PORT with a port from 1 to 65535, found '1.2.3.4:0'" },
	{ "services:\n  a:\n    app: 1.2.3.4\n",
	  "m.yaml:3: app: expected HOST:PORT with a port from 1 to 65535, found '1.2.3.4'" },
	{ "services:\n  a:\n    calls: [b]\n", "m.yaml:3: calls: service 'b' (in service 'a') is not defined" },
	{ "services:\n  a:\n    token: short\n", "m.yaml:3: token: shorter than 16 characters" },
	{ "services:\n  a:\n    token: same-token-0123456789\n  b:\n    token: same-token-0123456789\n",
	  "m.yaml:4: token: service 'b' has the same token as service 'a'" },
	{ "services:\n  a:\n    allow: [web]\n", "m.yaml:3: allow: service 'web' (in service 'a') is not defined" },
	{ "services:\n  A_b: {}\n",
	  "m.yaml:2: services: 'A_b' is not a service name (1-63 of a-z 0-9 -, no leading or trailing -)" },
	{ "services:\n  a: {}\n  a: {}\n", "m.yaml:3: a: service defined twice (first at line 2)" },
	{ "services:\n  a:\n    timeout: 0s\n",
	  "m.yaml:3: timeout: expected a duration such as 250ms, 2s, 1m, 1h (at most 24h, not 0), found '0s'" },
	{ "services:\n  a:\n    timeout: 25h\n",
	  "m.yaml:3: timeout: expected a duration such as 250ms, 2s, 1m, 1h (at most 24h, not 0), found '25h'" },
	{ "services:\n  a:\n    retries: {on: 5xx}\n", "m.yaml:3: retries: attempts is required" },
	{ "services:\n  a:\n    retries: {attempts: 11}\n",
	  "m.yaml:3: attempts: expected an integer from 1 to 10, found '11'" },
	{ "services:\n  a:\n    retries: {attempts: 1, on: \"5xx,\"}\n",
	  "m.yaml:3: on: '5xx,' is not a comma-separated list of Envoy retry_on conditions" },
	{ "services:\n  a:\n    rate_limit: {requests: 5}\n", "m.yaml:3: rate_limit: requests and per are both required" },
	{ "services:\n  a:\n    routes:\n      - prefix: v2\n        to: a\n",
	  "m.yaml:4: prefix: must start with '/', found 'v2'" },
	{ "services:\n  a:\n    routes:\n      - prefix: /\n", "m.yaml:4: routes: a route needs prefix and to" },
	{ "services:\n  a:\n    protocol: udp\n", "m.yaml:3: protocol: expected http or grpc, found 'udp'" },
	{ "services:\n  a:\n    endpoints: 1.2.3.4:80\n", "m.yaml:3: endpoints: expected a list, found a scalar" },
	{ "services: [a]\n", "m.yaml:1: services: expected a mapping, found a list" },
	{ "trust_domain: Bad_Domain\nservices: {}\n",
	  "m.yaml:1: trust_domain: 'Bad_Domain' is not a trust domain (lower-case DNS name)" },
	{ "cert_ttl: 30s\nservices: {}\n", "m.yaml:1: cert_ttl: at least 1m" },
	{ "trust_domain: x\n", "m.yaml:1: services: missing" },
	{ "", "m.yaml:0: file: empty document" },
	{ "services:\n  a: {\n", "m.yaml:3: yaml: did not find expected node content while parsing a flow node" },
	{ "services:\n  a:\n    allow: [\"*x\"]\n",
	  "m.yaml:3: allow: '*x' is not a service name (1-63 of a-z 0-9 -, no leading or trailing -)" },
};

static void test_errors(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char err[512] = "";
		struct mesh_model *m = parse(bads[i].text, err);

		if (m || strcmp(err, bads[i].err) != 0)
			fail_msg("case %zu: got %s '%s', want '%s'", i, m ? "a model" : "error", err, bads[i].err);
	}
}

static void test_scalars(void **state)
{
	struct arena a;
	struct mesh_addr ad;
	uint32_t ms;

	arena_init(&a);
	assert_int_equal(mesh_parse_addr(&a, "[2001:db8::1]:443", &ad), 0);
	assert_string_equal(ad.host, "2001:db8::1");
	assert_int_equal(ad.port, 443);
	assert_int_equal(mesh_parse_addr(&a, "svc.local:65535", &ad), 0);
	assert_int_equal(mesh_parse_addr(&a, "::1:80", &ad), -1);
	assert_int_equal(mesh_parse_addr(&a, "a:65536", &ad), -1);
	assert_int_equal(mesh_parse_addr(&a, "a:-1", &ad), -1);
	assert_int_equal(mesh_parse_addr(&a, "a b:1", &ad), -1);
	assert_int_equal(mesh_parse_addr(&a, ":80", &ad), -1);
	arena_free(&a);
	assert_int_equal(mesh_parse_duration_ms("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(mesh_parse_duration_ms("24h", &ms), 0);
	assert_int_equal(ms, 86400000);
	assert_int_equal(mesh_parse_duration_ms("1441m", &ms), -1);
	assert_int_equal(mesh_parse_duration_ms("5", &ms), -1);
	assert_int_equal(mesh_parse_duration_ms("-5s", &ms), -1);
	assert_int_equal(mesh_parse_duration_ms("99999999999999999999s", &ms), -1);
}

static void test_size_limit(void **state)
{
	char err[512];
	static char big[MESH_FILE_MAX + 2];

	memset(big, ' ', sizeof(big) - 1);
	assert_null(mesh_parse("m.yaml", big, sizeof(big) - 1, err, sizeof(err)));
	assert_string_equal(err, "m.yaml:0: file: larger than 1048576 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_size_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
