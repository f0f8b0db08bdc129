/*
 * acl_test.c: `acl` lines (acl_parse.c) and the fetches (acl_fetch.c): every
 * fetch keyword positive and negative, flags, several values, several lines
 * under one name, and every parse error message.
 *
 * Expected results follow HAProxy 2.6, checked against haproxy 2.6.12 with
 * the same requests where the behaviour is not obvious (comma splitting,
 * quoted commas, urlp delimiters, method -i).
 */
#include "acl_test_util.h"

static const char *const std_hdrs[] = {
    "Host: www.Example.com:8080",
    "User-Agent: Mozilla/5.0 (X11, Linux)",
    "X-A: a, b,\"q,r\" ,c d",
    "x-a: e",
    "X-Num: 42",
    "X-Neg: -7xyz",
    "X-Empty: ",
    "X-Forwarded-For: 10.1.2.3, [2001:db8::1]:443, junk, 172.16.0.9:8080",
    "Content-Length: 12",
    NULL,
};

static struct treq R;

static int setup(void **state)
{
    treq_init(&R, "GET /images/png/logo/32x32.png?a=1&b=2?x;c=3&a=9&flag HTTP/1.1", std_hdrs);
    return 0;
}

static void test_hdr_split(void **state)
{
    assert_true(acl1("hdr(x-a) b", &R));
    assert_true(acl1("hdr(X-A) e", &R));               /* name ignores case, both fields */
    assert_true(acl1("hdr(x-a) \"q,r\"", &R));        /* comma inside quotes does not split */
    assert_false(acl1("hdr(x-a) q", &R));
    assert_false(acl1("hdr(x-a) a,", &R));
    assert_false(acl1("hdr(x-a) B", &R));             /* value case-sensitive */
    assert_true(acl1("hdr(x-a) -i B", &R));
    assert_true(acl1("req.hdr(x-a) a", &R));
    assert_false(acl1("hdr(x-missing) a", &R));
    assert_false(acl1("hdr(host) www.example.com:8080", &R));
    assert_true(acl1("hdr(host) -i www.example.com:8080", &R));
    /* "c d": the element keeps its inner space */
    char **argv;
    int argc = words("hdr(x-a) PLACEHOLDER", &argv);
    argv[1] = "c d";
    struct acl_set *set = acl_set_new();
    char err[128];
    assert_int_equal(acl_set_add(set, "sp", argc, argv, err, sizeof(err)), 0);
    assert_true(acl_eval(acl_set_find(set, "sp"), &R.ctx));
    acl_set_free(set);
}

static void test_hdr_occurrence(void **state)
{
    assert_true(acl1("hdr(x-a,1) a", &R));
    assert_false(acl1("hdr(x-a,1) b", &R));
    assert_true(acl1("hdr(x-a,2) b", &R));
    assert_true(acl1("hdr(x-a,-1) e", &R));
    assert_true(acl1("hdr(x-a,-3) \"q,r\"", &R));
    assert_false(acl1("hdr(x-a,-3) e", &R));
    assert_true(acl1("hdr(x-a,5) e", &R));
    assert_false(acl1("hdr(x-a,6) e", &R));
    assert_false(acl1("hdr(x-a,-6) a", &R));
    assert_true(acl1("hdr(x-a,-5) a", &R));
    assert_true(acl1("hdr(x-a,0) e", &R)); /* 0: every occurrence */
    assert_true(acl1("fhdr(x-a,1) -m beg a,", &R));
    assert_true(acl1("fhdr(x-a,1) -m end d", &R));
    assert_false(acl1("fhdr(x-a,1) -m end c", &R));
    assert_true(acl1("fhdr(x-a,-1) e", &R));
    assert_true(acl1("fhdr(x-a,2) e", &R));
}

static void test_hdr_all_headers(void **state)
{
    /* no name: every value of every header */
    assert_true(acl1("hdr() 42", &R));
    assert_true(acl1("hdr 42", &R));
    assert_true(acl1("hdr_beg() Mozilla", &R));
    assert_false(acl1("hdr() nothing-like-this", &R));
}

