// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * anyturn's kernel fast path for UDP ChannelData (RFC 8656 §12), IPv4 and IPv6, attached at tc ingress (tcx) of
 * the interfaces that carry the listen and relay addresses. A flow has one address family end to end.
 *
 *   client → listen address, ChannelData of a bound channel  ⇒  UDP from the relayed address to the peer
 *   peer   → relayed address, from a channel-bound peer      ⇒  ChannelData from the listen address to the client
 *   a client's ChannelData to a peer that is another relayed address of this relay with a channel back (two
 *   clients of one relay) ⇒ ChannelData straight to the other client (headers rewritten in place).
 *
 * The control plane (relay/offload/) owns every map entry: an entry exists while the channel binding, the
 * permission it needs and the allocation are alive, and carries the earliest of their expiry times
 * (CLOCK_MONOTONIC ns) so that the kernel stops on time even if the control plane is late or gone. Anything the
 * program does not recognise, or whose entry has expired, goes on unchanged (TCX_NEXT) to the next program and to
 * the relay's sockets. Fragments, IP options, IPv6 extension headers, GSO packets and ChannelData with trailing
 * bytes are left to userspace too.
 *
 * Checksums: IPv4 UDP datagrams leave with checksum 0 (none, RFC 768); IPv6 ones get a checksum computed over
 * the new datagram (up to 1536 bytes of data; larger ones are left to userspace).
 *
 * Rebuilt by relay/offload/bpf/build.sh; the committed object must match (test/unit/offload/bpf-object.test.ts).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TCX_NEXT (-1)
#define TCX_PASS 0
#define TCX_DROP 2

#define MAX_FLOWS 65536
#define CHANNEL_MIN 0x4000
#define CHANNEL_MAX 0x7fff
#define IP_HEADER 20
#define ETH_IP (sizeof(struct ethhdr) + IP_HEADER)
#define IP6_HEADER 40
#define ETH_IP6 (sizeof(struct ethhdr) + IP6_HEADER)

/* client → relay: the client's 5-tuple on the listen address and the channel number (all network order). */
struct c2p_key {
	__u32 client_ip;
	__u32 listen_ip;
	__u16 client_port;
	__u16 listen_port;
	__u16 channel;
	__u16 pad;
};

struct c2p_value {
	__u32 relay_ip;
	__u32 peer_ip;
	__u16 relay_port;
	__u16 peer_port;
	__u32 slot; /* index in flow_stats */
	__u32 ifindex; /* where the datagram to the peer leaves; 0: the peer's address is local */
	__u32 pad;
	__u64 expires_ns;
};

/* peer → relayed address (network order). */
struct p2c_key {
	__u32 peer_ip;
	__u32 relay_ip;
	__u16 peer_port;
	__u16 relay_port;
};

struct p2c_value {
	__u32 client_ip;
	__u32 listen_ip;
	__u16 client_port;
	__u16 listen_port;
	__u16 channel;
	__u16 pad;
	__u32 slot;
	__u32 ifindex; /* where the ChannelData to the client leaves; 0: the client's address is local */
	__u64 expires_ns;
};

/* Per channel binding, both directions: packets and payload bytes (ChannelData headers not counted). */
struct flow_stats {
	__u64 c2p_packets;
	__u64 c2p_bytes;
	__u64 p2c_packets;
	__u64 p2c_bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FLOWS);
	__type(key, struct c2p_key);
	__type(value, struct c2p_value);
} c2p_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FLOWS);
	__type(key, struct p2c_key);
	__type(value, struct p2c_value);
} p2c_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_FLOWS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct flow_stats);
} flow_stats SEC(".maps");

/* IPv6: the same four structures with 16-byte addresses. */
struct c2p6_key {
	__u32 client_ip[4];
	__u32 listen_ip[4];
	__u16 client_port;
	__u16 listen_port;
	__u16 channel;
	__u16 pad;
};

struct c2p6_value {
	__u32 relay_ip[4];
	__u32 peer_ip[4];
	__u16 relay_port;
	__u16 peer_port;
	__u32 slot;
	__u32 ifindex;
	__u32 pad;
	__u64 expires_ns;
};

struct p2c6_key {
	__u32 peer_ip[4];
	__u32 relay_ip[4];
	__u16 peer_port;
	__u16 relay_port;
};

