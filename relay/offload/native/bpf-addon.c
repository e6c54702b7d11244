/*
 * anyturn_bpf: the few kernel calls the offload control plane needs (relay/offload/native.ts), as a Node-API addon.
 *
 *   load(object)                 → { prog, maps: {name: fd} }  loads an eBPF ELF object with libbpf (dlopen'ed:
 *                                   libbpf.so.1 is needed at run time only, no headers at build time)
 *   attachIngress(prog, ifname)  → link fd: the program at tcx ingress of an interface. The link lives as long as
 *                                   the fd: when the process exits (or is killed) the kernel detaches the program
 *                                   and frees its maps, so no entry outlives the control plane that owns it.
 *   update(map, key, value) / remove(map, key)  → 0 or an errno (no exception on the hot control path)
 *   mmapArray(map, bytes)        → ArrayBuffer over a BPF_F_MMAPABLE array (counters read without a syscall)
 *   close(fd)
 *   monotonicNs()                → CLOCK_MONOTONIC as a BigInt (the clock of bpf_ktime_get_ns)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <node_api.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Kernel ≥ 6.6 (tcx); named here because the build host's uapi headers may be older. */
#define ATTACH_TCX_INGRESS 46

struct link_create_tcx {
	uint32_t prog_fd;
	uint32_t target_ifindex;
	uint32_t attach_type;
	uint32_t flags;
	uint32_t relative_fd;
	uint32_t pad;
	uint64_t expected_revision;
	uint8_t rest[128];
};

/* libbpf entry points, resolved with dlsym. */
struct bpf_object;
struct bpf_map;
static struct {
	void *handle;
	struct bpf_object *(*open_mem)(const void *, size_t, const void *);
	int (*load)(struct bpf_object *);
	void (*close)(struct bpf_object *);
	struct bpf_map *(*next_map)(const struct bpf_object *, const struct bpf_map *);
	const char *(*map_name)(const struct bpf_map *);
	int (*map_fd)(const struct bpf_map *);
	int (*prog_fd_by_name)(const struct bpf_object *, const char *);
	void *(*find_prog)(const struct bpf_object *, const char *);
	int (*prog_fd)(const void *);
	void *(*set_print)(void *);
} lib;

static char load_log[4096];

static int collect_log(int level, const char *fmt, va_list args)
{
	size_t used = strlen(load_log);
	if (level == 2 /* LIBBPF_DEBUG */ || used + 1 >= sizeof(load_log))
		return 0;
	vsnprintf(load_log + used, sizeof(load_log) - used, fmt, args);
	return 0;
}