static void test_fhdr(void **state)
{
    assert_true(acl1("req.fhdr(user-agent) -m beg Mozilla/5.0", &R));
    assert_true(acl1("fhdr(user-agent) -m sub Linux)", &R));
    assert_true(acl1("hdr(user-agent) -m end (X11", &R)); /* hdr splits at the comma */
    assert_false(acl1("fhdr(user-agent) -m end (X11", &R));
    assert_false(acl1("fhdr(x-a) e,", &R));
    assert_true(acl1("fhdr(x-a) -m beg a,", &R));
}

static void test_hdr_derivatives(void **state)
{
    assert_true(acl1("hdr_beg(host) -i www.", &R));
    assert_false(acl1("hdr_beg(host) www.example", &R));
    assert_true(acl1("hdr_end(host) :8080", &R));
    assert_false(acl1("hdr_end(host) .com", &R));
    assert_true(acl1("hdr_sub(host) Example", &R));
    assert_false(acl1("hdr_sub(host) example", &R));
    assert_true(acl1("hdr_sub(host) -i example", &R));
    assert_true(acl1("hdr_reg(host) ^www\\.[A-Z][a-z]+\\.com", &R));
    assert_false(acl1("hdr_reg(host) ^example", &R));
    assert_true(acl1("hdr_dom(host) -i example", &R));
    assert_true(acl1("hdr_dom(host) 8080", &R));
    assert_false(acl1("hdr_dom(host) -i exam", &R));
    assert_true(acl1("hdr_dir(user-agent) Mozilla", &R));
    assert_true(acl1("hdr_len(host) 20", &R));
    assert_false(acl1("hdr_len(host) 21", &R));
    assert_true(acl1("hdr_len(host) gt 19", &R));
    assert_true(acl1("hdr_len(x-empty) 0", &R));
}

static void test_hdr_found_and_empty(void **state)
{
    assert_true(acl1("hdr(x-empty) -m found", &R));
    assert_true(acl1("hdr(x-empty) <empty>", &R)); /* empty value, empty pattern */
    assert_false(acl1("hdr(x-nope) -m found", &R));
    assert_true(acl1("req.hdr(host) -m found", &R));
    assert_true(acl1("hdr_len(x-empty) 0", &R));
}

static void test_hdr_cnt_val_ip(void **state)
{
    assert_true(acl1("hdr_cnt(x-a) 5", &R)); /* a, b, "q,r", c d, e */
    assert_true(acl1("req.hdr_cnt(X-A) eq 5", &R));
    assert_true(acl1("req.fhdr_cnt(x-a) 2", &R));
    assert_true(acl1("hdr_cnt(x-nope) 0", &R));
    assert_true(acl1("hdr_cnt(x-nope) -m found", &R)); /* a count is always a sample */
    assert_true(acl1("req.fhdr_cnt 9", &R));          /* no name: every field */
    assert_true(acl1("hdr_cnt() 16", &R));            /* no name: every element */
    assert_true(acl1("hdr_val(x-num) 42", &R));
    assert_true(acl1("hdr_val(x-num) gt 41", &R));
    assert_false(acl1("hdr_val(x-num) gt 42", &R));
    assert_true(acl1("hdr_val(x-neg) -- -7", &R));
    assert_true(acl1("req.hdr_val(x-neg) lt 0", &R));
    assert_true(acl1("hdr_val(x-a,1) 0", &R)); /* not a number: 0, as HAProxy */
    assert_false(acl1("hdr_val(x-nope) 0", &R));
    assert_true(acl1("hdr_ip(x-forwarded-for) 10.0.0.0/8", &R));
    assert_true(acl1("req.hdr_ip(x-forwarded-for) 2001:db8::/32", &R));
    assert_true(acl1("hdr_ip(x-forwarded-for) 172.16.0.9", &R));
    assert_false(acl1("hdr_ip(x-forwarded-for) 192.168.0.0/16", &R));
    assert_false(acl1("hdr_ip(x-forwarded-for,1) 172.16.0.9", &R));
    assert_true(acl1("hdr_ip(x-forwarded-for,-1) 172.16.0.9", &R));
    /* -m ip on a string fetch reads the text as an address */
    assert_true(acl1("hdr(x-forwarded-for) -m ip 10.1.0.0/16", &R));
}

