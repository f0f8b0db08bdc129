/*
 * pump.h: gRPC core's completion queue, drained on a thread of its own and
 * delivered to the main thread's libevent loop.
 *
 * tern-cp keeps all its state on the main thread (model, snapshots, proxy
 * streams, admin). gRPC core reports finished operations on a completion
 * queue that has to be polled by a blocking call, so one thread does
 * nothing but grpc_completion_queue_next() and queues each (tag, ok) for the
 * main thread, waking it through an eventfd. Every tag is a struct
 * pump_tag; its callback runs on the main thread.
 *
 * Thread: pump_start/pump_stop on the main thread; callbacks on the main
 * thread. grpc_call_start_batch may be called from the main thread with a
 * pump_tag as the tag.
 */
#ifndef TERNCP_PUMP_H
#define TERNCP_PUMP_H

#include <event2/event.h>
#include <grpc/grpc.h>

struct pump_tag {
	void (*done)(struct pump_tag *tag, int ok);
};

struct pump;

/* Creates the completion queue and starts the thread. NULL on failure. */
struct pump *pump_start(struct event_base *base);

/* The queue to give gRPC (server registration, calls). */
grpc_completion_queue *pump_cq(struct pump *p);

/* Shuts the queue down, runs the callbacks of what is still queued until
 * gRPC reports the queue empty, joins the thread and frees. Call after every
 * server and call using the queue has been shut down or cancelled. */
void pump_stop(struct pump *p);

#endif