struct p2c6_value {
	__u32 client_ip[4];
	__u32 listen_ip[4];
	__u16 client_port;
	__u16 listen_port;
	__u16 channel;
	__u16 pad;
	__u32 slot;
	__u32 ifindex;
	__u64 expires_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FLOWS);
	__type(key, struct c2p6_key);
	__type(value, struct c2p6_value);
} c2p_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FLOWS);
	__type(key, struct p2c6_key);
	__type(value, struct p2c6_value);
} p2c_v6 SEC(".maps");

/* A rewritten IPv4 + UDP header and, when the packet becomes ChannelData, the ChannelData header. */
struct out_headers {
	struct iphdr ip;
	struct udphdr udp;
	__u16 channel;
	__u16 length;
};

static __always_inline __u16 fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* New IP header: addresses and length replaced, fresh TTL, checksum recomputed. UDP checksum 0 (RFC 768). */
static __always_inline void write_headers(struct out_headers *h, const struct iphdr *in, __u32 saddr, __u32 daddr,
					  __u16 sport, __u16 dport, __u16 udp_length)
{
	h->ip = *in;
	h->ip.saddr = saddr;
	h->ip.daddr = daddr;
	h->ip.tot_len = bpf_htons(IP_HEADER + udp_length);
	h->ip.ttl = 64;
	h->ip.check = 0;
	h->ip.check = fold(bpf_csum_diff(0, 0, (__be32 *)&h->ip, IP_HEADER, 0));
	h->udp.source = sport;
	h->udp.dest = dport;
	h->udp.len = bpf_htons(udp_length);
	h->udp.check = 0;
}

/*
 * Whether the rewritten packet can go: a local destination (ifindex 0) is delivered by the stack; otherwise the
 * packet leaves by the interface the control plane named (from the routing table), next hop and neighbour
 * resolved by the kernel, if it fits that interface's MTU once `grow` bytes longer. False: left to userspace.
 * (bpf_fib_lookup cannot decide this: it answers nothing on hosts that do not forward.)
 */
static __always_inline int fits(struct __sk_buff *skb, __u32 ifindex, __s32 grow)
{
	__u32 mtu = 0;
	return ifindex == 0 || bpf_check_mtu(skb, ifindex, &mtu, grow, 0) == BPF_MTU_CHK_RET_SUCCESS;
}

static __always_inline int deliver(__u32 ifindex)
{
	return ifindex == 0 ? TCX_PASS : bpf_redirect_neigh(ifindex, 0, 0, 0);
}

static __always_inline void count(__u32 slot, int to_peer, __u32 bytes)
{
	struct flow_stats *s = bpf_map_lookup_elem(&flow_stats, &slot);
	if (!s)
		return;
	if (to_peer) {
		__sync_fetch_and_add(&s->c2p_packets, 1);
		__sync_fetch_and_add(&s->c2p_bytes, bytes);
	} else {
		__sync_fetch_and_add(&s->p2c_packets, 1);
		__sync_fetch_and_add(&s->p2c_bytes, bytes);
	}
}

/* A datagram from a channel-bound peer to a relayed address becomes ChannelData to the client. */
static __always_inline int peer_to_client(struct __sk_buff *skb, const struct iphdr *ip, const struct p2c_value *v,
					  __u16 data_length)
{
	struct out_headers h;
	__u16 udp_length = sizeof(struct udphdr) + 4 + data_length;
	if (!fits(skb, v->ifindex, 4))
		return TCX_NEXT;
	write_headers(&h, ip, v->listen_ip, v->client_ip, v->listen_port, v->client_port, udp_length);
	h.channel = v->channel;
	h.length = bpf_htons(data_length);
	if (bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_NET, 0))
		return TCX_NEXT;
	if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &h, sizeof(h), BPF_F_RECOMPUTE_CSUM))
		return TCX_DROP;
	count(v->slot, 0, data_length);
	return deliver(v->ifindex);
}

/*
 * ChannelData of a bound channel from a client becomes a UDP datagram from the relayed address to the peer, or,
 * when the peer is a relayed address of this relay with a channel bound back to this relayed address, ChannelData
 * to that allocation's client.
 */