static void test_path(void **state)
{
    assert_true(acl1("path /images/png/logo/32x32.png", &R));
    assert_false(acl1("path /images/png/logo/32x32.PNG", &R));
    assert_true(acl1("path -i /images/png/logo/32x32.PNG", &R));
    assert_true(acl1("path_beg /img /images", &R));
    assert_false(acl1("path_beg /img /static", &R));
    assert_true(acl1("path_end .gif .png", &R));
    assert_false(acl1("path_end .gif .jpg", &R));
    assert_true(acl1("path_sub /logo/", &R));
    assert_false(acl1("path_sub ?a=", &R)); /* the query is not part of path */
    assert_true(acl1("path_reg ^/images/.*\\.png$", &R));
    assert_false(acl1("path_reg ^/img/", &R));
    assert_true(acl1("path_dir png", &R));
    assert_true(acl1("path_dir /images/png/", &R));
    assert_true(acl1("path_dir logo/32x32.png", &R));
    assert_false(acl1("path_dir 32x32", &R));
    assert_false(acl1("path_dir /", &R)); /* only delimiters: never matches */
    assert_true(acl1("path_dom 32x32", &R));
    assert_true(acl1("path_dom png", &R));
    assert_false(acl1("path_dom ng", &R));
    assert_true(acl1("path_len 26", &R));
    assert_true(acl1("path_len 20:30", &R));
    assert_false(acl1("path_len :25", &R));
    assert_true(acl1("path -m beg /images", &R));
    assert_true(acl1("path -m found", &R));
}

static void test_path_special_targets(void **state)
{
    struct treq r;

    treq_init(&r, "OPTIONS * HTTP/1.1", NULL);
    assert_false(acl1("path -m found", &r)); /* "*" has no path (HAProxy) */
    assert_true(acl1("url *", &r));
    treq_init(&r, "CONNECT example.com:443 HTTP/1.1", NULL);
    assert_false(acl1("path -m found", &r));
    assert_true(acl1("url example.com:443", &r));
    assert_false(acl1("urlp(a) -m found", &r));
    treq_init(&r, "GET http://Example.com:81/p/q?k=v HTTP/1.1", NULL);
    assert_true(acl1("path /p/q", &r));
    assert_true(acl1("url http://Example.com:81/p/q?k=v", &r));
    assert_true(acl1("url_beg http://", &r));
    assert_true(acl1("url_dom -i example", &r));
    assert_true(acl1("urlp(k) v", &r));
}

static void test_url_pathq_query(void **state)
{
    assert_true(acl1("url /images/png/logo/32x32.png?a=1&b=2?x;c=3&a=9&flag", &R));
    assert_true(acl1("url_beg /images/", &R));
    assert_true(acl1("url_end &flag", &R));
    assert_true(acl1("url_sub ?a=1", &R));
    assert_false(acl1("url_sub ?z=", &R));
    assert_true(acl1("url_reg [?&]b=2", &R));
    assert_true(acl1("url_len 49", &R));
    assert_true(acl1("url_dir images", &R));
    assert_true(acl1("url_dom png", &R));  /* between "." and "?" */
    assert_false(acl1("url_dom x", &R));   /* ";" is no delimiter */
    assert_true(acl1("pathq /images/png/logo/32x32.png?a=1&b=2?x;c=3&a=9&flag", &R));
    assert_true(acl1("query a=1&b=2?x;c=3&a=9&flag", &R));
    assert_true(acl1("query -m beg a=1", &R));

    struct treq r;
    treq_init(&r, "GET /p HTTP/1.1", NULL);
    assert_false(acl1("query -m found", &r)); /* no '?': no sample */
    assert_true(acl1("pathq /p", &r));
    treq_init(&r, "GET /p? HTTP/1.1", NULL);
    assert_true(acl1("query -m found", &r)); /* '?' alone: an empty sample */
    assert_true(acl1("url /p?", &r));
}

