/*
 * pump.c: the completion-queue thread and its hand-off to the main thread.
 *
 * The queue of finished tags is a growable array under a mutex; the thread
 * writes the eventfd only when it makes the array non-empty, so a burst of
 * completions costs one wake-up. The main thread swaps the array out and
 * runs the callbacks without the lock held.
 */
#include "xds/cp/pump.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <unistd.h>

struct done {
	struct pump_tag *tag;
	int ok;
};

struct pump {
	grpc_completion_queue *cq;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t drained;
	struct done *q, *spare;
	size_t n, cap, spare_cap;
	int shutdown;         /* the thread saw GRPC_QUEUE_SHUTDOWN */
	int efd;
	struct event *ev;
};

static void *pump_thread(void *arg)
{
	struct pump *p = arg;

	for (;;) {
		grpc_event e = grpc_completion_queue_next(p->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		int wake = 0;

		pthread_mutex_lock(&p->lock);
		if (e.type == GRPC_QUEUE_SHUTDOWN) {
			p->shutdown = 1;
			wake = 1;
		} else if (e.type == GRPC_OP_COMPLETE) {
			if (p->n == p->cap) {
				p->cap = p->cap ? p->cap * 2 : 256;
				p->q = realloc(p->q, p->cap * sizeof(*p->q));
				if (!p->q)
					abort();
			}
			p->q[p->n].tag = e.tag;
			p->q[p->n].ok = e.success;
			wake = p->n++ == 0;
		}
		pthread_mutex_unlock(&p->lock);
		if (wake) {
			uint64_t one = 1;

			while (write(p->efd, &one, sizeof(one)) < 0 && errno == EINTR)
				;
		}
		if (e.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
	}
}

/* Runs what is queued; returns 1 once the thread has seen the shutdown. */
static int pump_drain(struct pump *p)
{
	struct done *q;
	size_t n, i, cap;
	int shutdown;
	uint64_t v;

	while (read(p->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		q = p->q;
		n = p->n;
		cap = p->cap;
		p->q = p->spare;
		p->cap = p->spare_cap;
		p->n = 0;
		shutdown = p->shutdown;
		pthread_mutex_unlock(&p->lock);
		for (i = 0; i < n; i++)
			q[i].tag->done(q[i].tag, q[i].ok);
		/* keep the larger array for the next round */
		p->spare = q;
		p->spare_cap = cap;
		if (n == 0)
			return shutdown;
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	pump_drain(arg);
}

struct pump *pump_start(struct event_base *base)
{
	struct pump *p = calloc(1, sizeof(*p));

	if (!p)
		abort();
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->cq = grpc_completion_queue_create_for_next(NULL);
	p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, on_wake, p);
	event_add(p->ev, NULL);
	if (pthread_create(&p->thread, NULL, pump_thread, p) != 0) {
		event_free(p->ev);
		grpc_completion_queue_destroy(p->cq);
		close(p->efd);
		free(p);
		return NULL;
	}
	return p;
}

grpc_completion_queue *pump_cq(struct pump *p)
{
	return p->cq;
}

void pump_stop(struct pump *p)
{
	grpc_completion_queue_shutdown(p->cq);
	/* Callbacks may still arrive (cancelled batches); run them until the
	 * thread reports the queue shut down and empty. */
	for (;;) {
		fd_set rd;

		if (pump_drain(p))
			break;
		FD_ZERO(&rd);
		FD_SET(p->efd, &rd);
		select(p->efd + 1, &rd, NULL, NULL, NULL);
	}
	pump_drain(p);
	pthread_join(p->thread, NULL);
	grpc_completion_queue_destroy(p->cq);
	event_free(p->ev);
	close(p->efd);
	pthread_mutex_destroy(&p->lock);
	free(p->q);
	free(p->spare);
	free(p);
}
