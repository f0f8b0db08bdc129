/*
 * gen.c: builds each resource as a protobuf-c tree in a scratch arena,
 * packs it, and adds the bytes to the snapshot (see gen.h for what is
 * generated). Typed configs are packed into Any with Envoy's type URLs,
 * "type.googleapis.com/" + the message's full name.
 */
#include "xds/cp/gen.h"
#include "xds/cp/mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/core/v3/address.pb-c.h"
#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/config/core/v3/config_source.pb-c.h"
#include "envoy/config/core/v3/protocol.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint_components.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/listener/v3/listener_components.pb-c.h"
#include "envoy/config/rbac/v3/rbac.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/config/route/v3/route_components.pb-c.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb-c.h"
#include "envoy/extensions/filters/http/rbac/v3/rbac.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/common.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "envoy/type/matcher/v3/string.pb-c.h"
#include "envoy/type/v3/http_status.pb-c.h"
#include "envoy/type/v3/percent.pb-c.h"
#include "envoy/type/v3/token_bucket.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

typedef Envoy__Config__Core__V3__Address Address;
typedef Envoy__Config__Core__V3__SocketAddress SocketAddress;
typedef Envoy__Config__Core__V3__ConfigSource ConfigSource;
typedef Envoy__Extensions__TransportSockets__Tls__V3__SdsSecretConfig SdsSecretConfig;
typedef Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext CommonTlsContext;
typedef Envoy__Type__Matcher__V3__StringMatcher StringMatcher;

struct gen {
	struct arena scratch;         /* the protobuf-c trees, freed per snapshot */
	struct snap_builder b;
	const struct gen_input *in;
	const struct gen_node *node;
	int tls;                      /* secrets available: mTLS on */
};

static void add(struct gen *g, enum cp_type t, const char *name, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = arena_alloc(&g->scratch, len);

	protobuf_c_message_pack(m, buf);
	snap_add(&g->b, t, name, buf, len);
}

static Google__Protobuf__Any *any(struct gen *g, const ProtobufCMessage *m)
{
	Google__Protobuf__Any *a = ARENA_MSG(&g->scratch, Google__Protobuf__Any, google__protobuf__any__init);

	a->type_url = arena_printf(&g->scratch, "type.googleapis.com/%s", m->descriptor->name);
	a->value.len = protobuf_c_message_get_packed_size(m);
	a->value.data = arena_alloc(&g->scratch, a->value.len);
	protobuf_c_message_pack(m, a->value.data);
	return a;
}

static Google__Protobuf__Duration *duration_ms(struct gen *g, uint32_t ms)
{
	Google__Protobuf__Duration *d = ARENA_MSG(&g->scratch, Google__Protobuf__Duration,
						  google__protobuf__duration__init);

	d->seconds = ms / 1000;
	d->nanos = (int32_t)(ms % 1000) * 1000000;
	return d;
}

static Google__Protobuf__UInt32Value *u32(struct gen *g, uint32_t v)
{
	Google__Protobuf__UInt32Value *w = ARENA_MSG(&g->scratch, Google__Protobuf__UInt32Value,
						     google__protobuf__uint32_value__init);

	w->value = v;
	return w;
}

static Google__Protobuf__BoolValue *boolv(struct gen *g, int v)
{
	Google__Protobuf__BoolValue *w = ARENA_MSG(&g->scratch, Google__Protobuf__BoolValue,
						   google__protobuf__bool_value__init);

	w->value = v ? 1 : 0;
	return w;
}

static Address *address(struct gen *g, const struct mesh_addr *a)
{
	Address *ad = ARENA_MSG(&g->scratch, Address, envoy__config__core__v3__address__init);
	SocketAddress *sa = ARENA_MSG(&g->scratch, SocketAddress, envoy__config__core__v3__socket_address__init);

	sa->address = (char *)a->host;
	sa->port_specifier_case = ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
	sa->port_value = a->port;
	ad->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
	ad->socket_address = sa;
	return ad;
}

static ConfigSource *ads_source(struct gen *g)
{
	ConfigSource *cs = ARENA_MSG(&g->scratch, ConfigSource, envoy__config__core__v3__config_source__init);

	cs->config_source_specifier_case = ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
	cs->ads = ARENA_MSG(&g->scratch, Envoy__Config__Core__V3__AggregatedConfigSource,
			    envoy__config__core__v3__aggregated_config_source__init);
	cs->resource_api_version = ENVOY__CONFIG__CORE__V3__API_VERSION__V3;
	return cs;
}