/* A filter rewrote the path: path and query are no longer side by side, so
 * url/pathq/urlp join them in the per-thread scratch buffer. */
static void test_url_rewritten(void **state)
{
    struct treq r;
    static char newpath[] = "/new/path;jsessionid=77";

    treq_init(&r, "GET /old?x=1&y=2 HTTP/1.1", NULL);
    r.m.path = treq_slice(newpath, strlen(newpath));
    assert_true(acl1("url /new/path;jsessionid=77?x=1&y=2", &r));
    assert_true(acl1("pathq /new/path;jsessionid=77?x=1&y=2", &r));
    assert_true(acl1("urlp(y) 2", &r));
    assert_true(acl1("urlp(jsessionid,;) 77?x=1", &r)); /* '?' is no delimiter with ';' */
    assert_false(acl1("url_beg /old", &r));

    /* longer than the scratch buffer: no sample, never a crash */
    static char longpath[ACL_URL_SCRATCH + 16];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    r.m.path = treq_slice(longpath, strlen(longpath));
    assert_false(acl1("url -m found", &r));
    assert_true(acl1("path -m found", &r));
    assert_true(acl1("urlp(x) 1", &r)); /* default delimiter reads the query in place */
}

static void test_url_param(void **state)
{
    assert_true(acl1("urlp(a) 1", &R));
    assert_true(acl1("urlp(a) 9", &R)); /* every occurrence */
    assert_true(acl1("url_param(b) 2", &R));
    assert_false(acl1("urlp(b) 2?x", &R)); /* '?' ends a value too */
    assert_true(acl1("urlp(c) 3", &R));    /* ';' separates parameters */
    assert_false(acl1("urlp(A) 1", &R));   /* names are case-sensitive */
    assert_false(acl1("urlp(flag) -m found", &R)); /* no '=': not a parameter */
    assert_true(acl1("urlp 9", &R));       /* no name: every parameter */
    assert_true(acl1("urlp() 3", &R));
    assert_true(acl1("urlp_beg(a) 1", &R));
    assert_true(acl1("urlp_reg(b) ^[0-9]$", &R));
    assert_true(acl1("urlp_len(c) 1", &R));
    assert_true(acl1("urlp_val(a) gt 5", &R));
    assert_false(acl1("urlp_val(a) gt 9", &R));
    assert_false(acl1("urlp(zz) -m found", &R));

    struct treq r;
    treq_init(&r, "GET /foo;JSESSIONID=abc;x=1?q=2 HTTP/1.1", NULL);
    assert_true(acl1("urlp(JSESSIONID,;) abc", &r));
    assert_true(acl1("urlp(x,;) 1?q=2", &r));
    assert_false(acl1("urlp(JSESSIONID) abc", &r)); /* default '?': the path is not searched */
    assert_true(acl1("urlp(q) 2", &r));
    assert_false(acl1("urlp(q,#) 2", &r)); /* no '#' anywhere: no list */
}

static void test_method(void **state)
{
    struct treq r;

    assert_true(acl1("method GET", &R));
    assert_true(acl1("method POST GET", &R));
    assert_false(acl1("method POST", &R));
    assert_false(acl1("method get", &R));
    assert_false(acl1("method -i get", &R)); /* HAProxy: known methods compare by id */
    assert_true(acl1("method -m beg GE", &R));
    treq_init(&r, "PURGE /x HTTP/1.1", NULL);
    assert_true(acl1("method PURGE", &r));
    assert_false(acl1("method purge", &r));
    assert_true(acl1("method -i purge", &r));
    assert_false(acl1("method GET", &r));
    treq_init(&r, "PATCH /x HTTP/1.1", NULL);
    assert_true(acl1("method PATCH", &r));
    assert_true(acl1("method -i patch", &r)); /* not one of HAProxy's eight */
    treq_init(&r, "get /x HTTP/1.1", NULL);
    assert_false(acl1("method GET", &r));
    assert_false(acl1("method -i GET", &r)); /* pattern GET is known: id compare */
    assert_true(acl1("method -i GEt", &r));  /* unknown token: string compare */
    assert_true(acl1("method get", &r));
}

