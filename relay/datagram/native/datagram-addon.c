/*
 * anyturn_datagram: UDP sockets without a libuv handle each (relay/datagram/native-io.ts), as a Node-API addon.
 *
 *   open(family, address, port, rcvbuf, sndbuf) → fd, or -errno: a non-blocking UDP socket bound at once
 *                                   (IPV6_V6ONLY for IPv6; no SO_REUSEADDR, like dgram's `exclusive`)
 *   localPort(fd)                → the bound port, or -errno
 *   watch(fd) / close(fd)        → datagrams of a watched fd reach the batch callback; close also unwatches
 *   send(fd, data, address, port)             → 0 or an errno (EAGAIN: the kernel took nothing, not queued)
 *   sendParts(fd, a, b, c|undefined, address, port) → 0 or an errno: one datagram from up to three buffers
 *   start(callback, meta)        → one libuv poll handle on an epoll set of every watched fd. When any is readable
 *                                   the addon drains them with recvmmsg, up to BATCH datagrams per JS call:
 *                                   callback(bytes, addresses, count) where `bytes` is a new Buffer holding the
 *                                   datagrams back to back and meta[4i..4i+3] = fd, offset, length, port of the
 *                                   i-th, addresses[i] its source address (strings are reused when a source repeats).
 *   stop()                       → the poll handle closes (a started engine keeps the process alive, as a bound
 *                                   dgram socket does; the JS side starts it with the first socket, stops it after
 *                                   the last)
 *
 * Why: Node's dgram gives every socket a libuv handle, an EventEmitter and a callback per datagram (the cost the
 * benchmarks measured); here a relayed port is a bare fd in one epoll set, and a whole batch costs one JS call.
 * Each batch gets its own Buffer, so a datagram that JavaScript keeps (a queued stream write) stays intact.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define BATCH 64
#define SLOT 65536
#define ROUNDS 4

static struct {
	int epfd;
	uv_poll_t *poll;
	int started;
	napi_env env;
	napi_ref callback;
	napi_ref meta;
	napi_ref resource;
	napi_async_context context;
	int32_t *meta_data;
	size_t meta_len;
} engine = { .epfd = -1 };

static unsigned char *slots;
static struct mmsghdr msgs[BATCH];
static struct iovec iovs[BATCH];
static struct sockaddr_storage from[BATCH];
static int owner[BATCH];

static napi_value make_int(napi_env env, int64_t v)
{
	napi_value out;
	napi_create_int64(env, v, &out);
	return out;
}

static napi_value throw_type(napi_env env, const char *message)
{
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
	return NULL;
}

static int32_t int_arg(napi_env env, napi_value v)
{
	int32_t out = 0;
	napi_get_value_int32(env, v, &out);
	return out;
}

/* Parses an IP literal into a sockaddr; 0 or EINVAL. */
static int parse_address(napi_env env, napi_value v, int32_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	char text[INET6_ADDRSTRLEN + 1];
	size_t n = 0;
	if (napi_get_value_string_latin1(env, v, text, sizeof(text), &n) != napi_ok)
		return EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (memchr(text, ':', n) != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, text, &a->sin6_addr) != 1)
			return EINVAL;
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, text, &a->sin_addr) != 1)
			return EINVAL;
		*len = sizeof(*a);
	}
	return 0;
}

static napi_value open_socket(napi_env env, napi_callback_info info)
{
	size_t argc = 5;
	napi_value argv[5];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 5)
		return throw_type(env, "open(family, address, port, rcvbuf, sndbuf)");
	int32_t family = int_arg(env, argv[0]);
	int32_t port = int_arg(env, argv[2]);
	int32_t rcvbuf = int_arg(env, argv[3]);
	int32_t sndbuf = int_arg(env, argv[4]);
	struct sockaddr_storage ss;
	socklen_t len;
	if (parse_address(env, argv[1], port, &ss, &len) != 0 || (family == 6) != (ss.ss_family == AF_INET6))
		return make_int(env, -EINVAL);
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return make_int(env, -errno);
	int one = 1;
	if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		goto fail;
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0)
		goto fail;
	if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) != 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		goto fail;
	return make_int(env, fd);
fail:;
	int err = errno;
	close(fd);
	return make_int(env, -err);
}

static napi_value local_port(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(int_arg(env, argv[0]), (struct sockaddr *)&ss, &len) != 0)
		return make_int(env, -errno);
	uint16_t port = ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port;
	return make_int(env, ntohs(port));
}