static SdsSecretConfig *sds(struct gen *g, const char *name)
{
	SdsSecretConfig *s = ARENA_MSG(&g->scratch, SdsSecretConfig,
				       envoy__extensions__transport_sockets__tls__v3__sds_secret_config__init);

	s->name = (char *)name;
	s->sds_config = ads_source(g);
	return s;
}

static StringMatcher *exact(struct gen *g, const char *s)
{
	StringMatcher *m = ARENA_MSG(&g->scratch, StringMatcher, envoy__type__matcher__v3__string_matcher__init);

	m->match_pattern_case = ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT;
	m->exact = (char *)s;
	return m;
}

static const char *spiffe_id(struct gen *g, const char *service)
{
	return arena_printf(&g->scratch, "spiffe://%s/%s", g->in->model->trust_domain, service);
}

/* Our certificate over SDS, and the trust bundle; `peer` non-NULL: the peer
 * must present that URI SAN. */
static CommonTlsContext *common_tls(struct gen *g, const char *peer, int h2)
{
	CommonTlsContext *c = ARENA_MSG(&g->scratch, CommonTlsContext,
					envoy__extensions__transport_sockets__tls__v3__common_tls_context__init);

	c->n_tls_certificate_sds_secret_configs = 1;
	c->tls_certificate_sds_secret_configs = ARENA_PTRS(&g->scratch, SdsSecretConfig, 1);
	c->tls_certificate_sds_secret_configs[0] = sds(g, GEN_SECRET_IDENTITY);
	if (peer) {
		Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext__CombinedCertificateValidationContext *cv =
			ARENA_MSG(&g->scratch, Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext__CombinedCertificateValidationContext,
				  envoy__extensions__transport_sockets__tls__v3__common_tls_context__combined_certificate_validation_context__init);
		Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext *vc =
			ARENA_MSG(&g->scratch, Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext,
				  envoy__extensions__transport_sockets__tls__v3__certificate_validation_context__init);
		Envoy__Extensions__TransportSockets__Tls__V3__SubjectAltNameMatcher *san =
			ARENA_MSG(&g->scratch, Envoy__Extensions__TransportSockets__Tls__V3__SubjectAltNameMatcher,
				  envoy__extensions__transport_sockets__tls__v3__subject_alt_name_matcher__init);

		san->san_type = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SUBJECT_ALT_NAME_MATCHER__SAN_TYPE__URI;
		san->matcher = exact(g, peer);
		vc->n_match_typed_subject_alt_names = 1;
		vc->match_typed_subject_alt_names = ARENA_PTRS(&g->scratch,
			Envoy__Extensions__TransportSockets__Tls__V3__SubjectAltNameMatcher, 1);
		vc->match_typed_subject_alt_names[0] = san;
		cv->default_validation_context = vc;
		cv->validation_context_sds_secret_config = sds(g, GEN_SECRET_TRUST);
		c->validation_context_type_case =
			ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_COMBINED_VALIDATION_CONTEXT;
		c->combined_validation_context = cv;
	} else {
		c->validation_context_type_case =
			ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT_SDS_SECRET_CONFIG;
		c->validation_context_sds_secret_config = sds(g, GEN_SECRET_TRUST);
	}
	c->n_alpn_protocols = h2 ? 1 : 0;
	if (h2) {
		c->alpn_protocols = arena_alloc(&g->scratch, sizeof(char *));
		c->alpn_protocols[0] = "h2";
	}
	return c;
}

static Envoy__Config__Core__V3__TransportSocket *tls_socket(struct gen *g, const ProtobufCMessage *ctx)
{
	Envoy__Config__Core__V3__TransportSocket *ts = ARENA_MSG(&g->scratch,
		Envoy__Config__Core__V3__TransportSocket, envoy__config__core__v3__transport_socket__init);

	ts->name = "envoy.transport_sockets.tls";
	ts->config_type_case = ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG;
	ts->typed_config = any(g, ctx);
	return ts;
}

/* ---- clusters and endpoints ---- */