static void test_version(void **state)
{
    struct treq r;

    assert_true(acl1("req.ver 1.1", &R));
    assert_false(acl1("req_ver 1.0", &R));
    treq_init(&r, "GET / HTTP/1.0", NULL);
    assert_true(acl1("req.ver 1.0", &r));
    r.m.version = 20;
    assert_true(acl1("req.ver 2.0", &r));
    r.m.version = 9;
    assert_false(acl1("req.ver -m found", &r));
}

static void test_addresses_and_ports(void **state)
{
    assert_true(acl1("src 192.0.2.0/24", &R));
    assert_true(acl1("src 10.0.0.0/8 192.0.2.10", &R));
    assert_false(acl1("src 10.0.0.0/8", &R));
    assert_true(acl1("dst 198.51.100.1", &R));
    assert_false(acl1("dst 192.0.2.10", &R));
    assert_true(acl1("src_port 40000", &R));
    assert_true(acl1("src_port 1024:", &R));
    assert_true(acl1("dst_port 80 443", &R));
    assert_false(acl1("dst_port 443", &R));
    assert_true(acl1("src -m found", &R));

    struct acl_ctx none = {.req = &R.m};
    assert_false(acl1_ctx("src -m found", &none));
    assert_false(acl1_ctx("src_port -m found", &none));
    assert_false(acl1_ctx("dst 0.0.0.0/0", &none));
    struct sockaddr_storage un = {.ss_family = AF_UNIX};
    struct acl_ctx unix_ctx = {.req = &R.m, .src = (struct sockaddr *)&un};
    assert_false(acl1_ctx("src 0.0.0.0/0 ::/0", &unix_ctx));
}

static void test_booleans(void **state)
{
    assert_true(acl1("always_true", &R));
    assert_false(acl1("always_false", &R));
    assert_true(acl1("req.proto_http", &R));
    assert_true(acl1("always_true -m int 1", &R));
    assert_false(acl1("always_false -m int 1", &R));
    assert_true(acl1("always_true -m found", &R));
    assert_true(acl1("hdr_cnt(x-a) -m bool", &R));
    assert_false(acl1("hdr_cnt(x-nope) -m bool", &R));
    assert_true(acl1("always_true ignored values", &R)); /* HAProxy ignores them too */
}

/* Without a request (TCP mode) HTTP fetches find nothing. */
static void test_no_request(void **state)
{
    struct acl_ctx tcp = {.src = R.ctx.src, .dst = R.ctx.dst};

    assert_false(acl1_ctx("path -m found", &tcp));
    assert_false(acl1_ctx("hdr_cnt(host) ge 0", &tcp));
    assert_false(acl1_ctx("method GET", &tcp));
    assert_false(acl1_ctx("req.proto_http", &tcp));
    assert_true(acl1_ctx("src 192.0.2.10", &tcp));
    assert_true(acl1_ctx("always_true", &tcp));
}

