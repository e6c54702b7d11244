// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * anyturn's kernel fast path for UDP ChannelData (RFC 8656 §12), IPv4, attached at tc ingress (tcx) of the
 * interfaces that carry the listen and relay addresses.
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
 * the relay's sockets. Fragments, IP options, GSO packets and ChannelData with trailing bytes are left to
 * userspace too.
 *
 * Rebuilt by relay/offload/bpf/build.sh; the committed object must match (test/unit/offload/bpf-object.test.ts).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
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

SEC("tc")
int anyturn_channel_data(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(ETH_P_IP) || skb->gso_segs > 1)
		return TCX_NEXT;
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
		if (pv->expires_ns <= now || payload > 0xffff - sizeof(struct udphdr) - 4)
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

char LICENSE[] SEC("license") = "Dual MIT/GPL";