static void h2_options(struct gen *g, Envoy__Config__Cluster__V3__Cluster *c)
{
	Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions *po = ARENA_MSG(&g->scratch,
		Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions,
		envoy__extensions__upstreams__http__v3__http_protocol_options__init);
	Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions__ExplicitHttpConfig *ex = ARENA_MSG(&g->scratch,
		Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions__ExplicitHttpConfig,
		envoy__extensions__upstreams__http__v3__http_protocol_options__explicit_http_config__init);
	Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry *e = ARENA_MSG(&g->scratch,
		Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry,
		envoy__config__cluster__v3__cluster__typed_extension_protocol_options_entry__init);

	ex->protocol_config_case =
		ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS;
	ex->http2_protocol_options = ARENA_MSG(&g->scratch, Envoy__Config__Core__V3__Http2ProtocolOptions,
					       envoy__config__core__v3__http2_protocol_options__init);
	po->upstream_protocol_options_case =
		ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG;
	po->explicit_http_config = ex;
	e->key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
	e->value = any(g, &po->base);
	c->n_typed_extension_protocol_options = 1;
	c->typed_extension_protocol_options = ARENA_PTRS(&g->scratch,
		Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry, 1);
	c->typed_extension_protocol_options[0] = e;
}

static Envoy__Config__Endpoint__V3__ClusterLoadAssignment *
load_assignment(struct gen *g, const char *cluster, const struct mesh_addr *const *addrs, unsigned n)
{
	Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla = ARENA_MSG(&g->scratch,
		Envoy__Config__Endpoint__V3__ClusterLoadAssignment,
		envoy__config__endpoint__v3__cluster_load_assignment__init);
	Envoy__Config__Endpoint__V3__LocalityLbEndpoints *loc = ARENA_MSG(&g->scratch,
		Envoy__Config__Endpoint__V3__LocalityLbEndpoints,
		envoy__config__endpoint__v3__locality_lb_endpoints__init);
	unsigned i;

	cla->cluster_name = (char *)cluster;
	cla->n_endpoints = 1;
	cla->endpoints = ARENA_PTRS(&g->scratch, Envoy__Config__Endpoint__V3__LocalityLbEndpoints, 1);
	cla->endpoints[0] = loc;
	/* gRPC wants a locality (even empty) with a weight; Envoy does not mind */
	loc->locality = ARENA_MSG(&g->scratch, Envoy__Config__Core__V3__Locality, envoy__config__core__v3__locality__init);
	loc->load_balancing_weight = u32(g, 1);
	loc->n_lb_endpoints = n;
	loc->lb_endpoints = ARENA_PTRS(&g->scratch, Envoy__Config__Endpoint__V3__LbEndpoint, n);
	for (i = 0; i < n; i++) {
		Envoy__Config__Endpoint__V3__LbEndpoint *lb = ARENA_MSG(&g->scratch,
			Envoy__Config__Endpoint__V3__LbEndpoint, envoy__config__endpoint__v3__lb_endpoint__init);
		Envoy__Config__Endpoint__V3__Endpoint *ep = ARENA_MSG(&g->scratch,
			Envoy__Config__Endpoint__V3__Endpoint, envoy__config__endpoint__v3__endpoint__init);

		ep->address = address(g, addrs[i]);
		lb->host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
		lb->endpoint = ep;
		lb->health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__HEALTHY;
		loc->lb_endpoints[i] = lb;
	}
	return cla;
}

static int addr_cmp(const void *a, const void *b)
{
	const struct mesh_addr *x = *(const struct mesh_addr *const *)a;
	const struct mesh_addr *y = *(const struct mesh_addr *const *)b;
	int c = strcmp(x->host, y->host);

	return c ? c : (int)x->port - (int)y->port;
}

/* Cluster and ClusterLoadAssignment "outbound|T". */
static void outbound_cluster(struct gen *g, const struct mesh_service *t)
{
	const char *name = arena_printf(&g->scratch, "outbound|%s", t->name);
	Envoy__Config__Cluster__V3__Cluster *c = ARENA_MSG(&g->scratch, Envoy__Config__Cluster__V3__Cluster,
							   envoy__config__cluster__v3__cluster__init);
	Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig *eds = ARENA_MSG(&g->scratch,
		Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig,
		envoy__config__cluster__v3__cluster__eds_cluster_config__init);
	const struct mesh_addr *dyn = NULL;
	const struct mesh_addr **all;
	unsigned n_dyn = 0, n = 0, i, j;

	c->name = (char *)name;
	c->cluster_discovery_type_case = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
	c->type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS;
	eds->eds_config = ads_source(g);
	c->eds_cluster_config = eds;
	c->connect_timeout = duration_ms(g, 1000);
	c->lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN;
	if (g->tls && !g->node->proxyless) {
		Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext *u = ARENA_MSG(&g->scratch,
			Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext,
			envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__init);

		u->common_tls_context = common_tls(g, spiffe_id(g, t->name), t->protocol == MESH_PROTO_GRPC);
		u->sni = (char *)t->name;
		c->transport_socket = tls_socket(g, &u->base);
	}
	if (t->protocol == MESH_PROTO_GRPC && !g->node->proxyless)
		h2_options(g, c);
	add(g, CP_CDS, name, &c->base);

	if (g->in->endpoints)
		n_dyn = g->in->endpoints(g->in->endpoints_ctx, t->name, &dyn);
	all = arena_alloc(&g->scratch, sizeof(*all) * (t->n_endpoints + n_dyn + 1));
	for (i = 0; i < t->n_endpoints; i++)
		all[n++] = &t->endpoints[i];
	for (i = 0; i < n_dyn; i++)
		all[n++] = &dyn[i];
	/* one entry per address whatever the sources, in a stable order so the
	 * version only changes when the set does */
	qsort(all, n, sizeof(*all), addr_cmp);
	for (i = j = 0; i < n; i++)
		if (j == 0 || addr_cmp(&all[j - 1], &all[i]) != 0)
			all[j++] = all[i];
	add(g, CP_EDS, name, &load_assignment(g, name, all, j)->base);
}