/* http-response rules: ctx->res is the response, ctx->req still the request. */
static void test_response(void **state)
{
    static const char *const rh[] = {"Location: https://www.example.com/new",
                                     "Cache-Control: no-cache, private", "Content-Length: 0",
                                     "Server: upstream/1.0", NULL};
    struct treq resp;

    treq_init(&resp, "XX / HTTP/1.1", rh); /* reuse the builder for the fields */
    resp.m.kind = HTTP_MSG_RESPONSE;
    resp.m.status = 302;
    resp.m.method_str = (struct http_str){NULL, 0};
    struct acl_ctx ctx = R.ctx;
    ctx.res = &resp.m;

    assert_true(acl1_ctx("status 302", &ctx));
    assert_true(acl1_ctx("status 300:399", &ctx));
    assert_false(acl1_ctx("status ge 400", &ctx));
    assert_true(acl1_ctx("res.hdr(cache-control) private", &ctx));
    assert_true(acl1_ctx("shdr(Cache-Control) no-cache", &ctx));
    assert_false(acl1_ctx("res.fhdr(cache-control) private", &ctx));
    assert_true(acl1_ctx("res.fhdr(cache-control) -m end private", &ctx));
    assert_true(acl1_ctx("res.hdr_beg(location) https://", &ctx));
    assert_true(acl1_ctx("shdr_sub(location) example", &ctx));
    assert_true(acl1_ctx("shdr_dom(location) www", &ctx));
    assert_true(acl1_ctx("res.hdr_cnt(cache-control) 2", &ctx));
    assert_true(acl1_ctx("shdr_cnt(cache-control) 2", &ctx));
    assert_true(acl1_ctx("res.fhdr_cnt(cache-control) 1", &ctx));
    assert_true(acl1_ctx("res.hdr_val(content-length) 0", &ctx));
    assert_true(acl1_ctx("shdr_val(content-length) eq 0", &ctx));
    assert_true(acl1_ctx("res.ver 1.1", &ctx));
    assert_true(acl1_ctx("resp_ver 1.1", &ctx));
    /* bare hdr follows the direction; hdr_* and req.* stay on the request */
    assert_true(acl1_ctx("hdr(server) -m beg upstream", &ctx));
    assert_false(acl1_ctx("hdr(host) -m found", &ctx));
    assert_true(acl1_ctx("hdr_beg(host) -i www.", &ctx));
    assert_false(acl1_ctx("hdr_beg(location) https", &ctx));
    assert_true(acl1_ctx("req.hdr(host) -m found", &ctx));
    assert_false(acl1_ctx("req.hdr(location) -m found", &ctx));
    assert_true(acl1_ctx("path_end .png", &ctx)); /* the request is still there */

    /* request rules have no response */
    assert_false(acl1("status -m found", &R));
    assert_false(acl1("res.hdr(location) -m found", &R));
    assert_false(acl1("shdr_cnt ge 0", &R));
    assert_true(acl1("hdr(host) -m found", &R));
}

static void test_flags(void **state)
{
    assert_true(acl1("path -m beg -i /IMAGES", &R));
    assert_true(acl1("path -i -m beg /IMAGES", &R));
    assert_true(acl1("path_beg -n -u 7 /images", &R));
    assert_false(acl1("path_beg /nope -i", &R));     /* "-i" after a value is a value */
    assert_true(acl1("hdr(x-neg) -m beg x -7", &R)); /* so is "-7" */
    assert_true(acl1("hdr(x-neg) -m beg -- -7", &R));
    assert_true(acl1("hdr(x-a) -m str -m sub c", &R)); /* last -m wins */
    assert_true(acl1("hdr_beg(host) -m str www.Example.com:8080", &R));
    assert_true(acl1("hdr_dom(host) -m beg www.", &R)); /* -m overrides the keyword */
    assert_true(acl1("hdr(host) -m len 20", &R));
}

static void test_multi_values_and_lines(void **state)
{
    char err[256];
    char **argv;
    int argc;
    struct acl_set *set = acl_set_new();

    /* several lines under one name are ORed */
    argc = words("path_beg /static /img", &argv);
    assert_int_equal(acl_set_add(set, "st", argc, argv, err, sizeof(err)), 0);
    assert_false(acl_eval(acl_set_find(set, "st"), &R.ctx));
    argc = words("path_end .css .png", &argv);
    assert_int_equal(acl_set_add(set, "st", argc, argv, err, sizeof(err)), 0);
    assert_true(acl_eval(acl_set_find(set, "st"), &R.ctx));
    assert_int_equal(acl_set_find(set, "st")->nexprs, 2);
    /* names are case-sensitive */
    assert_null(acl_set_find(set, "ST"));
    argc = words("path_beg /images", &argv);
    assert_int_equal(acl_set_add(set, "a.b-c_d:e9", argc, argv, err, sizeof(err)), 0);
    assert_true(acl_eval(acl_set_find(set, "a.b-c_d:e9"), &R.ctx));
    assert_int_equal(set->n, 2);
    acl_set_free(set);
    acl_set_free(NULL);
}

