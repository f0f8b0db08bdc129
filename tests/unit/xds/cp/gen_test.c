/* gen_test: the resources generated for one sidecar (xds/cp/gen.c) and
 * their per-resource versions (xds/cp/snapshot.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "xds/cp/gen.h"
#include "xds/cp/mesh.h"

static const char mesh[] =
	"services:\n"
	"  web:\n"
	"    app: 127.0.0.1:8080\n"
	"    inbound: 127.0.0.1:15006\n"
	"    outbound: 127.0.0.1:15001\n"
	"    calls: [api]\n"
	"  api:\n"
	"    endpoints: [10.0.0.2:15006, 10.0.0.1:15006]\n"
	"    routes:\n"
	"      - {prefix: /v2/, to: api2}\n"
	"      - {prefix: /, to: api}\n"
	"    timeout: 3s\n"
	"  api2:\n"
	"    endpoints: [10.0.0.3:15006]\n";

static struct mesh_addr extra[2] = { { "10.0.0.9", 15006 }, { "10.0.0.1", 15006 } };
static unsigned n_extra;

static unsigned registry(void *ctx, const char *service, const struct mesh_addr **out)
{
	*out = extra;
	return strcmp(service, "api") == 0 ? n_extra : 0;
}

static struct cp_snapshot *build(const struct mesh_model *m, const char *svc)
{
	struct gen_input in = { .model = m, .endpoints = registry };
	const struct mesh_service *s = mesh_find_service(m, svc);
	struct gen_node node = { .svc = s, .inbound = s->inbound, .app = s->app, .outbound = s->outbound };

	return gen_snapshot(&in, &node, svc);
}

static void test_web(void **state)
{
	char err[512];
	struct mesh_model *m = mesh_parse("m", mesh, strlen(mesh), err, sizeof(err));
	struct cp_snapshot *s, *s2;
	const struct cp_resource *r;
	Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla;
	Envoy__Config__Route__V3__RouteConfiguration *rc;
	char v[17];

	assert_non_null(m);
	n_extra = 0;
	s = build(m, "web");
	assert_int_equal(s->n[CP_LDS], 2);
	assert_string_equal(s->res[CP_LDS][0].name, "inbound");
	assert_string_equal(s->res[CP_LDS][1].name, "outbound");
	assert_int_equal(s->n[CP_CDS], 3);
	assert_string_equal(s->res[CP_CDS][0].name, "inbound|web");
	assert_string_equal(s->res[CP_CDS][1].name, "outbound|api");
	assert_string_equal(s->res[CP_CDS][2].name, "outbound|api2");
	assert_int_equal(s->n[CP_EDS], 2);
	assert_int_equal(s->n[CP_SDS], 0); /* no CA given: no secrets, no TLS */

	r = snapshot_find(s, CP_EDS, "outbound|api");
	assert_non_null(r);
	cla = envoy__config__endpoint__v3__cluster_load_assignment__unpack(NULL, r->len, r->data);
	assert_non_null(cla);
	assert_string_equal(cla->cluster_name, "outbound|api");
	assert_int_equal(cla->endpoints[0]->n_lb_endpoints, 2);
	/* sorted, so the bytes do not depend on the order in the file */
	assert_string_equal(cla->endpoints[0]->lb_endpoints[0]->endpoint->address->socket_address->address, "10.0.0.1");
	envoy__config__endpoint__v3__cluster_load_assignment__free_unpacked(cla, NULL);

	r = snapshot_find(s, CP_RDS, "outbound");
	rc = envoy__config__route__v3__route_configuration__unpack(NULL, r->len, r->data);
	assert_non_null(rc);
	assert_int_equal(rc->n_virtual_hosts, 1);
	assert_int_equal(rc->virtual_hosts[0]->n_routes, 2);
	assert_string_equal(rc->virtual_hosts[0]->routes[0]->match->prefix, "/v2/");
	assert_string_equal(rc->virtual_hosts[0]->routes[0]->route->cluster, "outbound|api2");
	assert_int_equal(rc->virtual_hosts[0]->routes[1]->route->timeout->seconds, 3);
	envoy__config__route__v3__route_configuration__free_unpacked(rc, NULL);

	/* same input, same versions */
	s2 = build(m, "web");
	assert_true(snapshot_same(s, s2));
	snapshot_unref(s2);

	/* a registry endpoint changes the EDS resource's version only; a
	 * duplicate of a static endpoint is not added twice */
	memcpy(v, snapshot_find(s, CP_EDS, "outbound|api")->version, sizeof(v));
	n_extra = 2;
	s2 = build(m, "web");
	assert_false(snapshot_same(s, s2));
	assert_string_not_equal(snapshot_find(s2, CP_EDS, "outbound|api")->version, v);
	assert_string_equal(snapshot_find(s2, CP_EDS, "outbound|api2")->version,
			    snapshot_find(s, CP_EDS, "outbound|api2")->version);
	assert_string_equal(snapshot_find(s2, CP_CDS, "outbound|api")->version,
			    snapshot_find(s, CP_CDS, "outbound|api")->version);
	r = snapshot_find(s2, CP_EDS, "outbound|api");
	cla = envoy__config__endpoint__v3__cluster_load_assignment__unpack(NULL, r->len, r->data);
	assert_int_equal(cla->endpoints[0]->n_lb_endpoints, 3);
	envoy__config__endpoint__v3__cluster_load_assignment__free_unpacked(cla, NULL);
	snapshot_unref(s2);
	snapshot_unref(s);
	mesh_model_free(m);
}

static void test_no_listeners_without_ports(void **state)
{
	char err[512];
	struct mesh_model *m = mesh_parse("m", mesh, strlen(mesh), err, sizeof(err));
	struct cp_snapshot *s = build(m, "api"); /* no app/inbound/outbound */

	assert_int_equal(s->n[CP_LDS], 0);
	assert_int_equal(s->n[CP_CDS], 0);
	assert_int_equal(cp_type_from_url("type.googleapis.com/envoy.config.cluster.v3.Cluster"), CP_CDS);
	assert_int_equal(cp_type_from_url("type.googleapis.com/envoy.config.cluster.v3.Clusters"), -1);
	snapshot_unref(s);
	mesh_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_web),
		cmocka_unit_test(test_no_listeners_without_ports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