static void inbound_cluster(struct gen *g, const char *name)
{
	const struct mesh_service *s = g->node->svc;
	Envoy__Config__Cluster__V3__Cluster *c = ARENA_MSG(&g->scratch, Envoy__Config__Cluster__V3__Cluster,
							   envoy__config__cluster__v3__cluster__init);
	const struct mesh_addr *app = &g->node->app;

	c->name = (char *)name;
	c->cluster_discovery_type_case = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
	c->type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC;
	c->connect_timeout = duration_ms(g, 1000);
	c->load_assignment = load_assignment(g, name, &app, 1);
	if (s->protocol == MESH_PROTO_GRPC)
		h2_options(g, c);
	add(g, CP_CDS, name, &c->base);
}

/* ---- listeners and routes ---- */

static Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter *
http_filter(struct gen *g, const char *name, const ProtobufCMessage *cfg)
{
	Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter *f = ARENA_MSG(&g->scratch,
		Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter,
		envoy__extensions__filters__network__http_connection_manager__v3__http_filter__init);

	f->name = (char *)name;
	f->config_type_case =
		ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG;
	f->typed_config = any(g, cfg);
	return f;
}

static ProtobufCMessage *rbac_filter(struct gen *g)
{
	const struct mesh_service *s = g->node->svc;
	Envoy__Extensions__Filters__Http__Rbac__V3__RBAC *f = ARENA_MSG(&g->scratch,
		Envoy__Extensions__Filters__Http__Rbac__V3__RBAC, envoy__extensions__filters__http__rbac__v3__rbac__init);
	Envoy__Config__Rbac__V3__RBAC *rules = ARENA_MSG(&g->scratch, Envoy__Config__Rbac__V3__RBAC,
							 envoy__config__rbac__v3__rbac__init);
	Envoy__Config__Rbac__V3__RBAC__PoliciesEntry *e = ARENA_MSG(&g->scratch,
		Envoy__Config__Rbac__V3__RBAC__PoliciesEntry, envoy__config__rbac__v3__rbac__policies_entry__init);
	Envoy__Config__Rbac__V3__Policy *p = ARENA_MSG(&g->scratch, Envoy__Config__Rbac__V3__Policy,
						       envoy__config__rbac__v3__policy__init);
	Envoy__Config__Rbac__V3__Permission *any_perm = ARENA_MSG(&g->scratch, Envoy__Config__Rbac__V3__Permission,
								  envoy__config__rbac__v3__permission__init);
	unsigned i;

	/* ALLOW with one policy "mesh-allow": any request, from the listed
	 * identities. An empty list is a policy that matches no one: deny all. */
	rules->action = ENVOY__CONFIG__RBAC__V3__RBAC__ACTION__ALLOW;
	any_perm->rule_case = ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_ANY;
	any_perm->any = 1;
	p->n_permissions = 1;
	p->permissions = ARENA_PTRS(&g->scratch, Envoy__Config__Rbac__V3__Permission, 1);
	p->permissions[0] = any_perm;
	p->n_principals = s->n_allow;
	p->principals = ARENA_PTRS(&g->scratch, Envoy__Config__Rbac__V3__Principal, s->n_allow);
	for (i = 0; i < s->n_allow; i++) {
		Envoy__Config__Rbac__V3__Principal *pr = ARENA_MSG(&g->scratch, Envoy__Config__Rbac__V3__Principal,
								   envoy__config__rbac__v3__principal__init);

		if (strcmp(s->allow[i], "*") == 0) {
			pr->identifier_case = ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_ANY;
			pr->any = 1;
		} else {
			Envoy__Config__Rbac__V3__Principal__Authenticated *au = ARENA_MSG(&g->scratch,
				Envoy__Config__Rbac__V3__Principal__Authenticated,
				envoy__config__rbac__v3__principal__authenticated__init);

			au->principal_name = exact(g, spiffe_id(g, s->allow[i]));
			pr->identifier_case = ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_AUTHENTICATED;
			pr->authenticated = au;
		}
		p->principals[i] = pr;
	}
	e->key = "mesh-allow";
	e->value = p;
	if (s->n_allow) {
		rules->n_policies = 1;
		rules->policies = ARENA_PTRS(&g->scratch, Envoy__Config__Rbac__V3__RBAC__PoliciesEntry, 1);
		rules->policies[0] = e;
	}
	f->rules = rules;
	return &f->base;
}