static __always_inline int client_to_peer(struct __sk_buff *skb, const struct iphdr *ip, const struct c2p_value *v,
					  __u16 data_length)
{
	struct out_headers h;
	struct p2c_key back = { .peer_ip = v->relay_ip, .relay_ip = v->peer_ip, .peer_port = v->relay_port,
				.relay_port = v->peer_port };
	struct p2c_value *other = bpf_map_lookup_elem(&p2c_v4, &back);
	if (other && other->expires_ns > bpf_ktime_get_ns()) {
		__u16 udp_length = sizeof(struct udphdr) + 4 + data_length;
		if (!fits(skb, other->ifindex, 0))
			return TCX_NEXT;
		write_headers(&h, ip, other->listen_ip, other->client_ip, other->listen_port, other->client_port,
			      udp_length);
		h.channel = other->channel;
		h.length = bpf_htons(data_length);
		if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &h, sizeof(h), BPF_F_RECOMPUTE_CSUM))
			return TCX_DROP;
		count(v->slot, 1, data_length);
		count(other->slot, 0, data_length);
		return deliver(other->ifindex);
	}
	__u16 udp_length = sizeof(struct udphdr) + data_length;
	if (!fits(skb, v->ifindex, -4))
		return TCX_NEXT;
	write_headers(&h, ip, v->relay_ip, v->peer_ip, v->relay_port, v->peer_port, udp_length);
	/* Shrinking at the network layer removes the first 4 bytes after the IP header; the 8 bytes now there
	 * (old UDP length and checksum, ChannelData header) become the new UDP header. */
	if (bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_NET, 0))
		return TCX_NEXT;
	if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &h, sizeof(struct iphdr) + sizeof(struct udphdr),
				BPF_F_RECOMPUTE_CSUM))
		return TCX_DROP;
	count(v->slot, 1, data_length);
	return deliver(v->ifindex);
}

static __always_inline int ipv4(struct __sk_buff *skb)
{
	if (bpf_skb_pull_data(skb, ETH_IP + sizeof(struct udphdr) + 4) < 0 && skb->len < ETH_IP + sizeof(struct udphdr))
		return TCX_NEXT;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = data + ETH_IP;
	if ((void *)(udp + 1) > data_end)
		return TCX_NEXT;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->version != 4 || ip->protocol != IPPROTO_UDP)
		return TCX_NEXT;
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset: a fragment */
		return TCX_NEXT;
	__u16 udp_length = bpf_ntohs(udp->len);
	if (bpf_ntohs(ip->tot_len) != IP_HEADER + udp_length || skb->len != ETH_IP + udp_length ||
	    udp_length < sizeof(struct udphdr))
		return TCX_NEXT;
	__u16 payload = udp_length - sizeof(struct udphdr);
	__u64 now = bpf_ktime_get_ns();

	struct p2c_key pk = { .peer_ip = ip->saddr, .relay_ip = ip->daddr, .peer_port = udp->source,
			      .relay_port = udp->dest };
	struct p2c_value *pv = bpf_map_lookup_elem(&p2c_v4, &pk);
	if (pv) {
		if (pv->expires_ns <= now || payload > 0xffff - IP_HEADER - sizeof(struct udphdr) - 4)
			return TCX_NEXT;
		return peer_to_client(skb, ip, pv, payload);
	}

	__u8 *cd = (void *)(udp + 1);
	if ((void *)(cd + 4) > data_end || payload < 4)
		return TCX_NEXT;
	__u16 channel = ((__u16)cd[0] << 8) | cd[1];
	__u16 length = ((__u16)cd[2] << 8) | cd[3];
	if (channel < CHANNEL_MIN || channel > CHANNEL_MAX || length + 4 != payload)
		return TCX_NEXT;
	struct c2p_key ck = { .client_ip = ip->saddr, .listen_ip = ip->daddr, .client_port = udp->source,
			      .listen_port = udp->dest, .channel = bpf_htons(channel) };
	struct c2p_value *cv = bpf_map_lookup_elem(&c2p_v4, &ck);
	if (!cv || cv->expires_ns <= now)
		return TCX_NEXT;
	return client_to_peer(skb, ip, cv, length);
}

#define CSUM_CHUNK 64
/* IPv6 datagrams are checksummed here, up to this much data; larger ones are left to userspace. */
#define CSUM_MAX_CHUNKS 24

/*
 * The IPv6 UDP checksum is computed afresh over the pseudo-header, the new headers and the data: the received
 * one cannot be updated, since a datagram sent from this host may carry only a partial checksum (CHECKSUM_PARTIAL)
 * that the stack would then check in full after the rewrite.
 */
struct pseudo6 {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 length;
	__u32 next_header;
	__u16 sport;
	__u16 dport;
	__u16 udp_length;
	__u16 check; /* 0 while summing */
	__u16 channel; /* ChannelData header (summed only when present) */
	__u16 channel_length;
};

