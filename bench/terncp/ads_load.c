/*
 * ads_load: N lightweight simulated proxies for tern-cp's benchmark.
 *
 *   ads_load TARGET N TOKEN RESOURCE [STREAMS_PER_CONNECTION]
 *
 * Each proxy is one SotW ADS stream (node "load-<i>", the token in
 * node.metadata "tern.token") subscribed to the ClusterLoadAssignment
 * RESOURCE; every response is ACKed at once. Prints "ready <N>" when every
 * proxy has received and ACKed its first response, then "done <epoch>" with
 * the wall-clock time of the last ACK of the second response (the push the
 * benchmark triggers), and exits. One thread, one completion queue; proxies
 * share connections STREAMS_PER_CONNECTION (default 50) to a channel.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "google/protobuf/struct.pb-c.h"

#define T_EDS "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

enum op { OP_SEND = 0, OP_META, OP_RECV, OP_STATUS, OP_N };

struct proxy {
	_Alignas(8) int id;
	grpc_call *call;
	grpc_byte_buffer *send_buf, *recv_buf;
	grpc_metadata_array md, trailers;
	grpc_status_code status;
	grpc_slice details;
	int responses, acks_done, send_busy, ack_pending;
	char nonce[64], version[64];
};

static const char *token, *resource;
static double last_ack;

static double now_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *tag(struct proxy *p, enum op op)
{
	return (void *)((uintptr_t)p | (uintptr_t)op);
}

static grpc_byte_buffer *request(struct proxy *p, int first)
{
	Envoy__Service__Discovery__V3__DiscoveryRequest rq = ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
	Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
	Google__Protobuf__Struct meta = GOOGLE__PROTOBUF__STRUCT__INIT;
	Google__Protobuf__Struct__FieldsEntry e = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT, *ep = &e;
	Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;
	char id[32], *names[1] = { (char *)resource };
	grpc_slice s;
	grpc_byte_buffer *b;
	size_t len;

	snprintf(id, sizeof(id), "load-%d", p->id);
	v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
	v.string_value = (char *)token;
	e.key = "tern.token";
	e.value = &v;
	meta.n_fields = 1;
	meta.fields = &ep;
	node.id = id;
	node.metadata = &meta;
	if (first)
		rq.node = &node;
	rq.type_url = T_EDS;
	rq.n_resource_names = 1;
	rq.resource_names = names;
	rq.version_info = p->version;
	rq.response_nonce = p->nonce;
	len = envoy__service__discovery__v3__discovery_request__get_packed_size(&rq);
	s = grpc_slice_malloc(len);
	envoy__service__discovery__v3__discovery_request__pack(&rq, GRPC_SLICE_START_PTR(s));
	b = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return b;
}

static void start(struct proxy *p, grpc_op *ops, size_t n, enum op op)
{
	if (grpc_call_start_batch(p->call, ops, n, tag(p, op), NULL) != GRPC_CALL_OK) {
		fprintf(stderr, "ads_load: start_batch failed\n");
		exit(1);
	}
}

static void send_req(struct proxy *p, int first)
{
	grpc_op ops[2];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	if (first)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	p->send_buf = request(p, first);
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = p->send_buf;
	p->send_busy = 1;
	start(p, ops, n, OP_SEND);
}

static void recv_msg(struct proxy *p)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &p->recv_buf;
	start(p, &op, 1, OP_RECV);
}

int main(int argc, char **argv)
{
	const char *target;
	int n, per, i, ready = 0, done = 0, printed_ready = 0;
	struct proxy *px;
	grpc_channel **ch;
	grpc_completion_queue *cq;
	grpc_channel_credentials *creds;

	if (argc < 5) {
		fprintf(stderr, "usage: ads_load TARGET N TOKEN RESOURCE [STREAMS_PER_CONNECTION]\n");
		return 2;
	}
	target = argv[1];
	n = atoi(argv[2]);
	token = argv[3];
	resource = argv[4];
	per = argc > 5 ? atoi(argv[5]) : 50;
	if (n <= 0 || per <= 0)
		return 2;
	grpc_init();
	cq = grpc_completion_queue_create_for_next(NULL);
	creds = grpc_insecure_credentials_create();
	ch = calloc((size_t)(n + per - 1) / per, sizeof(*ch));
	px = aligned_alloc(64, sizeof(*px) * (size_t)n);
	memset(px, 0, sizeof(*px) * (size_t)n);
	for (i = 0; i < (n + per - 1) / per; i++) {
		grpc_arg arg = { .type = GRPC_ARG_INTEGER, .key = "grpc.use_local_subchannel_pool",
				 .value.integer = 1 };
		grpc_channel_args args = { 1, &arg };

		ch[i] = grpc_channel_create(target, creds, &args);
	}
	for (i = 0; i < n; i++) {
		struct proxy *p = &px[i];
		grpc_op op;

		p->id = i;
		grpc_metadata_array_init(&p->md);
		grpc_metadata_array_init(&p->trailers);
		p->call = grpc_channel_create_call(ch[i / per], NULL, GRPC_PROPAGATE_DEFAULTS, cq,
			grpc_slice_from_static_string("/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"),
			NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		send_req(p, 1);
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_INITIAL_METADATA;
		op.data.recv_initial_metadata.recv_initial_metadata = &p->md;
		start(p, &op, 1, OP_META);
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		op.data.recv_status_on_client.trailing_metadata = &p->trailers;
		op.data.recv_status_on_client.status = &p->status;
		op.data.recv_status_on_client.status_details = &p->details;
		start(p, &op, 1, OP_STATUS);
		recv_msg(p);
	}
	while (done < n) {
		grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		struct proxy *p = (struct proxy *)((uintptr_t)ev.tag & ~(uintptr_t)7);
		enum op op = (enum op)((uintptr_t)ev.tag & 7);

		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		switch (op) {
		case OP_SEND:
			grpc_byte_buffer_destroy(p->send_buf);
			p->send_buf = NULL;
			p->send_busy = 0;
			if (p->responses >= 1 && p->acks_done < p->responses) {
				p->acks_done++;
				if (p->acks_done == 1 && ++ready == n && !printed_ready) {
					printf("ready %d\n", n);
					fflush(stdout);
					printed_ready = 1;
				}
				if (p->acks_done == 2) {
					last_ack = now_epoch();
					done++;
				}
			}
			if (p->ack_pending) {
				p->ack_pending = 0;
				send_req(p, 0);
			}
			break;
		case OP_RECV: {
			Envoy__Service__Discovery__V3__DiscoveryResponse *r = NULL;
			grpc_byte_buffer_reader rd;

			if (!ev.success || !p->recv_buf) {
				fprintf(stderr, "ads_load: proxy %d: stream ended\n", p->id);
				return 1;
			}
			if (grpc_byte_buffer_reader_init(&rd, p->recv_buf)) {
				grpc_slice s = grpc_byte_buffer_reader_readall(&rd);

				r = envoy__service__discovery__v3__discovery_response__unpack(NULL, GRPC_SLICE_LENGTH(s),
											      GRPC_SLICE_START_PTR(s));
				grpc_slice_unref(s);
				grpc_byte_buffer_reader_destroy(&rd);
			}
			grpc_byte_buffer_destroy(p->recv_buf);
			p->recv_buf = NULL;
			if (!r) {
				fprintf(stderr, "ads_load: proxy %d: bad response\n", p->id);
				return 1;
			}
			snprintf(p->nonce, sizeof(p->nonce), "%s", r->nonce);
			snprintf(p->version, sizeof(p->version), "%s", r->version_info);
			envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
			p->responses++;
			if (p->send_busy)
				p->ack_pending = 1;
			else
				send_req(p, 0);
			recv_msg(p);
			break;
		}
		case OP_STATUS:
			fprintf(stderr, "ads_load: proxy %d: status %d\n", p->id, (int)p->status);
			return 1;
		default:
			break;
		}
	}
	printf("done %.6f\n", last_ack);
	fflush(stdout);
	/* a benchmark tool: the process exit releases the streams */
	_exit(0);
}
