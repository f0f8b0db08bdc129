/*
 * http_reason.c: names and statuses of the reasons (see http_reason.h), and
 * the reason phrases tern writes in local replies.
 */
#include "proxy/http/http_reason.h"

#include <assert.h>

#include "proxy/model/model_types.h"

/* The per-listener counter array is sized in the model (which cannot see
 * filter.h): it must hold every reason. */
static_assert(HTTP_R__COUNT <= MODEL_HTTP_REASONS, "MODEL_HTTP_REASONS too small");

static const char *const names[HTTP_R__COUNT] = {
    [TERN_R_NONE] = "none",
    [TERN_R_NO_HEALTHY_UPSTREAM] = "no_healthy_upstream",
    [TERN_R_QUEUE_FULL] = "queue_full",
    [TERN_R_QUEUE_TIMEOUT] = "queue_timeout",
    [TERN_R_CONNECT_FAILURE] = "connect_failure",
    [TERN_R_CONNECT_TIMEOUT] = "connect_timeout",
    [TERN_R_UPSTREAM_RESET_BEFORE_HEADERS] = "upstream_reset_before_headers",
    [TERN_R_UPSTREAM_RESET_AFTER_HEADERS] = "upstream_reset_after_headers",
    [TERN_R_UPSTREAM_TIMEOUT] = "upstream_timeout",
    [TERN_R_BAD_UPSTREAM_RESPONSE] = "bad_upstream_response",
    [TERN_R_RATE_LIMITED] = "rate_limited",
    [TERN_R_DENIED] = "denied",
    [TERN_R_BAD_REQUEST] = "bad_request",
    [TERN_R_REQUEST_TIMEOUT] = "request_timeout",
    [TERN_R_PAYLOAD_TOO_LARGE] = "payload_too_large",
    [TERN_R_URI_TOO_LONG] = "uri_too_long",
    [TERN_R_HEADERS_TOO_LARGE] = "headers_too_large",
    [TERN_R_LOCAL_RESPONSE] = "local_response",
    [HTTP_R_CLIENT_ABORT] = "client_abort",
    [HTTP_R_CLIENT_TIMEOUT] = "client_timeout",
    [HTTP_R_KILLED] = "killed",
    [HTTP_R_DEADLINE_EXCEEDED] = "deadline_exceeded",
};

const char *tern_reason_name(enum tern_reason r)
{
    return (unsigned)r < TERN_R__COUNT ? names[r] : "unknown";
}

const char *http_reason_name(int r)
{
    return r >= 0 && r < HTTP_R__COUNT && names[r] ? names[r] : "unknown";
}

uint16_t http_reason_status(int r)
{
    switch (r) {
    case TERN_R_NO_HEALTHY_UPSTREAM:
    case TERN_R_QUEUE_FULL:
    case TERN_R_QUEUE_TIMEOUT:
    case TERN_R_CONNECT_FAILURE:
    case TERN_R_CONNECT_TIMEOUT:
        return 503;
    case TERN_R_UPSTREAM_RESET_BEFORE_HEADERS:
    case TERN_R_BAD_UPSTREAM_RESPONSE:
        return 502;
    case TERN_R_UPSTREAM_TIMEOUT:
    case HTTP_R_DEADLINE_EXCEEDED:
        return 504;
    case TERN_R_RATE_LIMITED:
        return 429;
    case TERN_R_DENIED:
        return 403;
    case TERN_R_BAD_REQUEST:
        return 400;
    case TERN_R_REQUEST_TIMEOUT:
        return 408;
    case TERN_R_PAYLOAD_TOO_LARGE:
        return 413;
    case TERN_R_URI_TOO_LONG:
        return 414;
    case TERN_R_HEADERS_TOO_LARGE:
        return 431;
    default:
        return 0;
    }
}

const char *http_status_text(uint16_t status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 425: return "Too Early";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