struct out6_headers {
	struct ipv6hdr ip;
	struct udphdr udp;
	__u16 channel;
	__u16 length;
};

static __always_inline void copy6(__u32 *to, const __u32 *from)
{
	to[0] = from[0];
	to[1] = from[1];
	to[2] = from[2];
	to[3] = from[3];
}

/* Unfolded sum of `length` packet bytes from `offset` (an odd tail padded with zero); negative on error. */
static __always_inline __s64 data_sum(struct __sk_buff *skb, __u32 offset, __u32 length)
{
	__u8 buf[CSUM_CHUNK];
	__s64 sum = 0;
	for (int i = 0; i < CSUM_MAX_CHUNKS; i++) {
		__u32 done = i * CSUM_CHUNK;
		if (done >= length)
			break;
		__u32 n = length - done;
		if (n >= CSUM_CHUNK) {
			if (bpf_skb_load_bytes(skb, offset + done, buf, CSUM_CHUNK))
				return -1;
			sum = bpf_csum_diff(0, 0, (__be32 *)buf, CSUM_CHUNK, (__u32)sum);
		} else {
			__builtin_memset(buf, 0, CSUM_CHUNK);
			n &= CSUM_CHUNK - 1;
			if (n == 0 || bpf_skb_load_bytes(skb, offset + done, buf, n))
				return -1;
			__u32 words = (n + 3) & ~3u;
			if (words > CSUM_CHUNK)
				return -1;
			sum = bpf_csum_diff(0, 0, (__be32 *)buf, words, (__u32)sum);
		}
		if (sum < 0)
			return -1;
	}
	return sum;
}

/* Fills the new headers and their UDP checksum; false when the data cannot be summed (left to userspace). */
static __always_inline int headers6(struct __sk_buff *skb, struct out6_headers *h, const struct ipv6hdr *in,
				    const __u32 *saddr, const __u32 *daddr, __u16 sport, __u16 dport, __u16 channel,
				    __u32 data_offset, __u16 data_length)
{
	if (data_length > CSUM_CHUNK * CSUM_MAX_CHUNKS)
		return 0;
	__u16 udp_length = sizeof(struct udphdr) + (channel ? 4 : 0) + data_length;
	struct pseudo6 p = {};
	copy6(p.saddr, saddr);
	copy6(p.daddr, daddr);
	p.length = bpf_htonl(udp_length);
	p.next_header = bpf_htonl(IPPROTO_UDP);
	p.sport = sport;
	p.dport = dport;
	p.udp_length = bpf_htons(udp_length);
	p.channel = channel;
	p.channel_length = bpf_htons(data_length);
	__s64 sum = data_sum(skb, data_offset, data_length);
	if (sum < 0)
		return 0;
	sum = bpf_csum_diff(0, 0, (__be32 *)&p, channel ? sizeof(p) : sizeof(p) - 4, (__u32)sum);
	if (sum < 0)
		return 0;
	__u16 check = fold(sum);
	h->ip = *in;
	copy6(h->ip.saddr.in6_u.u6_addr32, saddr);
	copy6(h->ip.daddr.in6_u.u6_addr32, daddr);
	h->ip.payload_len = p.udp_length;
	h->ip.hop_limit = 64;
	h->udp.source = sport;
	h->udp.dest = dport;
	h->udp.len = p.udp_length;
	h->udp.check = check == 0 ? 0xffff : check;
	h->channel = channel;
	h->length = p.channel_length;
	return 1;
}

static __always_inline int peer_to_client6(struct __sk_buff *skb, const struct ipv6hdr *ip, const struct p2c6_value *v,
					   __u16 data_length)
{
	struct out6_headers h;
	if (!fits(skb, v->ifindex, 4))
		return TCX_NEXT;
	if (!headers6(skb, &h, ip, v->listen_ip, v->client_ip, v->listen_port, v->client_port, v->channel,
		      ETH_IP6 + sizeof(struct udphdr), data_length))
		return TCX_NEXT;
	if (bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_NET, 0))
		return TCX_NEXT;
	if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &h, sizeof(h), BPF_F_RECOMPUTE_CSUM))
		return TCX_DROP;
	count(v->slot, 0, data_length);
	return deliver(v->ifindex);
}

