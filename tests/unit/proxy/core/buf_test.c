/* Tests proxy/core/buf.c: the linear buffer and the per-worker pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/core/buf.h"

static void test_tail_room_and_compaction(void **state)
{
    struct buf_pool p;
    struct buf *b;

    buf_pool_init(&p, 16, 4);
    b = buf_get(&p);
    assert_int_equal(b->len, 0);
    assert_int_equal(buf_tail_room(b), 16);
    memcpy(buf_tail(b), "0123456789abcdef", 16);
    b->len = 16;
    assert_int_equal(buf_tail_room(b), 0); /* full, nothing consumed */
    buf_consume(b, 10);
    assert_int_equal(b->off, 10);
    /* the tail is full but the head has room: compaction moves the bytes */
    assert_int_equal(buf_tail_room(b), 10);
    assert_int_equal(b->off, 0);
    assert_memory_equal(buf_head(b), "abcdef", 6);
    buf_consume(b, 6);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->off, 0); /* an empty buffer starts over */
    buf_put(&p, b);
    buf_pool_destroy(&p);
}

static void test_pool_reuse_and_cap(void **state)
{
    struct buf_pool p;
    struct buf *b[6];

    buf_pool_init(&p, 64, 2);
    for (int i = 0; i < 6; i++)
        b[i] = buf_get(&p);
    assert_int_equal(p.in_use, 6);
    for (int i = 0; i < 6; i++)
        buf_put(&p, b[i]);
    assert_int_equal(p.in_use, 0);
    assert_int_equal(p.nfree, 2); /* the rest went back to malloc */
    /* reuse comes from the free list, newest first */
    assert_ptr_equal(buf_get(&p), b[1]);
    assert_ptr_equal(buf_get(&p), b[0]);
    assert_int_equal(p.nfree, 0);
    buf_put(&p, b[0]);
    buf_put(&p, b[1]);
    buf_pool_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail_room_and_compaction),
        cmocka_unit_test(test_pool_reuse_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