static void test_pattern_file(void **state)
{
    char path[] = "/tmp/acl_test_patterns_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# hosts\n\n   /nope\n\t/images/png\r\n#/images\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    char line[256];
    snprintf(line, sizeof(line), "path_beg -f %s", path);
    assert_true(acl1(line, &R));
    snprintf(line, sizeof(line), "path -f %s /images/png/logo/32x32.png", path);
    assert_true(acl1(line, &R));
    snprintf(line, sizeof(line), "path -f %s", path);
    assert_false(acl1(line, &R));
    unlink(path);
    assert_string_equal(acl_error("path_beg -f /nonexistent/acl.lst"),
                        "cannot open pattern file '/nonexistent/acl.lst': No such file or "
                        "directory");
}

static void test_errors(void **state)
{
    assert_string_equal(acl_error("pth /"), "unknown fetch 'pth' (did you mean 'path'?)");
    assert_string_equal(acl_error("hdr_bge(host) x"),
                        "unknown fetch 'hdr_bge' (did you mean 'hdr_beg'?)");
    assert_string_equal(acl_error("zzzzzz x"), "unknown fetch 'zzzzzz'");
    assert_string_equal(acl_error("path_beg"), "missing value for 'path_beg'");
    assert_string_equal(acl_error("hdr(host) -i"), "missing value for 'hdr(host)'");
    assert_string_equal(acl_error("path_reg ("),
                        "invalid regex '(' : missing closing parenthesis at offset 1");
    assert_string_equal(acl_error("src 300.1.1.1"), "invalid address '300.1.1.1' for 'src'");
    assert_string_equal(acl_error("src 10.0.0.0/33"), "invalid address '10.0.0.0/33' for 'src'");
    assert_string_equal(acl_error("src ::1/129"), "invalid address '::1/129' for 'src'");
    assert_string_equal(acl_error("src example.com"), "invalid address 'example.com' for 'src'");
    assert_string_equal(acl_error("src 1.2.3.4.5"), "invalid address '1.2.3.4.5' for 'src'");
    assert_string_equal(acl_error("src 1.2.3.4/"), "invalid address '1.2.3.4/' for 'src'");
    assert_string_equal(acl_error("path -x /"),
                        "unknown flag '-x' (put '--' before a value starting with '-')");
    assert_string_equal(acl_error("hdr_cnt(a) abc"), "invalid integer 'abc' for 'hdr_cnt(a)'");
    assert_string_equal(acl_error("hdr_cnt(a) gt 1:5"),
                        "a range ('1:5') cannot follow an operator in 'hdr_cnt(a)'");
    assert_string_equal(acl_error("hdr_cnt(a) 5:1"),
                        "invalid range '5:1' for 'hdr_cnt(a)' (low > high)");
    assert_string_equal(acl_error("hdr_cnt(a) :"), "invalid range ':' for 'hdr_cnt(a)'");
    assert_string_equal(acl_error("path_len 1.5"), "invalid integer '1.5' for 'path_len'");
    assert_string_equal(acl_error("src -m beg 1"),
                        "match method '-m beg' cannot be used with 'src' (an address)");
    assert_string_equal(acl_error("hdr_cnt(a) -m reg x"),
                        "match method '-m reg' cannot be used with 'hdr_cnt(a)' (an integer)");
    assert_string_equal(acl_error("path -m int 1"),
                        "match method '-m int' cannot be used with 'path' (a string)");
    assert_string_equal(acl_error("path -m bin 41"),
                        "unknown match method 'bin' for '-m' (expected found, bool, int, ip, "
                        "len, str, beg, end, sub, reg, dom or dir)");
    assert_string_equal(acl_error("path -m"), "missing argument after '-m'");
    assert_string_equal(acl_error("path -f"), "missing argument after '-f'");
    assert_string_equal(acl_error("path -M x"), "flag '-M' (map files) is not supported");
    assert_string_equal(acl_error("hdr(host),lower x"),
                        "converters are not supported (',lower' in 'hdr(host),lower')");
    assert_string_equal(acl_error("hdr(host x"), "missing ')' in 'hdr(host'");
    assert_string_equal(acl_error("hdr(host)x y"), "unexpected 'x' after 'hdr(host)'");
    assert_string_equal(acl_error("path(1) /"), "'path' takes no argument (in 'path(1)')");
    assert_string_equal(acl_error("req.fhdr() x"), "missing header name in 'req.fhdr()'");
    assert_string_equal(acl_error("hdr(a,1,2) x"), "too many arguments in 'hdr(a,1,2)'");
    assert_string_equal(acl_error("hdr_cnt(a,1) 1"), "too many arguments in 'hdr_cnt(a,1)'");
    assert_string_equal(acl_error("hdr(a,x) y"), "invalid occurrence 'x' in 'hdr(a,x)'");
    assert_string_equal(acl_error("hdr(a,) y"), "invalid occurrence '' in 'hdr(a,)'");
    assert_string_equal(acl_error("urlp(a,xy) 1"),
                        "invalid delimiter 'xy' in 'urlp(a,xy)': one character expected");
    assert_string_equal(acl_error("<empty>"), "missing criterion");

    char err[256];
    char *argv[] = {"path", "/"};
    struct acl_set *set = acl_set_new();
    assert_int_equal(acl_set_add(set, "bad name", 2, argv, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid ACL name 'bad name': only letters, digits, '-', '_', '.' "
                             "and ':' are allowed");
    assert_int_equal(acl_set_add(set, "", 2, argv, err, sizeof(err)), -1);
    assert_int_equal(acl_set_add(set, "x", 0, argv, err, sizeof(err)), -1);
    assert_string_equal(err, "missing criterion");
    /* a failed line leaves the existing ACL of that name untouched */
    assert_int_equal(acl_set_add(set, "ok", 2, argv, err, sizeof(err)), 0);
    char *bad[] = {"path_reg", "(("};
    assert_int_equal(acl_set_add(set, "ok", 2, bad, err, sizeof(err)), -1);
    assert_int_equal(acl_set_find(set, "ok")->nexprs, 1);
    /* a tiny error buffer truncates, never overflows */
    char small[8];
    assert_int_equal(acl_set_add(set, "x", 2, bad, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), 7);
    acl_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_hdr_split, setup),
        cmocka_unit_test_setup(test_hdr_occurrence, setup),
        cmocka_unit_test_setup(test_hdr_all_headers, setup),
        cmocka_unit_test_setup(test_fhdr, setup),
        cmocka_unit_test_setup(test_hdr_derivatives, setup),
        cmocka_unit_test_setup(test_hdr_found_and_empty, setup),
        cmocka_unit_test_setup(test_hdr_cnt_val_ip, setup),
        cmocka_unit_test_setup(test_path, setup),
        cmocka_unit_test_setup(test_path_special_targets, setup),
        cmocka_unit_test_setup(test_url_pathq_query, setup),
        cmocka_unit_test_setup(test_url_rewritten, setup),
        cmocka_unit_test_setup(test_url_param, setup),
        cmocka_unit_test_setup(test_method, setup),
        cmocka_unit_test_setup(test_version, setup),
        cmocka_unit_test_setup(test_addresses_and_ports, setup),
        cmocka_unit_test_setup(test_booleans, setup),
        cmocka_unit_test_setup(test_no_request, setup),
        cmocka_unit_test_setup(test_response, setup),
        cmocka_unit_test_setup(test_flags, setup),
        cmocka_unit_test_setup(test_multi_values_and_lines, setup),
        cmocka_unit_test_setup(test_pattern_file, setup),
        cmocka_unit_test_setup(test_errors, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    acl_thread_release();
    return rc;
}