static const char *open_libbpf(void)
{
	if (lib.handle != NULL)
		return NULL;
	void *h = dlopen("libbpf.so.1", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return "libbpf.so.1 not found (Debian: apt-get install libbpf1)";
	lib.open_mem = dlsym(h, "bpf_object__open_mem");
	lib.load = dlsym(h, "bpf_object__load");
	lib.close = dlsym(h, "bpf_object__close");
	lib.next_map = dlsym(h, "bpf_object__next_map");
	lib.map_name = dlsym(h, "bpf_map__name");
	lib.map_fd = dlsym(h, "bpf_map__fd");
	lib.find_prog = dlsym(h, "bpf_object__find_program_by_name");
	lib.prog_fd = dlsym(h, "bpf_program__fd");
	lib.set_print = dlsym(h, "libbpf_set_print");
	if (!lib.open_mem || !lib.load || !lib.close || !lib.next_map || !lib.map_name || !lib.map_fd ||
	    !lib.find_prog || !lib.prog_fd || !lib.set_print) {
		dlclose(h);
		return "libbpf.so.1 lacks an expected function (libbpf ≥ 1.0 needed)";
	}
	lib.handle = h;
	return NULL;
}

static int fcntl_dup(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

static long sys_bpf(int cmd, void *attr, unsigned int size)
{
	return syscall(__NR_bpf, cmd, attr, size);
}

static napi_value throw_error(napi_env env, const char *code, const char *message)
{
	napi_throw_error(env, code, message);
	return NULL;
}

static napi_value make_int(napi_env env, int64_t v)
{
	napi_value out;
	napi_create_int64(env, v, &out);
	return out;
}

static int arg_int(napi_env env, napi_value v, int32_t *out)
{
	return napi_get_value_int32(env, v, out) == napi_ok;
}

static int arg_buffer(napi_env env, napi_value v, void **data, size_t *length)
{
	return napi_get_buffer_info(env, v, data, length) == napi_ok;
}

/* load(object: Buffer, program: string) → { prog: fd, maps: { name: fd } } (fds dup'ed; the object is closed). */
static napi_value load(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	void *obj_data;
	size_t obj_length;
	char program[64];
	size_t program_length;
	if (argc < 2 || !arg_buffer(env, argv[0], &obj_data, &obj_length) ||
	    napi_get_value_string_utf8(env, argv[1], program, sizeof(program), &program_length) != napi_ok)
		return throw_error(env, "EINVAL", "load(object: Buffer, program: string)");
	const char *missing = open_libbpf();
	if (missing != NULL)
		return throw_error(env, "ENOLIBBPF", missing);
	load_log[0] = 0;
	lib.set_print((void *)collect_log);
	struct bpf_object *obj = lib.open_mem(obj_data, obj_length, NULL);
	if (obj == NULL) {
		char message[4200];
		snprintf(message, sizeof(message), "cannot open the eBPF object: %s %s", strerror(errno), load_log);
		return throw_error(env, "EBPFOPEN", message);
	}
	if (lib.load(obj) != 0) {
		int err = errno;
		char message[4300];
		snprintf(message, sizeof(message), "cannot load the eBPF object (%s): %s", strerror(err), load_log);
		lib.close(obj);
		return throw_error(env, err == EPERM || err == EACCES ? "EPERM" : "EBPFLOAD", message);
	}
	napi_value result, maps;
	napi_create_object(env, &result);
	napi_create_object(env, &maps);
	void *prog = lib.find_prog(obj, program);
	int prog_fd = prog == NULL ? -1 : fcntl_dup(lib.prog_fd(prog));
	if (prog_fd < 0) {
		lib.close(obj);
		return throw_error(env, "EBPFLOAD", "the object has no such program");
	}
	napi_set_named_property(env, result, "prog", make_int(env, prog_fd));
	for (const struct bpf_map *m = lib.next_map(obj, NULL); m != NULL; m = lib.next_map(obj, m)) {
		int fd = fcntl_dup(lib.map_fd(m));
		if (fd >= 0)
			napi_set_named_property(env, maps, lib.map_name(m), make_int(env, fd));
	}
	napi_set_named_property(env, result, "maps", maps);
	lib.close(obj);
	return result;
}

/* attachIngress(prog: fd, ifname: string) → link fd. */
static napi_value attach_ingress(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	int32_t prog_fd;
	char ifname[IF_NAMESIZE + 1];
	size_t ifname_length;
	if (argc < 2 || !arg_int(env, argv[0], &prog_fd) ||
	    napi_get_value_string_utf8(env, argv[1], ifname, sizeof(ifname), &ifname_length) != napi_ok)
		return throw_error(env, "EINVAL", "attachIngress(prog: number, ifname: string)");
	unsigned int ifindex = if_nametoindex(ifname);
	if (ifindex == 0)
		return throw_error(env, "ENODEV", "no such interface");
	struct link_create_tcx attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = (uint32_t)prog_fd;
	attr.target_ifindex = ifindex;
	attr.attach_type = ATTACH_TCX_INGRESS;
	long fd = sys_bpf(BPF_LINK_CREATE, &attr, sizeof(attr));
	if (fd < 0) {
		char message[160];
		snprintf(message, sizeof(message), "cannot attach at tcx ingress of %s: %s", ifname, strerror(errno));
		return throw_error(env, errno == EPERM ? "EPERM" : "EATTACH", message);
	}
	return make_int(env, fd);
}

struct elem_attr {
	uint32_t map_fd;
	uint32_t pad;
	uint64_t key;
	uint64_t value;
	uint64_t flags;
};

static napi_value map_op(napi_env env, napi_callback_info info, int cmd)
{
	size_t argc = 3;
	napi_value argv[3];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	int32_t fd;
	void *key, *value = NULL;
	size_t key_length, value_length;
	int with_value = cmd != BPF_MAP_DELETE_ELEM;
	if (argc < (with_value ? 3u : 2u) || !arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &key, &key_length) ||
	    (with_value && !arg_buffer(env, argv[2], &value, &value_length)))
		return throw_error(env, "EINVAL", "map operation: (map: number, key: Buffer[, value: Buffer])");
	struct elem_attr attr = { .map_fd = (uint32_t)fd, .key = (uint64_t)(uintptr_t)key,
				  .value = (uint64_t)(uintptr_t)value, .flags = BPF_ANY };
	return make_int(env, sys_bpf(cmd, &attr, sizeof(attr)) == 0 ? 0 : errno);
}

static napi_value update(napi_env env, napi_callback_info info)
{
	return map_op(env, info, BPF_MAP_UPDATE_ELEM);
}

static napi_value remove_elem(napi_env env, napi_callback_info info)
{
	return map_op(env, info, BPF_MAP_DELETE_ELEM);
}

static napi_value lookup(napi_env env, napi_callback_info info)
{
	return map_op(env, info, BPF_MAP_LOOKUP_ELEM);
}

static void unmap(napi_env env, void *data, void *hint)
{
	munmap(data, (size_t)(uintptr_t)hint);
}

/* mmapArray(map: fd, bytes: number) → ArrayBuffer sharing the map's memory (read-only). */
static napi_value mmap_array(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	int32_t fd, bytes;
	if (argc < 2 || !arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &bytes) || bytes <= 0)
		return throw_error(env, "EINVAL", "mmapArray(map: number, bytes: number)");
	void *p = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return throw_error(env, "EMMAP", strerror(errno));
	napi_value out;
	if (napi_create_external_arraybuffer(env, p, (size_t)bytes, unmap, (void *)(uintptr_t)bytes, &out) != napi_ok) {
		munmap(p, (size_t)bytes);
		return throw_error(env, "EMMAP", "cannot wrap the mapping");
	}
	return out;
}

static napi_value close_fd(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	int32_t fd;
	if (argc < 1 || !arg_int(env, argv[0], &fd))
		return throw_error(env, "EINVAL", "close(fd: number)");
	close(fd);
	return NULL;
}

static napi_value monotonic_ns(napi_env env, napi_callback_info info)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	napi_value out;
	napi_create_bigint_uint64(env, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, &out);
	return out;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "load", NULL, load, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "attachIngress", NULL, attach_ingress, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "update", NULL, update, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "remove", NULL, remove_elem, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "lookup", NULL, lookup, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "mmapArray", NULL, mmap_array, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "close", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "monotonicNs", NULL, monotonic_ns, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