static ProtobufCMessage *ratelimit_filter(struct gen *g)
{
	const struct mesh_rate_limit *rl = &g->node->svc->rate_limit;
	Envoy__Extensions__Filters__Http__LocalRatelimit__V3__LocalRateLimit *f = ARENA_MSG(&g->scratch,
		Envoy__Extensions__Filters__Http__LocalRatelimit__V3__LocalRateLimit,
		envoy__extensions__filters__http__local_ratelimit__v3__local_rate_limit__init);
	Envoy__Type__V3__TokenBucket *tb = ARENA_MSG(&g->scratch, Envoy__Type__V3__TokenBucket,
						     envoy__type__v3__token_bucket__init);
	Envoy__Config__Core__V3__RuntimeFractionalPercent *en[2];
	int i;

	tb->max_tokens = rl->requests;
	tb->tokens_per_fill = u32(g, rl->requests);
	tb->fill_interval = duration_ms(g, rl->per_ms);
	f->stat_prefix = "inbound_rate_limit";
	f->token_bucket = tb;
	/* Envoy's local_ratelimit does nothing unless enabled and enforced. */
	for (i = 0; i < 2; i++) {
		Envoy__Type__V3__FractionalPercent *fp = ARENA_MSG(&g->scratch, Envoy__Type__V3__FractionalPercent,
								   envoy__type__v3__fractional_percent__init);

		fp->numerator = 100;
		fp->denominator = ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__HUNDRED;
		en[i] = ARENA_MSG(&g->scratch, Envoy__Config__Core__V3__RuntimeFractionalPercent,
				  envoy__config__core__v3__runtime_fractional_percent__init);
		en[i]->default_value = fp;
		en[i]->runtime_key = i ? "inbound_rate_limit_enforced" : "inbound_rate_limit_enabled";
	}
	f->filter_enabled = en[0];
	f->filter_enforced = en[1];
	return &f->base;
}

static Envoy__Config__Listener__V3__Listener *
hcm_listener(struct gen *g, const char *name, const struct mesh_addr *at, const char *rds,
	     Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter **filters, unsigned nf,
	     Envoy__Config__Core__V3__TransportSocket *ts)
{
	Envoy__Config__Listener__V3__Listener *l = ARENA_MSG(&g->scratch, Envoy__Config__Listener__V3__Listener,
							     envoy__config__listener__v3__listener__init);
	Envoy__Config__Listener__V3__FilterChain *fc = ARENA_MSG(&g->scratch, Envoy__Config__Listener__V3__FilterChain,
								 envoy__config__listener__v3__filter_chain__init);
	Envoy__Config__Listener__V3__Filter *nf_ = ARENA_MSG(&g->scratch, Envoy__Config__Listener__V3__Filter,
							     envoy__config__listener__v3__filter__init);
	Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager *hcm = ARENA_MSG(&g->scratch,
		Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager,
		envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__init);
	Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds *r = ARENA_MSG(&g->scratch,
		Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds,
		envoy__extensions__filters__network__http_connection_manager__v3__rds__init);

	r->config_source = ads_source(g);
	r->route_config_name = (char *)rds;
	hcm->stat_prefix = (char *)name;
	hcm->route_specifier_case =
		ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS;
	hcm->rds = r;
	hcm->n_http_filters = nf;
	hcm->http_filters = filters;
	nf_->name = "envoy.filters.network.http_connection_manager";
	nf_->config_type_case = ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG;
	nf_->typed_config = any(g, &hcm->base);
	fc->n_filters = 1;
	fc->filters = ARENA_PTRS(&g->scratch, Envoy__Config__Listener__V3__Filter, 1);
	fc->filters[0] = nf_;
	fc->transport_socket = ts;
	l->name = (char *)name;
	l->address = address(g, at);
	l->n_filter_chains = 1;
	l->filter_chains = ARENA_PTRS(&g->scratch, Envoy__Config__Listener__V3__FilterChain, 1);
	l->filter_chains[0] = fc;
	l->stat_prefix = (char *)name;
	return l;
}

static Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter *router(struct gen *g)
{
	Envoy__Extensions__Filters__Http__Router__V3__Router *rt = ARENA_MSG(&g->scratch,
		Envoy__Extensions__Filters__Http__Router__V3__Router, envoy__extensions__filters__http__router__v3__router__init);

	return http_filter(g, "envoy.filters.http.router", &rt->base);
}

static Envoy__Config__Route__V3__Route *route_to(struct gen *g, const char *prefix, const char *cluster,
						 const char *rewrite, const struct mesh_service *policy)
{
	Envoy__Config__Route__V3__Route *r = ARENA_MSG(&g->scratch, Envoy__Config__Route__V3__Route,
						       envoy__config__route__v3__route__init);
	Envoy__Config__Route__V3__RouteMatch *m = ARENA_MSG(&g->scratch, Envoy__Config__Route__V3__RouteMatch,
							    envoy__config__route__v3__route_match__init);
	Envoy__Config__Route__V3__RouteAction *a = ARENA_MSG(&g->scratch, Envoy__Config__Route__V3__RouteAction,
							     envoy__config__route__v3__route_action__init);

	m->path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
	m->prefix = (char *)prefix;
	a->cluster_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
	a->cluster = (char *)cluster;
	if (rewrite)
		a->prefix_rewrite = (char *)rewrite;
	if (policy && policy->timeout_ms)
		a->timeout = duration_ms(g, policy->timeout_ms);
	if (policy && policy->retries.attempts) {
		Envoy__Config__Route__V3__RetryPolicy *rp = ARENA_MSG(&g->scratch, Envoy__Config__Route__V3__RetryPolicy,
								      envoy__config__route__v3__retry_policy__init);

		rp->retry_on = (char *)policy->retries.on;
		rp->num_retries = u32(g, policy->retries.attempts);
		if (policy->retries.per_try_timeout_ms)
			rp->per_try_timeout = duration_ms(g, policy->retries.per_try_timeout_ms);
		a->retry_policy = rp;
	}
	r->match = m;
	r->action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
	r->route = a;
	return r;
}

static Envoy__Config__Route__V3__VirtualHost *vhost(struct gen *g, const char *name, char **domains,
						    unsigned nd, Envoy__Config__Route__V3__Route **routes,
						    unsigned nr)
{
	Envoy__Config__Route__V3__VirtualHost *v = ARENA_MSG(&g->scratch, Envoy__Config__Route__V3__VirtualHost,
							     envoy__config__route__v3__virtual_host__init);

	v->name = (char *)name;
	v->n_domains = nd;
	v->domains = domains;
	v->n_routes = nr;
	v->routes = routes;
	return v;
}

static void inbound(struct gen *g)
{
	const struct mesh_service *s = g->node->svc;
	const char *cluster = arena_printf(&g->scratch, "inbound|%s", s->name);
	Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter **f;
	Envoy__Config__Core__V3__TransportSocket *ts = NULL;
	Envoy__Config__Route__V3__RouteConfiguration *rc;
	Envoy__Config__Route__V3__Route **routes;
	char **domains;
	unsigned nf = 0;

	if (!g->node->inbound.port || !g->node->app.port)
		return;
	inbound_cluster(g, cluster);

	f = ARENA_PTRS(&g->scratch, Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter, 3);
	f[nf++] = http_filter(g, "envoy.filters.http.rbac", rbac_filter(g));
	if (s->rate_limit.requests)
		f[nf++] = http_filter(g, "envoy.filters.http.local_ratelimit", ratelimit_filter(g));
	f[nf++] = router(g);
	if (g->tls) {
		Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext *d = ARENA_MSG(&g->scratch,
			Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext,
			envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__init);

		d->common_tls_context = common_tls(g, NULL, s->protocol == MESH_PROTO_GRPC);
		d->require_client_certificate = boolv(g, 1);
		ts = tls_socket(g, &d->base);
	}
	add(g, CP_LDS, GEN_LISTENER_IN,
	    &hcm_listener(g, GEN_LISTENER_IN, &g->node->inbound, GEN_LISTENER_IN, f, nf, ts)->base);

	rc = ARENA_MSG(&g->scratch, Envoy__Config__Route__V3__RouteConfiguration,
		       envoy__config__route__v3__route_configuration__init);
	domains = arena_alloc(&g->scratch, sizeof(char *));
	domains[0] = "*";
	routes = ARENA_PTRS(&g->scratch, Envoy__Config__Route__V3__Route, 1);
	routes[0] = route_to(g, "/", cluster, NULL, NULL);
	rc->name = GEN_LISTENER_IN;
	rc->n_virtual_hosts = 1;
	rc->virtual_hosts = ARENA_PTRS(&g->scratch, Envoy__Config__Route__V3__VirtualHost, 1);
	rc->virtual_hosts[0] = vhost(g, s->name, domains, 1, routes, 1);
	add(g, CP_RDS, GEN_LISTENER_IN, &rc->base);
}