static napi_value watch(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (engine.epfd < 0)
		return make_int(env, EBADF);
	int fd = int_arg(env, argv[0]);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	return make_int(env, epoll_ctl(engine.epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno);
}

static napi_value close_socket(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	int fd = int_arg(env, argv[0]);
	if (fd >= 0)
		close(fd); /* the epoll set forgets a closed fd by itself */
	return NULL;
}

static napi_value send_parts(napi_env env, napi_callback_info info)
{
	size_t argc = 6;
	napi_value argv[6];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	/* send(fd, data, address, port) or sendParts(fd, a, b, c, address, port) */
	size_t parts = argc == 4 ? 1 : 3;
	struct iovec iov[3];
	size_t n = 0;
	for (size_t i = 0; i < parts; i++) {
		void *data;
		size_t length;
		if (napi_get_buffer_info(env, argv[1 + i], &data, &length) != napi_ok)
			continue; /* undefined: no third part */
		iov[n].iov_base = data;
		iov[n].iov_len = length;
		n++;
	}
	struct sockaddr_storage ss;
	socklen_t len;
	if (parse_address(env, argv[1 + parts], int_arg(env, argv[2 + parts]), &ss, &len) != 0)
		return make_int(env, EINVAL);
	struct msghdr m = { .msg_name = &ss, .msg_namelen = len, .msg_iov = iov, .msg_iovlen = n };
	return make_int(env, sendmsg(int_arg(env, argv[0]), &m, MSG_DONTWAIT) >= 0 ? 0 : errno);
}

static napi_value address_string(napi_env env, const struct sockaddr_storage *ss, int32_t *port)
{
	char text[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
		*port = ntohs(a->sin6_port);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
		*port = ntohs(a->sin_port);
	}
	napi_value out;
	napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &out);
	return out;
}

static int same_source(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

/* Hands `count` received datagrams to JavaScript in one call. */
static void deliver(napi_env env, int count)
{
	napi_handle_scope scope;
	napi_open_handle_scope(env, &scope);
	size_t total = 0;
	for (int i = 0; i < count; i++)
		total += msgs[i].msg_len;
	void *bytes;
	napi_value buffer, addresses, callback, resource, argv[3];
	napi_create_buffer(env, total > 0 ? total : 1, &bytes, &buffer);
	napi_create_array_with_length(env, count, &addresses);
	napi_value last = NULL;
	size_t offset = 0;
	for (int i = 0; i < count; i++) {
		size_t length = msgs[i].msg_len;
		memcpy((unsigned char *)bytes + offset, slots + (size_t)i * SLOT, length);
		int32_t port = 0;
		napi_value address;
		if (last != NULL && same_source(&from[i], &from[i - 1])) {
			address = last;
			port = ntohs(from[i].ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&from[i])->sin6_port
							       : ((struct sockaddr_in *)&from[i])->sin_port);
		} else {
			address = address_string(env, &from[i], &port);
		}
		last = address;
		napi_set_element(env, addresses, i, address);
		int32_t *m = engine.meta_data + 4 * i;
		m[0] = owner[i];
		m[1] = (int32_t)offset;
		m[2] = (int32_t)length;
		m[3] = port;
		offset += length;
	}
	argv[0] = buffer;
	argv[1] = addresses;
	argv[2] = make_int(env, count);
	napi_get_reference_value(env, engine.callback, &callback);
	napi_get_reference_value(env, engine.resource, &resource);
	napi_value result;
	if (napi_make_callback(env, engine.context, resource, callback, 3, argv, &result) == napi_pending_exception) {
		napi_value err;
		napi_get_and_clear_last_exception(env, &err);
		napi_fatal_exception(env, err);
	}
	napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
	if (!engine.started)
		return;
	struct epoll_event ready[BATCH];
	for (int round = 0; round < ROUNDS; round++) {
		int n = epoll_wait(engine.epfd, ready, BATCH, 0);
		if (n <= 0)
			return;
		int count = 0;
		for (int e = 0; e < n && count < BATCH; e++) {
			int fd = ready[e].data.fd;
			int room = BATCH - count;
			for (int i = 0; i < room; i++) {
				iovs[count + i].iov_base = slots + (size_t)(count + i) * SLOT;
				iovs[count + i].iov_len = SLOT;
				memset(&msgs[count + i].msg_hdr, 0, sizeof(msgs[count + i].msg_hdr));
				msgs[count + i].msg_hdr.msg_iov = &iovs[count + i];
				msgs[count + i].msg_hdr.msg_iovlen = 1;
				msgs[count + i].msg_hdr.msg_name = &from[count + i];
				msgs[count + i].msg_hdr.msg_namelen = sizeof(from[0]);
			}
			int got = recvmmsg(fd, &msgs[count], (unsigned)room, MSG_DONTWAIT, NULL);
			if (got < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
					int err;
					socklen_t len = sizeof(err);
					getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len); /* clears a pending ICMP error */
				}
				continue;
			}
			for (int i = 0; i < got; i++)
				owner[count + i] = fd;
			count += got;
		}
		if (count > 0)
			deliver(engine.env, count);
		if (!engine.started)
			return;
	}
}

