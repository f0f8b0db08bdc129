/*
 * ads_stream.h: one ADS stream to the control plane over gRPC core's C API,
 * run on a thread of its own (the "xDS thread").
 *
 * The thread owns the gRPC channel, the call and the completion queue. It
 * opens a bidirectional call on StreamAggregatedResources (state of the
 * world) or DeltaAggregatedResources (incremental), decodes every message
 * the server sends (DiscoveryResponse / DeltaDiscoveryResponse, the Anys
 * inside left packed) and hands it to the main thread. When the call ends
 * it waits (exponential backoff with full jitter, reset once a stream
 * delivered a message) and opens a new channel and call.
 *
 * Main thread side: every event arrives through an eventfd registered on
 * the main loop, in the order it happened, as one callback of `cbs`:
 *   on_stream(gen)     a new call is open (not necessarily connected): send
 *                      the subscriptions now (ads_stream_send with gen);
 *   on_response(gen,m) a decoded response, owned by the callee
 *                      (protobuf_c_message_free_unpacked(m, NULL));
 *   on_closed(gen,...) the call ended (gRPC status and message) and the
 *                      thread will retry in retry_ms; sends for gen are dropped.
 * A message the thread cannot decode ends the call (a server bug; the next
 * stream starts from scratch), reported by on_closed.
 *
 * Sends: ads_stream_send (main thread) queues a serialized request for the
 * stream `gen`; it is written in order, one gRPC send at a time, started by
 * whichever thread finds the line free (gRPC core allows start_batch from any
 * thread; the queue and the call pointer are under the stream's mutex, taken
 * only on the control path). Requests for an ended stream are dropped.
 */
#ifndef TERN_XDS_ADS_STREAM_H
#define TERN_XDS_ADS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct ads_stream;

struct ads_stream_cbs {
    void (*on_stream)(void *arg, uint64_t gen);
    void (*on_response)(void *arg, uint64_t gen, void *msg);
    void (*on_closed)(void *arg, uint64_t gen, int grpc_status, const char *detail,
                      uint32_t retry_ms);
};

struct ads_stream_conf {
    struct sockaddr_storage server;
    socklen_t serverlen;
    bool delta;                 /* DeltaAggregatedResources, else StreamAggregatedResources */
    uint32_t backoff_base_ms;   /* first retry delay (before jitter) */
    uint32_t backoff_max_ms;    /* cap */
    uint32_t max_message_bytes; /* largest response accepted */
    const char *ca_pem;         /* TLS: trusted roots (PEM; copied); NULL: plaintext */
    const char *verifyhost;     /* TLS: name the server's certificate must carry (copied);
                                 * NULL: the address */
};

/* Starts the thread; callbacks run on `base` (the main loop). Returns NULL
 * with err set when the thread or the eventfd cannot be created. */
struct ads_stream *ads_stream_start(const struct ads_stream_conf *conf, struct event_base *base,
                                    const struct ads_stream_cbs *cbs, void *arg, char *err,
                                    size_t errlen);

/* Queues buf[0, len) (copied) for stream gen. Returns 0, or -1 when gen is
 * not the open stream (dropped). Main thread. */
int ads_stream_send(struct ads_stream *s, uint64_t gen, const uint8_t *buf, size_t len);

/* Cancels the call, joins the thread, frees everything; pending events are
 * dropped (their messages freed). Main thread. NULL is fine. */
void ads_stream_stop(struct ads_stream *s);

#endif /* TERN_XDS_ADS_STREAM_H */