static Envoy__Config__Route__V3__Route **call_routes(struct gen *g, const struct mesh_service *c,
						     unsigned char *want, unsigned *nr);

static void outbound(struct gen *g)
{
	const struct mesh_service *s = g->node->svc;
	const struct mesh_model *m = g->in->model;
	Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter **f;
	Envoy__Config__Route__V3__RouteConfiguration *rc;
	unsigned char *want;
	unsigned i;

	if (!g->node->outbound.port)
		return;
	f = ARENA_PTRS(&g->scratch, Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter, 1);
	f[0] = router(g);
	add(g, CP_LDS, GEN_LISTENER_OUT,
	    &hcm_listener(g, GEN_LISTENER_OUT, &g->node->outbound, GEN_LISTENER_OUT, f, 1, NULL)->base);

	rc = ARENA_MSG(&g->scratch, Envoy__Config__Route__V3__RouteConfiguration,
		       envoy__config__route__v3__route_configuration__init);
	rc->name = GEN_LISTENER_OUT;
	rc->virtual_hosts = ARENA_PTRS(&g->scratch, Envoy__Config__Route__V3__VirtualHost, s->n_calls);
	want = arena_alloc(&g->scratch, m->n_services);
	for (i = 0; i < s->n_calls; i++) {
		const struct mesh_service *c = mesh_find_service(m, s->calls[i]);
		Envoy__Config__Route__V3__Route **routes;
		unsigned nr;
		char **domains = arena_alloc(&g->scratch, sizeof(char *) * 2);

		domains[0] = (char *)c->name;
		domains[1] = arena_printf(&g->scratch, "%s:%u", c->name, (unsigned)g->node->outbound.port);
		routes = call_routes(g, c, want, &nr);
		rc->virtual_hosts[rc->n_virtual_hosts++] = vhost(g, c->name, domains, 2, routes, nr);
	}
	add(g, CP_RDS, GEN_LISTENER_OUT, &rc->base);
	for (i = 0; i < m->n_services; i++)
		if (want[i])
			outbound_cluster(g, &m->services[i]);
}

/* Routes of calls to service c, marking the clusters they reach in want[]. */
static Envoy__Config__Route__V3__Route **call_routes(struct gen *g, const struct mesh_service *c,
						     unsigned char *want, unsigned *nr)
{
	const struct mesh_model *m = g->in->model;
	Envoy__Config__Route__V3__Route **routes;
	unsigned j;

	*nr = c->n_routes ? c->n_routes : 1;
	routes = ARENA_PTRS(&g->scratch, Envoy__Config__Route__V3__Route, *nr);
	if (!c->n_routes) {
		routes[0] = route_to(g, "/", arena_printf(&g->scratch, "outbound|%s", c->name), NULL, c);
		want[c - m->services] = 1;
	}
	for (j = 0; j < c->n_routes; j++) {
		const struct mesh_service *t = mesh_find_service(m, c->routes[j].to);

		routes[j] = route_to(g, c->routes[j].prefix, arena_printf(&g->scratch, "outbound|%s", t->name),
				     c->routes[j].rewrite, c);
		want[t - m->services] = 1;
	}
	return routes;
}