static napi_value start(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (engine.started)
		return make_int(env, engine.env == env ? EALREADY : EBUSY); /* one engine per process: its main thread */
	void *meta;
	size_t meta_len;
	napi_typedarray_type type;
	napi_value arraybuffer;
	size_t byte_offset;
	if (argc < 2 || napi_get_typedarray_info(env, argv[1], &type, &meta_len, &meta, &arraybuffer, &byte_offset) != napi_ok ||
	    type != napi_int32_array || meta_len < 4 * BATCH)
		return throw_type(env, "start(callback, meta: Int32Array of at least 4 × BATCH)");
	if (slots == NULL) {
		static unsigned char storage[(size_t)BATCH * SLOT];
		slots = storage;
	}
	if (engine.epfd < 0) {
		engine.epfd = epoll_create1(EPOLL_CLOEXEC);
		if (engine.epfd < 0)
			return make_int(env, errno);
	}
	uv_loop_t *loop;
	napi_get_uv_event_loop(env, &loop);
	engine.poll = malloc(sizeof(uv_poll_t)); /* freed when closed: a stopped engine may start again at once */
	if (engine.poll == NULL)
		return make_int(env, ENOMEM);
	if (uv_poll_init(loop, engine.poll, engine.epfd) != 0) {
		free(engine.poll);
		engine.poll = NULL;
		return make_int(env, EINVAL);
	}
	napi_value resource, name;
	napi_create_object(env, &resource);
	napi_create_string_utf8(env, "anyturn.datagram", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, resource, name, &engine.context);
	napi_create_reference(env, resource, 1, &engine.resource);
	napi_create_reference(env, argv[0], 1, &engine.callback);
	napi_create_reference(env, argv[1], 1, &engine.meta);
	engine.meta_data = meta;
	engine.meta_len = meta_len;
	engine.env = env;
	engine.started = 1;
	uv_poll_start(engine.poll, UV_READABLE, on_readable);
	return make_int(env, 0);
}

static void on_poll_closed(uv_handle_t *handle)
{
	free(handle);
}

static napi_value stop(napi_env env, napi_callback_info info)
{
	if (!engine.started)
		return NULL;
	engine.started = 0;
	uv_poll_stop(engine.poll);
	uv_close((uv_handle_t *)engine.poll, on_poll_closed);
	engine.poll = NULL;
	napi_async_destroy(env, engine.context);
	napi_delete_reference(env, engine.callback);
	napi_delete_reference(env, engine.meta);
	napi_delete_reference(env, engine.resource);
	return NULL;
}

static napi_value batch_size(napi_env env, napi_callback_info info)
{
	return make_int(env, BATCH);
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "open", NULL, open_socket, NULL, NULL, NULL, napi_default, NULL },
		{ "localPort", NULL, local_port, NULL, NULL, NULL, napi_default, NULL },
		{ "watch", NULL, watch, NULL, NULL, NULL, napi_default, NULL },
		{ "close", NULL, close_socket, NULL, NULL, NULL, napi_default, NULL },
		{ "send", NULL, send_parts, NULL, NULL, NULL, napi_default, NULL },
		{ "sendParts", NULL, send_parts, NULL, NULL, NULL, napi_default, NULL },
		{ "start", NULL, start, NULL, NULL, NULL, napi_default, NULL },
		{ "stop", NULL, stop, NULL, NULL, NULL, napi_default, NULL },
		{ "batchSize", NULL, batch_size, NULL, NULL, NULL, napi_default, NULL },
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