static __always_inline int client_to_peer6(struct __sk_buff *skb, const struct ipv6hdr *ip, const struct c2p6_value *v,
					   __u16 data_length)
{
	struct out6_headers h;
	__u32 data_offset = ETH_IP6 + sizeof(struct udphdr) + 4;
	struct p2c6_key back = { .peer_port = v->relay_port, .relay_port = v->peer_port };
	copy6(back.peer_ip, v->relay_ip);
	copy6(back.relay_ip, v->peer_ip);
	struct p2c6_value *other = bpf_map_lookup_elem(&p2c_v6, &back);
	if (other && other->expires_ns > bpf_ktime_get_ns()) {
		if (!fits(skb, other->ifindex, 0))
			return TCX_NEXT;
		if (!headers6(skb, &h, ip, other->listen_ip, other->client_ip, other->listen_port, other->client_port,
			      other->channel, data_offset, data_length))
			return TCX_NEXT;
		if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &h, sizeof(h), BPF_F_RECOMPUTE_CSUM))
			return TCX_DROP;
		count(v->slot, 1, data_length);
		count(other->slot, 0, data_length);
		return deliver(other->ifindex);
	}
	if (!fits(skb, v->ifindex, -4))
		return TCX_NEXT;
	if (!headers6(skb, &h, ip, v->relay_ip, v->peer_ip, v->relay_port, v->peer_port, 0, data_offset, data_length))
		return TCX_NEXT;
	if (bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_NET, 0))
		return TCX_NEXT;
	if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &h, sizeof(struct ipv6hdr) + sizeof(struct udphdr),
				BPF_F_RECOMPUTE_CSUM))
		return TCX_DROP;
	count(v->slot, 1, data_length);
	return deliver(v->ifindex);
}

static __always_inline int ipv6(struct __sk_buff *skb)
{
	if (bpf_skb_pull_data(skb, ETH_IP6 + sizeof(struct udphdr) + 4) < 0 && skb->len < ETH_IP6 + sizeof(struct udphdr))
		return TCX_NEXT;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip = data + sizeof(*eth);
	struct udphdr *udp = data + ETH_IP6;
	if ((void *)(udp + 1) > data_end)
		return TCX_NEXT;
	if (eth->h_proto != bpf_htons(ETH_P_IPV6) || ip->version != 6 || ip->nexthdr != IPPROTO_UDP)
		return TCX_NEXT;
	__u16 udp_length = bpf_ntohs(udp->len);
	if (bpf_ntohs(ip->payload_len) != udp_length || skb->len != ETH_IP6 + udp_length ||
	    udp_length < sizeof(struct udphdr) || udp->check == 0)
		return TCX_NEXT;
	__u16 payload = udp_length - sizeof(struct udphdr);
	__u64 now = bpf_ktime_get_ns();

	struct p2c6_key pk = { .peer_port = udp->source, .relay_port = udp->dest };
	copy6(pk.peer_ip, ip->saddr.in6_u.u6_addr32);
	copy6(pk.relay_ip, ip->daddr.in6_u.u6_addr32);
	struct p2c6_value *pv = bpf_map_lookup_elem(&p2c_v6, &pk);
	if (pv) {
		if (pv->expires_ns <= now || payload > 0xffff - sizeof(struct udphdr) - 4)
			return TCX_NEXT;
		return peer_to_client6(skb, ip, pv, payload);
	}

	__u8 *cd = (void *)(udp + 1);
	if ((void *)(cd + 4) > data_end || payload < 4)
		return TCX_NEXT;
	__u16 channel = ((__u16)cd[0] << 8) | cd[1];
	__u16 length = ((__u16)cd[2] << 8) | cd[3];
	if (channel < CHANNEL_MIN || channel > CHANNEL_MAX || length + 4 != payload)
		return TCX_NEXT;
	struct c2p6_key ck = { .client_port = udp->source, .listen_port = udp->dest, .channel = bpf_htons(channel) };
	copy6(ck.client_ip, ip->saddr.in6_u.u6_addr32);
	copy6(ck.listen_ip, ip->daddr.in6_u.u6_addr32);
	struct c2p6_value *cv = bpf_map_lookup_elem(&c2p_v6, &ck);
	if (!cv || cv->expires_ns <= now)
		return TCX_NEXT;
	return client_to_peer6(skb, ip, cv, length);
}

SEC("tc")
int anyturn_channel_data(struct __sk_buff *skb)
{
	if (skb->gso_segs > 1)
		return TCX_NEXT;
	if (skb->protocol == bpf_htons(ETH_P_IP))
		return ipv4(skb);
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return ipv6(skb);
	return TCX_NEXT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