static void proxyless(struct gen *g)
{
	const struct mesh_service *s = g->node->svc;
	const struct mesh_model *m = g->in->model;
	unsigned char *want = arena_alloc(&g->scratch, m->n_services);
	unsigned i;

	for (i = 0; i < s->n_calls; i++) {
		const struct mesh_service *c = mesh_find_service(m, s->calls[i]);
		Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager *hcm = ARENA_MSG(&g->scratch,
			Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager,
			envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__init);
		Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds *r = ARENA_MSG(&g->scratch,
			Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds,
			envoy__extensions__filters__network__http_connection_manager__v3__rds__init);
		Envoy__Config__Listener__V3__ApiListener *api = ARENA_MSG(&g->scratch,
			Envoy__Config__Listener__V3__ApiListener, envoy__config__listener__v3__api_listener__init);
		Envoy__Config__Listener__V3__Listener *l = ARENA_MSG(&g->scratch, Envoy__Config__Listener__V3__Listener,
								     envoy__config__listener__v3__listener__init);
		Envoy__Config__Route__V3__RouteConfiguration *rc = ARENA_MSG(&g->scratch,
			Envoy__Config__Route__V3__RouteConfiguration, envoy__config__route__v3__route_configuration__init);
		Envoy__Config__Route__V3__Route **routes;
		char **domains = arena_alloc(&g->scratch, sizeof(char *));
		unsigned nr;

		r->config_source = ads_source(g);
		r->route_config_name = (char *)c->name;
		hcm->stat_prefix = (char *)c->name;
		hcm->route_specifier_case =
			ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS;
		hcm->rds = r;
		hcm->n_http_filters = 1;
		hcm->http_filters = ARENA_PTRS(&g->scratch,
			Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter, 1);
		hcm->http_filters[0] = router(g);
		api->api_listener = any(g, &hcm->base);
		l->name = (char *)c->name;
		l->api_listener = api;
		add(g, CP_LDS, c->name, &l->base);

		domains[0] = (char *)c->name;
		routes = call_routes(g, c, want, &nr);
		rc->name = (char *)c->name;
		rc->n_virtual_hosts = 1;
		rc->virtual_hosts = ARENA_PTRS(&g->scratch, Envoy__Config__Route__V3__VirtualHost, 1);
		rc->virtual_hosts[0] = vhost(g, c->name, domains, 1, routes, nr);
		add(g, CP_RDS, c->name, &rc->base);
	}
	for (i = 0; i < m->n_services; i++)
		if (want[i])
			outbound_cluster(g, &m->services[i]);
}

static void secrets(struct gen *g)
{
	Envoy__Extensions__TransportSockets__Tls__V3__Secret *id = ARENA_MSG(&g->scratch,
		Envoy__Extensions__TransportSockets__Tls__V3__Secret, envoy__extensions__transport_sockets__tls__v3__secret__init);
	Envoy__Extensions__TransportSockets__Tls__V3__Secret *tb = ARENA_MSG(&g->scratch,
		Envoy__Extensions__TransportSockets__Tls__V3__Secret, envoy__extensions__transport_sockets__tls__v3__secret__init);
	Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate *tc = ARENA_MSG(&g->scratch,
		Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate,
		envoy__extensions__transport_sockets__tls__v3__tls_certificate__init);
	Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext *vc = ARENA_MSG(&g->scratch,
		Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext,
		envoy__extensions__transport_sockets__tls__v3__certificate_validation_context__init);
	Envoy__Config__Core__V3__DataSource *ds[3];
	const char *pem[3] = { g->in->cert_pem, g->in->key_pem, g->in->ca_pem };
	int i;

	for (i = 0; i < 3; i++) {
		ds[i] = ARENA_MSG(&g->scratch, Envoy__Config__Core__V3__DataSource,
				  envoy__config__core__v3__data_source__init);
		ds[i]->specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES;
		ds[i]->inline_bytes.data = (uint8_t *)pem[i];
		ds[i]->inline_bytes.len = strlen(pem[i]);
	}
	tc->certificate_chain = ds[0];
	tc->private_key = ds[1];
	id->name = GEN_SECRET_IDENTITY;
	id->type_case = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE;
	id->tls_certificate = tc;
	add(g, CP_SDS, GEN_SECRET_IDENTITY, &id->base);

	vc->trusted_ca = ds[2];
	tb->name = GEN_SECRET_TRUST;
	tb->type_case = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT;
	tb->validation_context = vc;
	add(g, CP_SDS, GEN_SECRET_TRUST, &tb->base);
}

struct cp_snapshot *gen_snapshot(const struct gen_input *in, const struct gen_node *node,
				 const char *key)
{
	struct gen g = { .in = in, .node = node };

	arena_init(&g.scratch);
	snap_builder_init(&g.b, key);
	g.tls = in->cert_pem && in->key_pem && in->ca_pem;
	if (node->proxyless) {
		proxyless(&g);
	} else {
		if (g.tls)
			secrets(&g);
		inbound(&g);
		outbound(&g);
	}
	arena_free(&g.scratch);
	return snap_finish(&g.b);
}
